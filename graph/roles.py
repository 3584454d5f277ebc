"""Roles: the built-ins and the custom roles Admins add; createRole, renameRole, deleteRole."""

from __future__ import annotations

import strawberry

from graph.context import Info, from_model, mutation
from graph.errors import UserError
from graph.mutations import mutate
from graph.pagination import Node, decode_id, encode_id
from graph.permissions import require_viewer
from heap import models
from heap.services import roles


@strawberry.type(name="Role", description="A set of permissions a teammate holds in Heap.")
class Role(Node):
    model: strawberry.Private[models.Role]

    name: str = from_model("name")
    built_in: bool = from_model(
        "is_builtin",
        description="Admin, Architect, Analyst and Consumer: never renamed or deleted.",
    )
    admin: bool = from_model("is_admin", description="Holders change settings, roles and teams.")


def role_node(model: models.Role) -> Role:
    return Role(id=encode_id("Role", model.id), model=model)


def list_roles(info: Info) -> list[Role]:
    session = require_viewer(info)
    return [role_node(model) for model in roles.list_roles(account=session.account)]


@strawberry.input
class CreateRoleInput:
    name: str


@strawberry.type
class CreateRolePayload:
    role: Role | None
    user_errors: list[UserError]


@strawberry.input
class RenameRoleInput:
    role_id: strawberry.ID
    name: str


@strawberry.type
class RenameRolePayload:
    role: Role | None
    user_errors: list[UserError]


@strawberry.input
class DeleteRoleInput:
    role_id: strawberry.ID


@strawberry.type
class DeleteRolePayload:
    deleted_role_id: strawberry.ID | None
    user_errors: list[UserError]


def _one(model: models.Role | None) -> Role | None:
    return None if model is None else role_node(model)


def _role_id(value: strawberry.ID) -> int:
    return decode_id(value, "Role", field="roleId")


@strawberry.type
class RoleMutations:
    @mutation(description="Add a custom role. Admins only.")
    def create_role(self, info: Info, input: CreateRoleInput) -> CreateRolePayload | None:
        return mutate(
            info,
            lambda s: roles.create(account=s.account, actor=s.actor, name=input.name),
            lambda role, errors: CreateRolePayload(role=_one(role), user_errors=errors),
        )

    @mutation(description="Rename a custom role. Admins only.")
    def rename_role(self, info: Info, input: RenameRoleInput) -> RenameRolePayload | None:
        return mutate(
            info,
            lambda s: roles.rename(
                account=s.account, actor=s.actor, role_id=_role_id(input.role_id), name=input.name
            ),
            lambda role, errors: RenameRolePayload(role=_one(role), user_errors=errors),
        )

    @mutation(
        description="Delete a custom role nobody holds that is not the SCIM default. Admins only."
    )
    def delete_role(self, info: Info, input: DeleteRoleInput) -> DeleteRolePayload | None:
        return mutate(
            info,
            lambda s: roles.delete(
                account=s.account, actor=s.actor, role_id=_role_id(input.role_id)
            ),
            lambda _, errors: DeleteRolePayload(
                deleted_role_id=None if errors else input.role_id, user_errors=errors
            ),
        )
