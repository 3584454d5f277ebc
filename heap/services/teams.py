"""Teams: edited by Admins in Heap, or pushed from an IdP group (then SCIM-managed).

Membership changes run as set-based statements (``services.memberships``): one statement per kind
of change, whatever the team's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, exists, func, literal, select

from heap import policy
from heap.actors import Actor, IdentityProvider
from heap.errors import AlreadyExists, Invalid, NotFound
from heap.extensions import db
from heap.models import Account, AuditOutcome, ScimIdentity, Team, TeamMembership, utcnow
from heap.services import audit, memberships
from heap.services.memberships import Members as Members
from heap.services.memberships import Skipped
from heap.services.scim_settings import hold_access
from heap.text import require_storable, storable
from heap.transaction import Attempt, unit_of_work

MAX_TEAM_NAME = 255
MAX_EXTERNAL_ID = 255
MAX_SCIM_ID = 36
_NO_MEMBERS: Final = Members()
# Skipped members: this account's own (deactivated) users named one by one, up to this many per
# request; for the rest, one event shows this many of their ids.
MAX_NAMED_SKIPS = 100
SKIPPED_IDS_SHOWN = 10


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
    # An id no team could have (too long, unstorable text) is simply unknown; PostgreSQL would
    # refuse to even compare a NUL-bearing string.
    plausible = len(scim_id) <= MAX_SCIM_ID and storable(scim_id)
    team = db.session.scalar(select(Team).where(Team.scim_id == scim_id)) if plausible else None
    if team is None or team.account_id != account.id:
        raise NotFound(f"No group with id {scim_id!r}.", field="id")
    return team


def find_by_name(*, account: Account, name: str) -> Team | None:
    return db.session.scalar(select(Team).where(Team.account_id == account.id, name_matches(name)))


def name_matches(name: str) -> ColumnElement[bool]:
    """Case-insensitive match on the same expression as the unique index."""
    return func.lower(Team.name) == func.lower(normalize_name(name))


def has_member_where(identity_matches: ColumnElement[bool]) -> ColumnElement[bool]:
    """A condition on ``Team``: some member's SCIM identity satisfies ``identity_matches``.

    ``identity_matches`` is a condition on ``ScimIdentity`` columns (a door's member filter);
    the members are found through the membership rows, so it is a correlated EXISTS per team.
    """
    return exists(
        select(literal(1))
        .select_from(TeamMembership)
        .join(ScimIdentity, ScimIdentity.user_id == TeamMembership.user_id)
        .where(TeamMembership.team_id == Team.id, identity_matches)
    )


@dataclass(frozen=True)
class TeamPage:
    total: int
    teams: Sequence[Team]


def page_teams(
    *,
    account: Account,
    where: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> TeamPage:
    """One page of the account's teams in a stable order (id), and how many match in all.

    ``where`` is a condition on ``Team`` (a SCIM filter compiled by the door); it can only narrow
    the account's teams, never reach another account's.
    """
    conditions = [Team.account_id == account.id]
    if where is not None:
        conditions.append(where)
    total = db.session.scalar(select(func.count()).select_from(Team).where(*conditions)) or 0
    if limit == 0:
        return TeamPage(total=total, teams=())
    query = select(Team).where(*conditions).order_by(Team.id).offset(offset).limit(limit)
    return TeamPage(total=total, teams=db.session.scalars(query).all())


@dataclass(frozen=True)
class MemberRef:
    """A member as the IdP knows them: SCIM id and userName."""

    scim_id: str
    user_name: str


def members_by_team(*, teams: Sequence[Team]) -> dict[int, list[MemberRef]]:
    """The members of several teams in one query (a page of /Groups), keyed by team id."""
    found: dict[int, list[MemberRef]] = {team.id: [] for team in teams}
    if not found:
        return found
    query = (
        select(TeamMembership.team_id, ScimIdentity.id, ScimIdentity.user_name)
        .join(ScimIdentity, ScimIdentity.user_id == TeamMembership.user_id)
        .where(TeamMembership.team_id.in_(list(found)))
        .order_by(TeamMembership.team_id, TeamMembership.user_id)
    )
    for team_id, scim_id, user_name in db.session.execute(query):
        found[team_id].append(MemberRef(scim_id=scim_id, user_name=user_name))
    return found


def create(
    *,
    account: Account,
    actor: Actor,
    name: str,
    external_id: str | None = None,
    members: Members = _NO_MEMBERS,
) -> Team:
    """A new team; created by the IdP it is SCIM-managed from the start."""
    with unit_of_work(Attempt(account.id, actor, "team.create", "team", target_label=name)):
        hold_access(account=account, actor=actor)
        policy.ensure_may_create_team(account, actor)
        name = _clean_name(name)
        external_id = _clean_external_id(external_id)
        _ensure_name_free(account=account, name=name)
        now = utcnow()
        team = Team(
            account_id=account.id,
            name=name,
            external_id=external_id,
            scim_managed=isinstance(actor, IdentityProvider),
            created_at=now,
            updated_at=now,
        )
        db.session.add(team)
        db.session.flush()
        _record(account, actor, "team.create", team)
        if members:
            skipped: dict[str, Skipped] = {}
            _add(account, actor, team, members, skipped)
            _record_skipped(account, actor, team, skipped)
    return team


def rename(*, account: Account, actor: Actor, team_id: int, name: str) -> Team:
    return _change(account, actor, _by_id(account, team_id), [Rename(name)])


def delete(
    *, account: Account, actor: Actor, team_id: int | None = None, scim_id: str | None = None
) -> None:
    """Delete a team; its users stay in Heap. The IdP deletes only teams it pushed or linked."""
    attempt = Attempt(account.id, actor, "team.delete", "team", str(team_id or scim_id))
    with unit_of_work(attempt):
        hold_access(account=account, actor=actor)
        team = (
            get(account=account, team_id=team_id)
            if team_id is not None
            else get_by_scim_id(account=account, scim_id=scim_id or "")
        )
        attempt.aim(audit.team_target(team))
        policy.ensure_may_delete_team(account, team, actor)
        _record(account, actor, "team.delete", team)
        db.session.delete(team)


def unlink(*, account: Account, actor: Actor, team_id: int) -> Team:
    """An Admin takes a team back from the IdP: members stay, it is editable in Heap again.

    Its SCIM id stays too: if the IdP still pushes the group (Okta holds that id), its next push
    links the team again, as Okta's "Link Group" would.
    """
    attempt = Attempt(account.id, actor, "team.unlink", "team", str(team_id))
    with unit_of_work(attempt):
        # The account's lock orders this against the IdP's writes, which hold it shared: an
        # IdP DELETE or push in flight finishes first, and one that starts later sees the team
        # unlinked.
        hold_access(account=account, actor=actor)
        team = get(account=account, team_id=team_id)
        attempt.aim(audit.team_target(team))
        policy.ensure_may_unlink_team(account, team, actor)
        team.scim_managed = False
        team.updated_at = utcnow()
        _record(account, actor, "team.unlink", team)
    return team


def add_members(*, account: Account, actor: Actor, team_id: int, members: Members) -> Team:
    return _change(account, actor, _by_id(account, team_id), [AddMembers(members)])


def remove_members(*, account: Account, actor: Actor, team_id: int, members: Members) -> Team:
    return _change(account, actor, _by_id(account, team_id), [RemoveMembers(members)])


def apply_changes(
    *, account: Account, actor: Actor, scim_id: str, changes: Sequence[TeamChange]
) -> Team:
    """Several changes in order, all or nothing (a SCIM PATCH or PUT on a group)."""
    return _change(account, actor, _by_scim_id(account, scim_id), changes)


@dataclass(frozen=True)
class _Lookup:
    """How a change names its team: the lookup runs inside the change's transaction, so a
    missing team is a refusal audited under the id that was asked for."""

    ref: str
    load: Callable[[], Team]


def _by_id(account: Account, team_id: int) -> _Lookup:
    return _Lookup(str(team_id), lambda: get(account=account, team_id=team_id))


def _by_scim_id(account: Account, scim_id: str) -> _Lookup:
    return _Lookup(scim_id, lambda: get_by_scim_id(account=account, scim_id=scim_id))


def _change(account: Account, actor: Actor, lookup: _Lookup, changes: Sequence[TeamChange]) -> Team:
    attempt = Attempt(account.id, actor, "team.update", "team", lookup.ref)
    with unit_of_work(attempt):
        hold_access(account=account, actor=actor)
        team = lookup.load()
        attempt.aim(audit.team_target(team))
        policy.ensure_may_edit_team(account, team, actor)
        if isinstance(actor, IdentityProvider) and not team.scim_managed:
            # Okta's "Link Group" onto an existing team: from its first push the IdP owns it.
            team.scim_managed = True
            _record(account, actor, "team.link", team)
        touched = False
        skipped: dict[str, Skipped] = {}
        for change in _coalesce(changes):
            touched = _apply(account, actor, team, change, skipped) or touched
        _record_skipped(account, actor, team, skipped)
        if touched:
            # meta.lastModified tells the IdP the membership moved; one UPDATE by primary key.
            team.updated_at = utcnow()
    return team


def _coalesce(changes: Sequence[TeamChange]) -> list[TeamChange]:
    """Merge runs of adds and runs of removes into one change each.

    Okta removes members with one operation per member (``members[value eq "..."]``, up to
    hundreds in one PATCH); merged, they cost one DELETE instead of one per member. Only adjacent
    changes of the same kind merge, so the order of adds against removes is kept.
    """
    merged: list[TeamChange] = []
    for change in changes:
        previous = merged[-1] if merged else None
        if isinstance(change, AddMembers) and isinstance(previous, AddMembers):
            merged[-1] = AddMembers(previous.members.union(change.members))
        elif isinstance(change, RemoveMembers) and isinstance(previous, RemoveMembers):
            merged[-1] = RemoveMembers(previous.members.union(change.members))
        else:
            merged.append(change)
    return merged


def _apply(
    account: Account, actor: Actor, team: Team, change: TeamChange, skipped: dict[str, Skipped]
) -> bool:
    """Apply one change; whether the membership changed. Members not added go to ``skipped``."""
    match change:
        case Rename(name=name):
            name = _clean_name(name)
            # Okta repeats the group's name with every membership push: unchanged is a no-op.
            if name != team.name:
                _ensure_name_free(account=account, name=name, except_team=team)
                old, team.name = team.name, name
                _record(account, actor, "team.rename", team, details={"from": old, "to": name})
        case SetExternalId(external_id=external_id):
            external_id = _clean_external_id(external_id)
            if external_id != team.external_id:
                team.external_id = external_id
        case AddMembers(members=members):
            return _add(account, actor, team, members, skipped)
        case RemoveMembers(members=members):
            removed = memberships.remove(account=account, team=team, members=members)
            return _record_removed(account, actor, team, removed)
        case RemoveAllMembers():
            removed = memberships.remove_all(account=account, team=team)
            return _record_removed(account, actor, team, removed)
        case ReplaceMembers(members=members):
            removed = memberships.remove_all(account=account, team=team, keep=members)
            removed_any = _record_removed(account, actor, team, removed)
            added_any = _add(account, actor, team, members, skipped)
            return removed_any or added_any
    return False


def _add(
    account: Account, actor: Actor, team: Team, members: Members, skipped: dict[str, Skipped]
) -> bool:
    """Add the active users of this account among ``members``; the rest go to ``skipped``."""
    found = memberships.eligible(account=account, members=members)
    skipped.update((skip.ref, skip) for skip in found.skipped)
    added = memberships.add(account=account, team=team, user_ids=found.user_ids)
    if added:
        _record(account, actor, "team.add_members", team, details={"added": added})
    return added > 0


def _record_skipped(
    account: Account, actor: Actor, team: Team, skipped: dict[str, Skipped]
) -> None:
    """Who a request named but was not added, in a bounded number of audit events.

    This account's deactivated teammates get an event each, under their SCIM id and email, so
    "why is ada@ not in the team?" finds it (up to ``MAX_NAMED_SKIPS`` per request). Every other
    id (unknown, another organisation's) goes into one event with the count and the first few
    ids: a push of 80,000 stale ids must not write 80,000 rows.
    """
    named = [skip for skip in skipped.values() if skip.email is not None][:MAX_NAMED_SKIPS]
    audit.record_all(
        [
            audit.event(
                account.id,
                actor,
                "team.add_member",
                audit.Target("user", skip.ref, skip.email),
                outcome=AuditOutcome.SKIPPED,
                reason=(
                    f"Not added to team {team.name!r}: no active user with this id in this account."
                ),
                details={"team": team.scim_id},
            )
            for skip in named
        ]
    )
    shown = {skip.ref for skip in named}
    rest = sorted(ref for ref in skipped if ref not in shown)
    if rest:
        _record(
            account,
            actor,
            "team.add_member",
            team,
            outcome=AuditOutcome.SKIPPED,
            reason=(
                f"{len(rest)} id(s) named no active user of this account and were not added to "
                f"team {team.name!r}."
            ),
            details={"skipped": len(rest), "first": rest[:SKIPPED_IDS_SHOWN]},
        )


def _record_removed(account: Account, actor: Actor, team: Team, removed: int) -> bool:
    if removed:
        _record(account, actor, "team.remove_members", team, details={"removed": removed})
    return removed > 0


def _record(
    account: Account,
    actor: Actor,
    action: str,
    team: Team,
    details: dict[str, Any] | None = None,
    *,
    outcome: AuditOutcome = AuditOutcome.APPLIED,
    reason: str | None = None,
) -> None:
    audit.record(
        account.id,
        actor,
        action,
        audit.team_target(team),
        outcome=outcome,
        reason=reason,
        details=details,
    )


def _clean_name(name: str) -> str:
    name = normalize_name(require_storable(name, "name"))
    if not name:
        raise Invalid("A team needs a name.", field="name")
    if len(name) > MAX_TEAM_NAME:
        raise Invalid(f"Team names are at most {MAX_TEAM_NAME} characters.", field="name")
    return name


def _clean_external_id(value: str | None) -> str | None:
    if value is None:
        return None
    require_storable(value, "externalId")
    if len(value) > MAX_EXTERNAL_ID:
        raise Invalid(
            f"externalId is longer than {MAX_EXTERNAL_ID} characters.", field="externalId"
        )
    return value


def _ensure_name_free(*, account: Account, name: str, except_team: Team | None = None) -> None:
    # The database's lower(), as the unique index uses: Python's folds more than SQLite's, so a
    # rename it calls "only a case change" could still collide with another team.
    holder = find_by_name(account=account, name=name)
    if holder is not None and holder is not except_team:
        raise AlreadyExists(f"A team named {name!r} already exists.", field="name")
