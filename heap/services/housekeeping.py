"""Operator housekeeping: revoke a SCIM token by its visible prefix; prune the audit log and
long-revoked SCIM tokens. Each is audited in the accounts it touched.

Pruning is set-based and batched: each batch deletes at most ``PRUNE_BATCH`` rows by primary key in
its own short transaction, oldest first (by the ``occurred_at`` index), so it holds no lock for
long and runs beside live traffic; new events are never in its range.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from heap import policy, tokens
from heap.actors import Actor
from heap.errors import Invalid, NotFound, TokenRevoked
from heap.extensions import db
from heap.models import Account, AuditEvent, ScimToken, utcnow
from heap.services import audit, scim_settings
from heap.transaction import unit_of_work

PRUNE_BATCH = 1000


def revoke_scim_token(*, account: Account, actor: Actor, prefix: str) -> ScimToken:
    """Revoke the account's active token shown as ``prefix`` (a whole token works too)."""
    return scim_settings.revoke_token(
        account=account, actor=actor, token_id=_token_id_by_prefix(account, prefix)
    )


def _token_id_by_prefix(account: Account, prefix: str) -> int:
    prefix = prefix.strip()
    shown = tokens.VISIBLE_PREFIX_LENGTH
    if not prefix.startswith(tokens.SCIM_TOKEN_PREFIX) or len(prefix) < shown:
        raise Invalid(
            f"Give the token's prefix as Heap shows it: {tokens.SCIM_TOKEN_PREFIX} and the "
            f"{tokens.VISIBLE_PREFIX_LENGTH - len(tokens.SCIM_TOKEN_PREFIX)} characters after it.",
            field="prefix",
        )
    prefix = tokens.visible_prefix(prefix)
    found = db.session.scalars(
        select(ScimToken).where(ScimToken.account_id == account.id, ScimToken.prefix == prefix)
    ).all()
    active = [token for token in found if token.revoked_at is None]
    if len(active) == 1:
        return active[0].id
    if len(active) > 1:
        raise Invalid(
            f"{len(active)} active tokens of {account.name} start with {prefix}; revoke them "
            "in Heap (Account settings > SCIM), where each has its own id.",
            field="prefix",
        )
    if found:
        raise TokenRevoked(f"The SCIM token {prefix} of {account.name} is already revoked.")
    raise NotFound(f"{account.name} has no SCIM token starting with {prefix}.", field="prefix")


def prune_audit(*, actor: Actor, older_than_days: int, batch_size: int = PRUNE_BATCH) -> int:
    """Delete audit events older than ``older_than_days``; returns how many went."""
    policy.ensure_operator(actor)
    cutoff = _cutoff(older_than_days)
    deleted: Counter[int] = Counter()
    while True:
        with unit_of_work():
            ids = db.session.scalars(
                select(AuditEvent.id)
                .where(AuditEvent.occurred_at < cutoff)
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
                .limit(batch_size)
            ).all()
            if ids:
                deleted.update(
                    db.session.scalars(
                        delete(AuditEvent)
                        .where(AuditEvent.id.in_(ids))
                        .returning(AuditEvent.account_id)
                        .execution_options(synchronize_session=False)
                    ).all()
                )
        if len(ids) < batch_size:
            break
    _record_per_account(actor, "audit.prune", deleted, older_than_days)
    return deleted.total()


def prune_revoked_tokens(*, actor: Actor, older_than_days: int) -> int:
    """Delete SCIM tokens revoked more than ``older_than_days`` ago; returns how many went.

    A revoked token never authenticates again; kept forever, rotated tokens only lengthen the
    token list. The audit events that name a token keep its prefix as their label.
    """
    policy.ensure_operator(actor)
    cutoff = _cutoff(older_than_days)
    with unit_of_work():
        deleted: Counter[int] = Counter(
            db.session.scalars(
                delete(ScimToken)
                .where(ScimToken.revoked_at.is_not(None), ScimToken.revoked_at < cutoff)
                .returning(ScimToken.account_id)
                .execution_options(synchronize_session=False)
            ).all()
        )
    _record_per_account(actor, "scim.prune_tokens", deleted, older_than_days)
    return deleted.total()


def _cutoff(older_than_days: int) -> datetime:
    if older_than_days < 1:
        raise Invalid("The age must be at least 1 day.", field="older_than")
    return utcnow() - timedelta(days=older_than_days)


def _record_per_account(
    actor: Actor, action: str, deleted: Counter[int], older_than_days: int
) -> None:
    """One event per account touched, saying how many rows went, so each account's log shows
    that (and when) it was pruned."""
    if not deleted:
        return
    with unit_of_work():
        audit.record_all(
            [
                audit.event(
                    account_id,
                    actor,
                    action,
                    audit.Target("account", account_id),
                    details={"deleted": count, "older_than_days": older_than_days},
                )
                for account_id, count in sorted(deleted.items())
            ]
        )
