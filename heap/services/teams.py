"""Teams: edited by Admins in Heap, or pushed from an IdP group (then SCIM-managed).

Membership changes are set-based: one statement per kind of change, whatever the team's size, so
adding 100 people to a 10,000-member team costs what adding them to a 10-member team does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects import postgresql, sqlite

from heap import policy
from heap.actors import Actor, IdentityProvider
from heap.errors import AlreadyExists, Invalid, NotFound
from heap.extensions import db, execute_counting
from heap.models import Account, AuditOutcome, ScimIdentity, Team, TeamMembership, User, utcnow
from heap.services import audit
from heap.transaction import Attempt, unit_of_work

MAX_TEAM_NAME = 255
# Bound parameters per statement stay well under SQLite's and PostgreSQL's limits.
_CHUNK = 5000

T = TypeVar("T")


@dataclass(frozen=True)
class Members:
    """People named by Heap user id (the front end) or by SCIM id (the IdP)."""

    user_ids: Collection[int] = ()
    scim_ids: Collection[str] = ()

    def __bool__(self) -> bool:
        return bool(self.user_ids or self.scim_ids)


@dataclass(frozen=True)
class Rename:
    name: str


@dataclass(frozen=True)
class AddMembers:
    members: Members


@dataclass(frozen=True)
class RemoveMembers:
    members: Members


@dataclass(frozen=True)
class RemoveAllMembers:
    pass


@dataclass(frozen=True)
class ReplaceMembers:
    members: Members


@dataclass(frozen=True)
class SetExternalId:
    external_id: str | None


TeamChange = Rename | AddMembers | RemoveMembers | RemoveAllMembers | ReplaceMembers | SetExternalId


def normalize_name(name: str) -> str:
    """The stored form of a team name: whitespace runs folded, ends trimmed."""
    return " ".join(name.split())


def get(*, account: Account, team_id: int, field: str = "teamId") -> Team:
    team = db.session.get(Team, team_id)
    if team is None or team.account_id != account.id:
        raise NotFound("No such team in this account.", field=field)
    return team


def get_by_scim_id(*, account: Account, scim_id: str) -> Team:
    team = db.session.scalar(select(Team).where(Team.scim_id == scim_id))
    if team is None or team.account_id != account.id:
        raise NotFound(f"No group with id {scim_id!r}.", field="id")
    return team


def find_by_name(*, account: Account, name: str) -> Team | None:
    return db.session.scalar(select(Team).where(Team.account_id == account.id, name_matches(name)))


def name_matches(name: str) -> ColumnElement[bool]:
    """Case-insensitive match on the same expression as the unique index."""
    return func.lower(Team.name) == func.lower(normalize_name(name))


def list_teams(*, account: Account) -> Sequence[Team]:
    query = select(Team).where(Team.account_id == account.id).order_by(Team.id)
    return db.session.scalars(query).all()


def count_members(*, team: Team) -> int:
    query = select(func.count()).where(TeamMembership.team_id == team.id)
    return db.session.scalar(query) or 0


def create(
    *,
    account: Account,
    actor: Actor,
    name: str,
    external_id: str | None = None,
    members: Members = Members(),
) -> Team:
    """A new team; created by the IdP it is SCIM-managed from the start."""
    name = _clean_name(name)
    with unit_of_work(Attempt(account.id, actor, "team.create", "team", target_label=name)):
        policy.ensure_may_create_team(account, actor)
        _ensure_name_free(account=account, name=name)
        team = Team(
            account_id=account.id,
            name=name,
            external_id=external_id,
            scim_managed=isinstance(actor, IdentityProvider),
        )
        db.session.add(team)
        db.session.flush()
        audit.record(
            account_id=account.id,
            actor=actor,
            action="team.create",
            target_kind="team",
            target_id=team.scim_id,
            target_label=name,
        )
        if members:
            _add(account, actor, team, members)
    return team


def rename(*, account: Account, actor: Actor, team_id: int, name: str) -> Team:
    return _change(account, actor, get(account=account, team_id=team_id), [Rename(name)])


def delete(
    *, account: Account, actor: Actor, team_id: int | None = None, scim_id: str | None = None
) -> None:
    """Delete a team; its users stay in Heap."""
    with unit_of_work(Attempt(account.id, actor, "team.delete", "team", str(team_id or scim_id))):
        team = (
            get(account=account, team_id=team_id)
            if team_id is not None
            else get_by_scim_id(account=account, scim_id=scim_id or "")
        )
        policy.ensure_may_edit_team(account, team, actor)
        audit.record(
            account_id=account.id,
            actor=actor,
            action="team.delete",
            target_kind="team",
            target_id=team.scim_id,
            target_label=team.name,
        )
        db.session.delete(team)


def add_members(*, account: Account, actor: Actor, team_id: int, members: Members) -> Team:
    return _change(account, actor, get(account=account, team_id=team_id), [AddMembers(members)])


def remove_members(*, account: Account, actor: Actor, team_id: int, members: Members) -> Team:
    team = get(account=account, team_id=team_id)
    return _change(account, actor, team, [RemoveMembers(members)])


def apply_changes(
    *, account: Account, actor: Actor, scim_id: str, changes: Sequence[TeamChange]
) -> Team:
    """Several changes in order, all or nothing (a SCIM PATCH or PUT on a group)."""
    return _change(account, actor, get_by_scim_id(account=account, scim_id=scim_id), changes)


def _change(account: Account, actor: Actor, team: Team, changes: Sequence[TeamChange]) -> Team:
    with unit_of_work(Attempt(account.id, actor, "team.update", "team", team.scim_id, team.name)):
        policy.ensure_may_edit_team(account, team, actor)
        if isinstance(actor, IdentityProvider) and not team.scim_managed:
            # Okta's "Link Group" onto an existing team: from its first push the IdP owns it.
            team.scim_managed = True
            audit.record(
                account_id=account.id,
                actor=actor,
                action="team.link",
                target_kind="team",
                target_id=team.scim_id,
                target_label=team.name,
            )
        for change in changes:
            _apply(account, actor, team, change)
    return team


def _apply(account: Account, actor: Actor, team: Team, change: TeamChange) -> None:
    match change:
        case Rename(name=name):
            name = _clean_name(name)
            # Okta repeats the group's name with every membership push: unchanged is a no-op.
            if name != team.name:
                if name.lower() != team.name.lower():
                    _ensure_name_free(account=account, name=name)
                old, team.name = team.name, name
                audit.record(
                    account_id=account.id,
                    actor=actor,
                    action="team.rename",
                    target_kind="team",
                    target_id=team.scim_id,
                    target_label=name,
                    details={"from": old, "to": name},
                )
        case SetExternalId(external_id=external_id):
            team.external_id = external_id
        case AddMembers(members=members):
            _add(account, actor, team, members)
        case RemoveMembers(members=members):
            _remove(account, actor, team, members)
        case RemoveAllMembers():
            _remove_all(account, actor, team)
        case ReplaceMembers(members=members):
            _remove_all(account, actor, team, keep=members)
            _add(account, actor, team, members)


def _add(account: Account, actor: Actor, team: Team, members: Members) -> None:
    eligible = _eligible_user_ids(account, actor, team, members)
    added = 0
    now = utcnow()
    for chunk in _chunks(eligible):
        rows = select(literal(team.id), User.id, literal(now)).where(User.id.in_(chunk))
        statement = _insert_membership().from_select(["team_id", "user_id", "added_at"], rows)
        # Idempotent and race-free: a member added meanwhile by a parallel request is skipped.
        added += execute_counting(statement.on_conflict_do_nothing())
    if added:
        audit.record(
            account_id=account.id,
            actor=actor,
            action="team.add_members",
            target_kind="team",
            target_id=team.scim_id,
            target_label=team.name,
            details={"added": added},
        )


def _remove(account: Account, actor: Actor, team: Team, members: Members) -> None:
    removed = 0
    for query in _member_user_id_queries(account, members):
        statement = sql_delete(TeamMembership).where(
            TeamMembership.team_id == team.id, TeamMembership.user_id.in_(query)
        )
        removed += execute_counting(statement)
    if removed:
        audit.record(
            account_id=account.id,
            actor=actor,
            action="team.remove_members",
            target_kind="team",
            target_id=team.scim_id,
            target_label=team.name,
            details={"removed": removed},
        )


def _remove_all(account: Account, actor: Actor, team: Team, keep: Members | None = None) -> None:
    statement = sql_delete(TeamMembership).where(TeamMembership.team_id == team.id)
    if keep:
        for query in _member_user_id_queries(account, keep):
            statement = statement.where(TeamMembership.user_id.not_in(query))
    removed = execute_counting(statement)
    if removed:
        audit.record(
            account_id=account.id,
            actor=actor,
            action="team.remove_members",
            target_kind="team",
            target_id=team.scim_id,
            target_label=team.name,
            details={"removed": removed},
        )


def _eligible_user_ids(account: Account, actor: Actor, team: Team, members: Members) -> list[int]:
    """Active users of this account among those named; the rest are skipped and audited."""
    found: dict[str, int] = {}
    for query in _member_refs_queries(account, members):
        found.update((str(ref), user_id) for ref, user_id in db.session.execute(query))
    requested = [str(ref) for ref in (*members.user_ids, *members.scim_ids)]
    skipped = sorted(set(requested) - found.keys())
    for ref in skipped:
        audit.record(
            account_id=account.id,
            actor=actor,
            action="team.add_member",
            target_kind="user",
            target_id=ref,
            outcome=AuditOutcome.SKIPPED,
            reason=f"Not added to team {team.name!r}: no active user with this id in this account.",
            details={"team": team.scim_id},
        )
    return sorted(set(found.values()))


def _member_refs_queries(account: Account, members: Members) -> list[Select[Any, int]]:
    active = (User.account_id == account.id, User.deactivated_at.is_(None))
    queries: list[Select[Any, int]] = []
    for id_chunk in _chunks(sorted(members.user_ids)):
        queries.append(select(User.id, User.id).where(User.id.in_(id_chunk), *active))
    for ref_chunk in _chunks(sorted(members.scim_ids)):
        queries.append(
            select(ScimIdentity.id, User.id)
            .join(User, User.id == ScimIdentity.user_id)
            .where(ScimIdentity.id.in_(ref_chunk), *active)
        )
    return queries


def _member_user_id_queries(account: Account, members: Members) -> list[Select[int]]:
    queries: list[Select[int]] = []
    for id_chunk in _chunks(sorted(members.user_ids)):
        queries.append(select(User.id).where(User.id.in_(id_chunk), User.account_id == account.id))
    for ref_chunk in _chunks(sorted(members.scim_ids)):
        queries.append(
            select(ScimIdentity.user_id).where(
                ScimIdentity.id.in_(ref_chunk), ScimIdentity.account_id == account.id
            )
        )
    return queries


def _insert_membership() -> postgresql.Insert | sqlite.Insert:
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(TeamMembership)
    return sqlite.insert(TeamMembership)


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK)]


def _clean_name(name: str) -> str:
    name = normalize_name(name)
    if not name:
        raise Invalid("A team needs a name.", field="name")
    if len(name) > MAX_TEAM_NAME:
        raise Invalid(f"Team names are at most {MAX_TEAM_NAME} characters.", field="name")
    return name


def _ensure_name_free(*, account: Account, name: str) -> None:
    if find_by_name(account=account, name=name) is not None:
        raise AlreadyExists(f"A team named {name!r} already exists.", field="name")
