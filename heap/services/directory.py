"""Read-only views of an account for the front end: pages of users, teams and audit events.

Every function here costs a fixed number of SQL statements whatever the page size: a page is
one keyset query plus one count, and its related rows (roles, SCIM identities, teams, members)
come in one extra query per kind, for the whole page at once. Pages are keyset-paginated on the
primary key, so page 500 costs what page 1 does and rows added meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import selectinload

from heap.extensions import db
from heap.models import (
    Account,
    AuditEvent,
    AuditOutcome,
    Role,
    ScimToken,
    Team,
    TeamMembership,
    User,
)
from heap.text import storable

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


class UserStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows in key order; ``total`` counts every row the filters match."""

    items: Sequence[T]
    total: int
    has_next: bool


@dataclass(frozen=True)
class UserFilter:
    role_id: int | None = None
    team_id: int | None = None
    status: UserStatus | None = None
    search: str | None = None


def page_size(first: int | None) -> int:
    """The number of rows a page may hold: never negative, never above ``MAX_PAGE_SIZE``."""
    return max(0, min(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE if first is None else first))


def _users_loaded() -> Any:
    # Role and SCIM identity ride along with every user: one SELECT ... IN per page each.
    return (selectinload(User.role), selectinload(User.scim_identity))


def list_users(
    *,
    account: Account,
    first: int | None = None,
    after_id: int | None = None,
    filters: UserFilter = UserFilter(),
) -> Page[User]:
    """The account's users matching ``filters``, in id order, after ``after_id``."""
    limit = page_size(first)
    conditions = _user_conditions(account, filters)
    total = db.session.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    query = select(User).where(*conditions)
    if after_id is not None:
        query = query.where(User.id > after_id)
    rows = db.session.scalars(
        query.options(*_users_loaded()).order_by(User.id).limit(limit + 1)
    ).all()
    return Page(items=rows[:limit], total=total, has_next=len(rows) > limit)


def _user_conditions(account: Account, filters: UserFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [User.account_id == account.id]
    if filters.role_id is not None:
        conditions.append(User.role_id == filters.role_id)
    if filters.team_id is not None:
        members = select(TeamMembership.user_id).where(TeamMembership.team_id == filters.team_id)
        conditions.append(User.id.in_(members))
    if filters.status is UserStatus.ACTIVE:
        conditions.append(User.is_active.expression)
    elif filters.status is UserStatus.DEACTIVATED:
        conditions.append(~User.is_active)
    term = (filters.search or "").strip().lower()
    if not storable(term):
        # No stored text holds a NUL or a lone surrogate (the cleaners refuse both), and
        # PostgreSQL would refuse the query.
        conditions.append(false())
    elif term:
        # autoescape: a "%" or "_" typed into the search box matches itself, not everything.
        columns = (User.email, User.given_name, User.family_name, User.display_name)
        matches = [func.lower(column).contains(term, autoescape=True) for column in columns]
        full_name = func.lower(User.given_name + " " + User.family_name)
        conditions.append(or_(*matches, full_name.contains(term, autoescape=True)))
    return conditions


def users_by_ids(*, account: Account, user_ids: Collection[int]) -> dict[int, User]:
    """The account's users among ``user_ids`` (others silently absent), eagerly loaded."""
    if not user_ids:
        return {}
    query = select(User).where(User.account_id == account.id, User.id.in_(sorted(user_ids)))
    return {user.id: user for user in db.session.scalars(query.options(*_users_loaded()))}


def teams_of_users(*, user_ids: Collection[int]) -> dict[int, list[Team]]:
    """Each user's teams, by name, for a whole page of users in one query."""
    found: dict[int, list[Team]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return found
    query = (
        select(TeamMembership.user_id, Team)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(TeamMembership.user_id.in_(sorted(user_ids)))
        .order_by(func.lower(Team.name), Team.id)
    )
    for user_id, team in db.session.execute(query):
        found[user_id].append(team)
    return found


def list_teams(
    *,
    account: Account,
    first: int | None = None,
    after_id: int | None = None,
    search: str | None = None,
) -> Page[Team]:
    limit = page_size(first)
    conditions: list[ColumnElement[bool]] = [Team.account_id == account.id]
    term = (search or "").strip().lower()
    if not storable(term):
        conditions.append(false())
    elif term:
        conditions.append(func.lower(Team.name).contains(term, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(Team).where(*conditions)) or 0
    query = select(Team).where(*conditions)
    if after_id is not None:
        query = query.where(Team.id > after_id)
    rows = db.session.scalars(query.order_by(Team.id).limit(limit + 1)).all()
    return Page(items=rows[:limit], total=total, has_next=len(rows) > limit)


def member_counts(*, team_ids: Collection[int]) -> dict[int, int]:
    """How many members each team has, for a whole page of teams in one grouped query."""
    counts = dict.fromkeys(team_ids, 0)
    if not team_ids:
        return counts
    query = (
        select(TeamMembership.team_id, func.count())
        .where(TeamMembership.team_id.in_(sorted(team_ids)))
        .group_by(TeamMembership.team_id)
    )
    counts.update((team_id, count) for team_id, count in db.session.execute(query))
    return counts


def team_members(
    *, team_ids: Collection[int], first: int | None = None, after_user_id: int | None = None
) -> dict[int, Page[User]]:
    """The first members (by user id) of every team in ``team_ids``, in one windowed query.

    ``ROW_NUMBER() OVER (PARTITION BY team)`` keeps the cost of a page of teams independent of
    how large the teams are: a 10,000-member team contributes ``first + 1`` rows, not 10,000.
    """
    limit = page_size(first)
    counts = member_counts(team_ids=team_ids)
    pages: dict[int, list[User]] = {team_id: [] for team_id in team_ids}
    if team_ids:
        position = (
            func.row_number()
            .over(partition_by=TeamMembership.team_id, order_by=TeamMembership.user_id)
            .label("position")
        )
        ranked: Select[Any] = select(
            TeamMembership.team_id, TeamMembership.user_id, position
        ).where(TeamMembership.team_id.in_(sorted(team_ids)))
        if after_user_id is not None:
            ranked = ranked.where(TeamMembership.user_id > after_user_id)
        window = ranked.subquery()
        query = (
            select(window.c.team_id, User)
            .join(User, User.id == window.c.user_id)
            .where(window.c.position <= limit + 1)
            .order_by(window.c.team_id, window.c.position)
            .options(*_users_loaded())
        )
        for team_id, user in db.session.execute(query):
            pages[team_id].append(user)
    return {
        team_id: Page(items=users[:limit], total=counts[team_id], has_next=len(users) > limit)
        for team_id, users in pages.items()
    }


def list_events(
    *,
    account: Account,
    first: int | None = None,
    before_id: int | None = None,
    target: str | None = None,
    outcome: AuditOutcome | None = None,
) -> Page[AuditEvent]:
    """The account's audit events, newest first, before ``before_id``.

    ``target`` answers "why is this user not in Heap?": it matches an event's target id or its
    label (an email, a team name), whole and ignoring case, so a refused provisioning, recorded
    under the email Okta sent, is found by that email.
    """
    limit = page_size(first)
    conditions: list[ColumnElement[bool]] = [AuditEvent.account_id == account.id]
    term = (target or "").strip()
    if not storable(term):
        conditions.append(false())
    elif term:
        # Ids are matched as stored (ours are lowercase UUIDs and numbers), labels ignoring case:
        # both sides of the OR then use an index on (account_id, ...).
        conditions.append(
            or_(
                AuditEvent.target_id == term.lower(),
                func.lower(AuditEvent.target_label) == func.lower(term),
            )
        )
    if outcome is not None:
        conditions.append(AuditEvent.outcome == outcome.value)
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    query = select(AuditEvent).where(*conditions)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
    return Page(items=rows[:limit], total=total, has_next=len(rows) > limit)


def find_user(*, account: Account, user_id: int) -> User | None:
    return users_by_ids(account=account, user_ids=[user_id]).get(user_id)


def find_team(*, account: Account, team_id: int) -> Team | None:
    query = select(Team).where(and_(Team.account_id == account.id, Team.id == team_id))
    return db.session.scalar(query)


def find_role(*, account: Account, role_id: int) -> Role | None:
    query = select(Role).where(Role.account_id == account.id, Role.id == role_id)
    return db.session.scalar(query)


def find_token(*, account: Account, token_id: int) -> ScimToken | None:
    query = select(ScimToken).where(ScimToken.account_id == account.id, ScimToken.id == token_id)
    return db.session.scalar(query)
