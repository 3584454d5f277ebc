"""SCIM users as reads show them: plain values read as columns, not loaded objects.

The ORM's loading of an identity, its user and their role (and teams) cost more than the rest of
a single-user GET together, and a page multiplies it by its size. Reads that only show users
(GET /Users/{id}, the /Users pages and filters) select the columns below and build
``UserRecord``s; what loaded the objects anyway (a write's answer) makes one from them
(``UserRecord.of``), and a create, which has none, from the values it inserted
(``lifecycle.NewUser.record``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, RowMapping, Select, select

from heap.models import Role, ScimIdentity, Team, TeamMembership, User


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A SCIM User as shown: its identity's and its user's values, and its role's name."""

    id: str
    user_name: str
    external_id: str | None
    idp_managed: bool
    extra: Mapping[str, Any]
    email: str
    given_name: str
    family_name: str
    display_name: str | None
    active: bool
    # ``ScimIdentity.heap_role_name``: the role's name, else (a tombstone) the IdP's last value.
    heap_role_name: str | None
    created_at: datetime
    last_modified: datetime
    teams: Sequence[TeamShown] = ()

    @classmethod
    def of(cls, identity: ScimIdentity, teams: Iterable[Team] = ()) -> UserRecord:
        user = identity.user
        return cls(
            id=identity.id,
            user_name=identity.user_name,
            external_id=identity.external_id,
            idp_managed=identity.idp_managed,
            extra=identity.extra or {},
            email=user.email,
            given_name=user.given_name,
            family_name=user.family_name,
            display_name=user.display_name,
            active=user.is_active,
            heap_role_name=identity.heap_role_name,
            created_at=identity.created_at,
            last_modified=identity.last_modified,
            teams=[TeamShown(team.scim_id, team.name) for team in teams],
        )


class TeamShown(NamedTuple):
    """A team as a User resource's ``groups`` shows it."""

    scim_id: str
    name: str


_COLUMNS = (
    ScimIdentity.id,
    ScimIdentity.user_name,
    ScimIdentity.external_id,
    ScimIdentity.idp_managed,
    ScimIdentity.idp_role,
    ScimIdentity.extra,
    ScimIdentity.created_at,
    ScimIdentity.updated_at,
    User.email,
    User.given_name,
    User.family_name,
    User.display_name,
    User.deactivated_at,
    User.updated_at.label("user_updated_at"),
    Role.name.label("role_name"),
)
_TEAM_COLUMNS = (Team.scim_id.label("team_id"), Team.name.label("team_name"))


def select_records(*, with_teams: bool) -> Select[Any]:
    """What a ``UserRecord`` is built from: identities joined to their users and roles; with
    ``with_teams``, one row per team of the user (one for none), which the caller orders by
    ``lifecycle.TEAM_ORDER`` after its own order. The caller adds the WHERE.

    The joins are written out flat: nested, ``LEFT JOIN (team_memberships JOIN teams)`` (as an
    eager load through the memberships table writes it), SQLite answers by materialising every
    membership of every team (4 ms of a 10 ms GET at 1,000 users); flat, each step is an index
    lookup.
    """
    query = (
        select(*_COLUMNS)
        .select_from(ScimIdentity)
        .join(User, User.id == ScimIdentity.user_id)
        .outerjoin(Role, Role.id == User.role_id)
    )
    if not with_teams:
        return query
    return (
        query.add_columns(*_TEAM_COLUMNS)
        .outerjoin(TeamMembership, TeamMembership.user_id == User.id)
        .outerjoin(Team, Team.id == TeamMembership.team_id)
    )


def records(rows: Iterable[Row[Any]], *, with_teams: bool) -> list[UserRecord]:
    """One record per identity, in the order of its first row (``select_records``' rows).

    Read by key through each row's mapping: a Row's attributes cost more than twice as much
    (300 records built in 2.05 ms by attribute, 0.88 ms by key, on SQLite here).
    """
    firsts: dict[str, RowMapping] = {}
    teams: dict[str, list[TeamShown]] = {}
    for row in rows:
        values = row._mapping
        scim_id = values["id"]
        firsts.setdefault(scim_id, values)
        shown = teams.setdefault(scim_id, [])
        if with_teams and values["team_id"] is not None:
            shown.append(TeamShown(values["team_id"], values["team_name"]))
    return [record(values, teams[scim_id]) for scim_id, values in firsts.items()]


def record(values: Mapping[Any, Any], teams: Sequence[TeamShown] = ()) -> UserRecord:
    """A user shown from plain values, named as ``select_records`` labels its columns: a row
    read, or the values a create just inserted (``lifecycle.NewUser.record``)."""
    return UserRecord(
        id=values["id"],
        user_name=values["user_name"],
        external_id=values["external_id"],
        idp_managed=values["idp_managed"],
        extra=values["extra"] or {},
        email=values["email"],
        given_name=values["given_name"],
        family_name=values["family_name"],
        display_name=values["display_name"],
        active=values["deactivated_at"] is None,
        heap_role_name=ScimIdentity.shown_role(values["role_name"], values["idp_role"]),
        created_at=values["created_at"],
        last_modified=max(values["updated_at"], values["user_updated_at"]),
        teams=teams,
    )
