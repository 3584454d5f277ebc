"""The audit log: every change, skip and refusal, answering "why is this user not in Heap?".

Reading it, page by page and by target, is ``directory.list_events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, insert, inspect
from sqlalchemy.orm.exc import ObjectDeletedError

from heap.actors import Actor, Member
from heap.extensions import db, execute_core
from heap.models import (
    Account,
    AuditEvent,
    AuditOutcome,
    Role,
    ScimToken,
    Team,
    User,
    utcnow,
)
from heap.text import repaired


@dataclass(frozen=True)
class Target:
    """What an event is about, as the activity log is searched: by id or label."""

    kind: str
    id: str | int | None = None
    label: str | None = None


@dataclass(frozen=True)
class Who:
    """An actor as the audit log records it, read while the actor's rows are at hand: a refusal
    is written after the rollback, when the acting teammate may have been deleted meanwhile."""

    kind: str
    id: str | None
    label: str


def who(actor: Actor) -> Who:
    try:
        return Who(actor.kind, actor.id, actor.label)
    except ObjectDeletedError:
        # Only a teammate can be gone: a refusal earlier in the same request rolled back, which
        # expired them, and they were deleted before this call read them again.
        key = inspect(actor.user).identity if isinstance(actor, Member) else None
        return Who(actor.kind, None if key is None else str(key[0]), _DELETED_ACTOR)


_DELETED_ACTOR = "a teammate deleted meanwhile"


def user_target(user: User) -> Target:
    """A teammate by SCIM id and email, for successes and refusals alike: the front end asks
    "why is ada@ not in Heap?" by either."""
    return Target("user", user.scim_identity.id, user.email)


def account_target(account: Account) -> Target:
    return Target("account", account.id, account.name)


def team_target(team: Team) -> Target:
    return Target("team", team.scim_id, team.name)


def role_target(role: Role) -> Target:
    return Target("role", role.id, role.name)


def token_target(token: ScimToken) -> Target:
    """A token by its prefix: the only part of it anyone ever sees again."""
    return Target("scim_token", token.id, token.prefix)


def record(
    account_id: int,
    actor: Actor | Who,
    action: str,
    target: Target | None = None,
    *,
    outcome: AuditOutcome = AuditOutcome.APPLIED,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write an event in the current transaction; it commits or rolls back with the change."""
    record_all([event(account_id, actor, action, target, outcome, reason, details)])


def record_all(events: Sequence[dict[str, Any]]) -> None:
    """Write ``event`` rows in the current transaction, in one statement.

    A table insert, now, not an object left for the ORM's flush: an event is written once and
    never changed, and the flush's bookkeeping cost more than the insert on Okta's create.
    """
    if events:
        execute_core(_INSERT, list(events))
        note_written(events)


# The session's info holds, under this key, the event rows its open transaction wrote: what
# happened, for whoever counts it once the commit succeeded (ops.metrics, which also drops them
# at a rollback). heap/ knows nothing of metrics; it only says what it wrote.
WRITTEN = "heap.audit_events_written"


def note_written(events: Sequence[dict[str, Any]]) -> None:
    """Note ``event`` rows this transaction inserted (``record_all`` does; so does a statement
    that writes an event beside its change, ``lifecycle.create_user``)."""
    db.session.info.setdefault(WRITTEN, []).extend(events)


def event(
    account_id: int,
    actor: Actor | Who,
    action: str,
    target: Target | None = None,
    outcome: AuditOutcome = AuditOutcome.APPLIED,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One event's row, for ``record_all``.

    Its text is cut to fit its columns, whatever a request sent: ids and labels often come
    from the request (a SCIM id in the URL, a userName), PostgreSQL refuses a value longer than
    its column or holding NUL, and a refusal whose audit row cannot be written is a refusal
    nobody can find.
    """
    target_id = None if target is None or target.id is None else str(target.id)
    return {
        "account_id": account_id,
        "occurred_at": utcnow(),
        "actor_kind": _fit("actor_kind", actor.kind),
        "actor_id": _fit("actor_id", actor.id),
        "actor_label": _fit("actor_label", actor.label),
        "action": _fit("action", action),
        "target_kind": _fit("target_kind", None if target is None else target.kind),
        "target_id": _fit("target_id", target_id),
        "target_label": _fit("target_label", None if target is None else target.label),
        "outcome": outcome.value,
        "reason": _fit("reason", reason),
        "details": details,
    }


_EVENTS = AuditEvent.metadata.tables[AuditEvent.__tablename__]
_INSERT = insert(_EVENTS)


def _fit(column: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = repaired(value)
    column_type = _EVENTS.c[column].type
    length = column_type.length if isinstance(column_type, String) else None
    return value[:length] if length else value
