"""Team membership as set-based statements, for ``services.teams``.

One statement per kind of change (per chunk of ids), whatever the team's size, so adding 100
people to a 10,000-member team costs what adding them to a 10-member team does. Everything here
runs inside the caller's ``unit_of_work``; the caller writes the audit events.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Select, bindparam, literal, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects import postgresql, sqlite

from heap.extensions import db, execute_counting
from heap.models import Account, ScimIdentity, Team, TeamMembership, User, utcnow
from heap.text import repaired, storable

# Bound parameters per statement stay well under SQLite's and PostgreSQL's limits.
_CHUNK = 5000
# No SCIM id is longer; a longer or unstorable one names nobody and never reaches the database.
_MAX_SCIM_ID = 36
# What the audit log's target_id holds.
_MAX_REF = 64

T = TypeVar("T")


@dataclass(frozen=True)
class Members:
    """People named by Heap user id (the front end) or by SCIM id (the IdP)."""

    user_ids: Collection[int] = ()
    scim_ids: Collection[str] = ()

    def __bool__(self) -> bool:
        return bool(self.user_ids or self.scim_ids)

    def union(self, other: Members) -> Members:
        return Members(
            user_ids=tuple(dict.fromkeys((*self.user_ids, *other.user_ids))),
            scim_ids=tuple(dict.fromkeys((*self.scim_ids, *other.scim_ids))),
        )


@dataclass(frozen=True)
class Skipped:
    """A named member who is not an active user of the account, as the audit log shows them.

    ``ref`` is the SCIM id when the account knows the person (a deactivated teammate, named by
    either id) and the id as sent otherwise; ``email`` only for the account's own users, so an
    id from another organization reveals nothing.
    """

    ref: str
    email: str | None = None


@dataclass(frozen=True)
class Eligible:
    user_ids: Sequence[int]
    skipped: Sequence[Skipped]


def eligible(*, account: Account, members: Members) -> Eligible:
    """The active users of this account among ``members``, and who was skipped.

    The users' rows are share-locked (FOR SHARE on PostgreSQL; SQLite's writer lock already
    serializes), so a deactivation running at the same time waits for this transaction, or has
    committed and the user is skipped: a deactivated user never ends up in a team.
    """
    found: dict[str, int] = {}
    for query in _active_refs_queries(account, members):
        found.update((str(ref), user_id) for ref, user_id in db.session.execute(query))
    missing_user_ids = sorted(uid for uid in set(members.user_ids) if str(uid) not in found)
    missing_scim_ids = sorted(sid for sid in set(members.scim_ids) if sid not in found)
    skipped = _describe(account, missing_user_ids, missing_scim_ids)
    return Eligible(user_ids=sorted(set(found.values())), skipped=skipped)


def add(*, account: Account, team: Team, user_ids: Sequence[int]) -> int:
    """Insert the memberships of this account's active users that do not exist yet; how many
    were new. The condition is repeated here so that only an active user is ever inserted."""
    added = 0
    now = utcnow()
    for chunk in _chunks(user_ids):
        rows = select(literal(team.id), User.id, literal(now)).where(
            User.id.in_(chunk), User.account_id == account.id, User.is_active
        )
        statement = _insert_membership().from_select(["team_id", "user_id", "added_at"], rows)
        # Idempotent and race-free: a member added meanwhile by a parallel request is skipped.
        # Counted through RETURNING: SQLAlchemy reports rowcount -1 for an INSERT on psycopg.
        inserted = statement.on_conflict_do_nothing().returning(TeamMembership.user_id)
        added += len(db.session.execute(inserted).all())
    return added


def remove(*, account: Account, team: Team, members: Members) -> int:
    """Delete the named members' memberships; how many there were."""
    # Ids first, then a DELETE on the primary key (team_id, user_id) with literal ids: with the
    # ids as a subquery, PostgreSQL on stale statistics joined all 10,000 memberships against
    # the identities (9.6 s for 100 removals); this plan cannot go wrong that way.
    user_ids = sorted(
        {
            user_id
            for query in _user_id_queries(account, members)
            for user_id in db.session.scalars(query)
        }
    )
    removed = 0
    for chunk in _chunks(user_ids):
        statement = sql_delete(TeamMembership).where(
            TeamMembership.team_id == _this_team(team), TeamMembership.user_id.in_(chunk)
        )
        removed += execute_counting(statement)
    return removed


def remove_all(*, account: Account, team: Team, keep: Members | None = None) -> int:
    """Delete every membership but those of ``keep``; how many went."""
    statement = sql_delete(TeamMembership).where(TeamMembership.team_id == _this_team(team))
    if keep:
        for query in _user_id_queries(account, keep):
            statement = statement.where(TeamMembership.user_id.not_in(query))
    return execute_counting(statement)


def _this_team(team: Team) -> BindParameter[int]:
    """The team's id written into the statement, not bound as a parameter.

    psycopg prepares a statement on its fifth run, and PostgreSQL may then plan it once for
    every value of a parameter (a generic plan) from an average team's size. For a team holding
    most of the account (an "everyone" group) that plan reads all its memberships: removing 100
    of a 100,000-member team took 523 ms instead of 6 ms (bench/scale.py). Written in, the id
    gets a plan for that team.
    """
    return bindparam("team_id", team.id, literal_execute=True)


def _describe(
    account: Account, missing_user_ids: Sequence[int], missing_scim_ids: Sequence[str]
) -> list[Skipped]:
    """The skipped, named by SCIM id and email where they are this account's (deactivated) users.

    One query per chunk of skipped ids, so a push full of stale ids still costs set statements.
    """
    known: dict[str, Skipped] = {}
    for id_chunk in _chunks(missing_user_ids):
        by_user_id = (
            select(User.id, ScimIdentity.id, User.email)
            .join(ScimIdentity, ScimIdentity.user_id == User.id)
            .where(User.id.in_(id_chunk), User.account_id == account.id)
        )
        for user_id, scim_id, email in db.session.execute(by_user_id):
            known[str(user_id)] = Skipped(ref=scim_id, email=email)
    for ref_chunk in _chunks(_plausible(missing_scim_ids)):
        by_scim_id = (
            select(ScimIdentity.id, User.email)
            .join(User, User.id == ScimIdentity.user_id)
            .where(ScimIdentity.id.in_(ref_chunk), ScimIdentity.account_id == account.id)
        )
        for scim_id, email in db.session.execute(by_scim_id):
            known[scim_id] = Skipped(ref=scim_id, email=email)
    refs = [*map(str, missing_user_ids), *missing_scim_ids]
    return sorted(
        (known.get(ref, Skipped(ref=_loggable(ref))) for ref in refs), key=lambda skip: skip.ref
    )


def _plausible(scim_ids: Sequence[str]) -> list[str]:
    """The ids an identity could have: PostgreSQL refuses to even compare a NUL-bearing one."""
    return [sid for sid in scim_ids if len(sid) <= _MAX_SCIM_ID and storable(sid)]


def _loggable(ref: str) -> str:
    """An unknown id as the audit log can hold it."""
    return repaired(ref)[:_MAX_REF]


def _active_refs_queries(account: Account, members: Members) -> list[Select[Any, int]]:
    """(ref as named, user id) of the active users of this account among ``members``."""
    active = (User.account_id == account.id, User.is_active)
    queries: list[Select[Any, int]] = []
    for id_chunk in _chunks(sorted(members.user_ids)):
        queries.append(
            select(User.id, User.id)
            .where(User.id.in_(id_chunk), *active)
            .with_for_update(read=True)
        )
    for ref_chunk in _chunks(_plausible(sorted(members.scim_ids))):
        # The account is checked on the identity, not the user: PostgreSQL then starts from the
        # named identities and joins users by primary key, instead of scanning the account's
        # users (0.7 ms instead of 2-9 ms for 100 ids among 11,000 users).
        queries.append(
            select(ScimIdentity.id, User.id)
            .join(User, User.id == ScimIdentity.user_id)
            .where(
                ScimIdentity.id.in_(ref_chunk),
                ScimIdentity.account_id == account.id,
                User.is_active,
            )
            .with_for_update(read=True, of=User)
        )
    return queries


def _user_id_queries(account: Account, members: Members) -> list[Select[int]]:
    """The user ids of this account's users (in any state) among ``members``."""
    queries: list[Select[int]] = []
    for id_chunk in _chunks(sorted(members.user_ids)):
        queries.append(select(User.id).where(User.id.in_(id_chunk), User.account_id == account.id))
    for ref_chunk in _chunks(_plausible(sorted(members.scim_ids))):
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
