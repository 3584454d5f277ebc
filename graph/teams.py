"""Teams: the Team type, the teams connection, and the team mutations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import strawberry

from graph.context import Info, field, from_model, mutation
from graph.errors import UserError, reasons
from graph.mutations import mutate
from graph.pagination import (
    FIRST_DESCRIPTION,
    Connection,
    Node,
    check_first,
    decode_cursor,
    decode_id,
    encode_id,
)
from graph.pagination import connection as make_connection
from graph.permissions import require_viewer
from graph.users import User, user_nodes
from heap import models, policy
from heap.errors import ErrorCode, Invalid
from heap.services import directory, teams
from heap.services.directory import MAX_PAGE_SIZE, Page

First = Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)]


class TeamBatch:
    """Teams shown together (a page): member counts and member pages are read for all at once."""

    def __init__(self, team_models: Sequence[models.Team]) -> None:
        self._ids = [team.id for team in team_models]
        self._counts: dict[int, int] | None = None
        self._members: dict[tuple[int | None, int | None], dict[int, Connection[User]]] = {}

    def member_count(self, team_id: int) -> int:
        if self._counts is None:
            self._counts = directory.member_counts(team_ids=self._ids)
        return self._counts[team_id]

    def members(self, team_id: int, first: int | None, after_id: int | None) -> Connection[User]:
        key = (first, after_id)
        if key not in self._members:
            pages = directory.team_members(team_ids=self._ids, first=first, after_user_id=after_id)
            # One UserBatch for every member shown, so their own teams cost one more query.
            every = [member for page in pages.values() for member in page.items]
            nodes = iter(user_nodes(every))
            self._members[key] = {
                team: _members_connection(page, [next(nodes) for _ in page.items], after_id)
                for team, page in pages.items()
            }
        return self._members[key][team_id]


def _members_connection(
    page: Page[models.User], nodes: list[User], after_id: int | None
) -> Connection[User]:
    return make_connection(page, key=lambda m: m.id, to_node=lambda _: nodes, after=after_id)


@strawberry.type(
    name="Team", description="A team of teammates; SCIM-managed when pushed by the IdP."
)
class Team(Node):
    model: strawberry.Private[models.Team]
    batch: strawberry.Private[TeamBatch]

    name: str = from_model("name")
    scim_managed: bool = from_model(
        "scim_managed",
        description="Linked to an identity provider group: name and members change there only.",
    )
    external_id: str | None = from_model(
        "external_id", description="The group's id in the identity provider, if it sent one."
    )
    created_at: datetime = from_model("created_at")

    @strawberry.field
    def member_count(self) -> int:
        return self.batch.member_count(self.model.id)

    @field(description="Members, in the order they joined Heap.")
    def members(self, first: First = None, after: str | None = None) -> Connection[User]:
        return self.batch.members(self.model.id, check_first(first), decode_cursor(after))

    @field(
        description="Why the viewer may not rename, delete or change members; empty if they may."
    )
    def viewer_cannot_manage_members_reasons(self, info: Info) -> list[ErrorCode]:
        return _cannot_edit(info, self.model)

    @strawberry.field
    def viewer_can_manage_members(self, info: Info) -> bool:
        return not _cannot_edit(info, self.model)


def _cannot_edit(info: Info, team: models.Team) -> list[ErrorCode]:
    """The refusals heap.policy would give a rename, delete or membership change of ``team``."""
    s = require_viewer(info)
    return reasons(lambda: policy.ensure_may_edit_team(s.account, team, s.actor))


def team_nodes(team_models: Sequence[models.Team]) -> list[Team]:
    batch = TeamBatch(team_models)
    return [Team(id=encode_id("Team", team.id), model=team, batch=batch) for team in team_models]


def teams_connection(
    info: Info, first: int | None, after: str | None, search: str | None
) -> Connection[Team]:
    s = require_viewer(info)
    after_id = decode_cursor(after)
    page = directory.list_teams(
        account=s.account, first=check_first(first), after_id=after_id, search=search
    )
    return make_connection(page, key=lambda m: m.id, to_node=team_nodes, after=after_id)


def _one(team: models.Team | None) -> Team | None:
    return team_nodes([team])[0] if team is not None else None


def _team_id(value: strawberry.ID) -> int:
    return decode_id(value, "Team", field="teamId")


def _members(user_ids: list[strawberry.ID]) -> teams.Members:
    if len(user_ids) > MAX_PAGE_SIZE:
        raise Invalid(f"Send at most {MAX_PAGE_SIZE} users at a time.", field="userIds")
    ids = [decode_id(value, "User", field=f"userIds.{i}") for i, value in enumerate(user_ids)]
    return teams.Members(user_ids=ids)


@strawberry.input
class CreateTeamInput:
    name: str
    user_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description=f"First members, at most {MAX_PAGE_SIZE}."
    )


@strawberry.type
class CreateTeamPayload:
    team: Team | None
    user_errors: list[UserError]


@strawberry.input
class RenameTeamInput:
    team_id: strawberry.ID
    name: str


@strawberry.type
class RenameTeamPayload:
    team: Team | None
    user_errors: list[UserError]


@strawberry.input
class DeleteTeamInput:
    team_id: strawberry.ID


@strawberry.type
class DeleteTeamPayload:
    deleted_team_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.input
class UnlinkTeamInput:
    team_id: strawberry.ID


@strawberry.type
class UnlinkTeamPayload:
    team: Team | None
    user_errors: list[UserError]


@strawberry.input
class AddTeamMembersInput:
    team_id: strawberry.ID
    user_ids: list[strawberry.ID] = strawberry.field(
        description=f"At most {MAX_PAGE_SIZE}; users not active in this account are skipped."
    )


@strawberry.type
class AddTeamMembersPayload:
    team: Team | None
    user_errors: list[UserError]


@strawberry.input
class RemoveTeamMembersInput:
    team_id: strawberry.ID
    user_ids: list[strawberry.ID] = strawberry.field(description=f"At most {MAX_PAGE_SIZE}.")


@strawberry.type
class RemoveTeamMembersPayload:
    team: Team | None
    user_errors: list[UserError]


@strawberry.type
class TeamMutations:
    @mutation(description="Create a team. Admins only.")
    def create_team(self, info: Info, input: CreateTeamInput) -> CreateTeamPayload | None:
        return mutate(
            info,
            lambda s: teams.create(
                account=s.account, actor=s.actor, name=input.name, members=_members(input.user_ids)
            ),
            lambda team, errors: CreateTeamPayload(team=_one(team), user_errors=errors),
        )

    @mutation(description="Rename a team. Refused (TEAM_SCIM_MANAGED) if SCIM-managed.")
    def rename_team(self, info: Info, input: RenameTeamInput) -> RenameTeamPayload | None:
        return mutate(
            info,
            lambda s: teams.rename(
                account=s.account, actor=s.actor, team_id=_team_id(input.team_id), name=input.name
            ),
            lambda team, errors: RenameTeamPayload(team=_one(team), user_errors=errors),
        )

    @mutation(description="Delete a team; its users stay. Refused if SCIM-managed.")
    def delete_team(self, info: Info, input: DeleteTeamInput) -> DeleteTeamPayload | None:
        return mutate(
            info,
            lambda s: teams.delete(
                account=s.account, actor=s.actor, team_id=_team_id(input.team_id)
            ),
            lambda _, errors: DeleteTeamPayload(
                deleted_team_id=None if errors else input.team_id, user_errors=errors
            ),
        )

    @mutation(
        description="Take a team back from the identity provider: members stay, and its name "
        "and members are editable in Heap again. Admins only; TEAM_NOT_LINKED if not linked. "
        "The identity provider's next push to the group links it again, so unlink it there "
        "too (Okta: Push Groups > Unlink pushed group > leave the group in the app)."
    )
    def unlink_team(self, info: Info, input: UnlinkTeamInput) -> UnlinkTeamPayload | None:
        return mutate(
            info,
            lambda s: teams.unlink(
                account=s.account, actor=s.actor, team_id=_team_id(input.team_id)
            ),
            lambda team, errors: UnlinkTeamPayload(team=_one(team), user_errors=errors),
        )

    @mutation(description="Add members (idempotent). Refused if SCIM-managed.")
    def add_team_members(
        self, info: Info, input: AddTeamMembersInput
    ) -> AddTeamMembersPayload | None:
        return mutate(
            info,
            lambda s: teams.add_members(
                account=s.account,
                actor=s.actor,
                team_id=_team_id(input.team_id),
                members=_members(input.user_ids),
            ),
            lambda team, errors: AddTeamMembersPayload(team=_one(team), user_errors=errors),
        )

    @mutation(description="Remove members. Refused if SCIM-managed.")
    def remove_team_members(
        self, info: Info, input: RemoveTeamMembersInput
    ) -> RemoveTeamMembersPayload | None:
        return mutate(
            info,
            lambda s: teams.remove_members(
                account=s.account,
                actor=s.actor,
                team_id=_team_id(input.team_id),
                members=_members(input.user_ids),
            ),
            lambda team, errors: RemoveTeamMembersPayload(team=_one(team), user_errors=errors),
        )
