"""The audit log: every change, skip and refusal, answering "why is this user not in Heap?".

Reading it, page by page and by target, is ``directory.list_events``.
"""

from __future__ import annotations

from typing import Any

from heap.actors import Actor
from heap.extensions import db
from heap.models import AuditEvent, AuditOutcome


def record(
    *,
    account_id: int,
    actor: Actor,
    action: str,
    target_kind: str | None = None,
    target_id: str | int | None = None,
    target_label: str | None = None,
    outcome: AuditOutcome = AuditOutcome.APPLIED,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an event to the current transaction; it commits or rolls back with the change."""
    event = AuditEvent(
        account_id=account_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        target_kind=target_kind,
        target_id=None if target_id is None else str(target_id),
        target_label=target_label,
        outcome=outcome.value,
        reason=reason,
        details=details,
    )
    db.session.add(event)
    return event
