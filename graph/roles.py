"""Roles: the built-ins and the custom roles Admins add; createRole, renameRole, deleteRole."""

from __future__ import annotations

import strawberry

from graph.context import Info, field, mutation
from graph.errors import UserError, attempt
from graph.pagination import Node, decode_id, encode_id
from graph.permissions import require_viewer
from heap import models
from heap.services import roles


@strawberry.type(name="Role", description="A set of permissions a teammate holds in Heap.")
class Role(Node):
    model: strawberry.Private[models.Role]

    @strawberry.field
    def name(self) -> str:
        return self.model.name

    @field(description="Admin, Architect, Analyst and Consumer: never renamed or deleted.")
    def built_in(self) -> bool:
        return self.model.is_builtin

    @field(description="Holders change settings, roles and teams.")
    def admin(self) -> bool:
        return self.model.is_admin


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


@strawberry.type
class RoleMutations:
    @mutation(description="Add a custom role. Admins only.")
    def create_role(self, info: Info, input: CreateRoleInput) -> CreateRolePayload | None:
        s = require_viewer(info)
        role, errors = attempt(
            info, lambda: roles.create(account=s.account, actor=s.actor, name=input.name)
        )
        return CreateRolePayload(role=None if role is None else role_node(role), user_errors=errors)

    @mutation(description="Rename a custom role. Admins only.")
    def rename_role(self, info: Info, input: RenameRoleInput) -> RenameRolePayload | None:
        s = require_viewer(info)
        role, errors = attempt(
            info,
            lambda: roles.rename(
                account=s.account,
                actor=s.actor,
                role_id=decode_id(input.role_id, "Role", field="roleId"),
                name=input.name,
            ),
        )
        return RenameRolePayload(role=None if role is None else role_node(role), user_errors=errors)

    @mutation(
        description="Delete a custom role nobody holds that is not the SCIM default. Admins only."
    )
    def delete_role(self, info: Info, input: DeleteRoleInput) -> DeleteRolePayload | None:
        s = require_viewer(info)
        _, errors = attempt(
            info,
            lambda: roles.delete(
                account=s.account,
                actor=s.actor,
                role_id=decode_id(input.role_id, "Role", field="roleId"),
            ),
        )
        return DeleteRolePayload(
            deleted_role_id=None if errors else input.role_id, user_errors=errors
        )
