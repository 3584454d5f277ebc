"""Teammates: the User type, the users connection, inviteUser, removeUser, updateUserRole."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.context import Info, field, from_model, mutation
from graph.errors import PublicError, TopLevelCode, UserError
from graph.mutations import mutate
from graph.pagination import (
    Connection,
    Node,
    check_first,
    decode_cursor,
    decode_id,
    encode_id,
)
from graph.pagination import connection as make_connection
from graph.permissions import require_viewer
from graph.roles import Role, role_node
from heap import models, policy
from heap.errors import ErrorCode, HeapError
from heap.services import directory, users

if TYPE_CHECKING:
    from graph.teams import Team

strawberry.enum(directory.UserStatus, name="UserStatus")


class UserBatch:
    """Users shown together (a page): their teams are read once, for all of them."""

    def __init__(self, members: Sequence[models.User]) -> None:
        self._ids = [member.id for member in members]
        self._teams: dict[int, list[Team]] | None = None

    def teams_of(self, user_id: int) -> list[Team]:
        if self._teams is None:
            from graph.teams import team_nodes

            by_user = directory.teams_of_users(user_ids=self._ids)
            distinct = {team.id: team for teams in by_user.values() for team in teams}
            nodes = {node.model.id: node for node in team_nodes(list(distinct.values()))}
            self._teams = {
                member: [nodes[team.id] for team in teams] for member, teams in by_user.items()
            }
        return self._teams[user_id]


@strawberry.type(name="User", description="A teammate, active or deactivated.")
class User(Node):
    model: strawberry.Private[models.User]
    batch: strawberry.Private[UserBatch]

    email: str = from_model("email", description="The login email.")
    given_name: str = from_model("given_name")
    family_name: str = from_model("family_name")

    @field(description="The display name, else given and family name, else the email.")
    def name(self) -> str:
        return self.model.display_name or self.model.full_name or self.model.email

    @strawberry.field
    def status(self) -> directory.UserStatus:
        active = self.model.is_active
        return directory.UserStatus.ACTIVE if active else directory.UserStatus.DEACTIVATED

    @field(description="The Heap role; null while deactivated.")
    def role(self) -> Role | None:
        return None if self.model.role is None else role_node(self.model.role)

    @field(description="Teams the user belongs to, by name.")
    def teams(self) -> list[Annotated[Team, strawberry.lazy("graph.teams")]]:
        return self.batch.teams_of(self.model.id)

    @field(description="True once the identity provider created or linked this user over SCIM.")
    def scim_managed(self) -> bool:
        return self.model.scim_identity.idp_managed

    @field(description="The user's SCIM id, as the identity provider knows it.")
    def scim_id(self) -> str:
        return self.model.scim_identity.id

    @field(description="The last Heap Role value the identity provider sent.")
    def idp_role(self) -> str | None:
        return self.model.scim_identity.idp_role

    created_at: datetime = from_model("created_at")

    @field(description="Why the viewer may not remove this user; empty if they may.")
    def viewer_cannot_remove_reasons(self, info: Info) -> list[ErrorCode]:
        return _cannot_remove(info, self.model)

    @strawberry.field
    def viewer_can_remove(self, info: Info) -> bool:
        return not _cannot_remove(info, self.model)


def _cannot_remove(info: Info, member: models.User) -> list[ErrorCode]:
    """The refusals heap.policy would give ``users.remove`` for this user, without trying it."""
    s = require_viewer(info)
    refusals = policy.removal_refusals(
        s.account, s.actor, member, active_admins=info.context.active_admins
    )
    return [refusal.code for refusal in refusals]


def user_nodes(members: Sequence[models.User]) -> list[User]:
    batch = UserBatch(members)
    return [User(id=encode_id("User", member.id), model=member, batch=batch) for member in members]


@strawberry.input(description="Narrow the user list; all conditions must hold.")
class UserFilter:
    role_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    status: directory.UserStatus | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the email, given, family or display name."
    )


def _filter_id(value: strawberry.ID | None, type_name: str, field: str) -> int | None:
    if value is None:
        return None
    try:
        return decode_id(value, type_name, field=field)
    except HeapError as error:
        raise PublicError(error.message, code=TopLevelCode.BAD_USER_INPUT) from error


def users_connection(
    info: Info, first: int | None, after: str | None, filter: UserFilter | None
) -> Connection[User]:
    s = require_viewer(info)
    wanted = filter or UserFilter()
    filters = directory.UserFilter(
        role_id=_filter_id(wanted.role_id, "Role", "roleId"),
        team_id=_filter_id(wanted.team_id, "Team", "teamId"),
        status=wanted.status,
        search=wanted.search,
    )
    after_id = decode_cursor(after)
    page = directory.list_users(
        account=s.account, first=check_first(first), after_id=after_id, filters=filters
    )
    return make_connection(page, key=lambda m: m.id, to_node=user_nodes, after=after_id)


@strawberry.input
class InviteUserInput:
    email: str
    role_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the SCIM default role, else Analyst."
    )
    given_name: str = ""
    family_name: str = ""


@strawberry.type
class InviteUserPayload:
    user: User | None
    user_errors: list[UserError]


@strawberry.input
class RemoveUserInput:
    user_id: strawberry.ID


@strawberry.type
class RemoveUserPayload:
    removed_user_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.input
class UpdateUserRoleInput:
    user_id: strawberry.ID
    role_id: strawberry.ID


@strawberry.type
class UpdateUserRolePayload:
    user: User | None
    user_errors: list[UserError]


def _one(member: models.User | None) -> User | None:
    return user_nodes([member])[0] if member is not None else None


def _user_id(value: strawberry.ID) -> int:
    return decode_id(value, "User", field="userId")


def _role_id(value: strawberry.ID) -> int:
    return decode_id(value, "Role", field="roleId")


@strawberry.type
class UserMutations:
    @mutation(description="Add a teammate. Admins only; refused (SCIM_MANAGED) while SCIM is on.")
    def invite_user(self, info: Info, input: InviteUserInput) -> InviteUserPayload | None:
        return mutate(
            info,
            lambda s: users.invite(
                account=s.account,
                actor=s.actor,
                email=input.email,
                role_id=None if input.role_id is None else _role_id(input.role_id),
                given_name=input.given_name,
                family_name=input.family_name,
            ),
            lambda member, errors: InviteUserPayload(user=_one(member), user_errors=errors),
        )

    @mutation(
        description="Delete a teammate. Admins only; refused (SCIM_MANAGED) while SCIM is on."
    )
    def remove_user(self, info: Info, input: RemoveUserInput) -> RemoveUserPayload | None:
        return mutate(
            info,
            lambda s: users.remove(
                account=s.account, actor=s.actor, user_id=_user_id(input.user_id)
            ),
            lambda _, errors: RemoveUserPayload(
                removed_user_id=None if errors else input.user_id, user_errors=errors
            ),
        )

    @mutation(description="Change a teammate's role. Admins only; allowed while SCIM is on.")
    def update_user_role(
        self, info: Info, input: UpdateUserRoleInput
    ) -> UpdateUserRolePayload | None:
        return mutate(
            info,
            lambda s: users.change_role(
                account=s.account,
                actor=s.actor,
                user_id=_user_id(input.user_id),
                role_id=_role_id(input.role_id),
            ),
            lambda member, errors: UpdateUserRolePayload(user=_one(member), user_errors=errors),
        )
