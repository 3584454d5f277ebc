"""Housekeeping commands: revoke a SCIM token by prefix; prune the audit log and old tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from heap import tokens
from heap.actors import Member, Operator
from heap.errors import Forbidden, Invalid
from heap.extensions import db
from heap.models import AuditEvent, ScimToken, utcnow
from heap.services import housekeeping
from tests.factories import (
    AccountFactory,
    AuditEventFactory,
    ScimTokenFactory,
    UserFactory,
    scim_account,
)


def _run(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def _ok(app: Flask, *args: str) -> str:
    result = _run(app, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    return result.stdout


def _refused(app: Flask, *args: str) -> str:
    result = _run(app, *args)
    assert (result.exit_code, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def _status(app: Flask, token: str) -> int:
    response = app.test_client().get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_revoke_token_by_prefix_stops_it_at_once_and_keeps_the_others(app: Flask) -> None:
    account, old = scim_account(name="Umbrella")
    new = str(ScimTokenFactory.create(account=account).raw)
    assert (_status(app, old), _status(app, new)) == (200, 200)

    prefix = tokens.visible_prefix(old)
    out = _ok(app, "scim", "revoke-token", "Umbrella", prefix)
    assert out == f"Revoked SCIM token {prefix} of Umbrella.\n"
    assert (_status(app, old), _status(app, new)) == (401, 200)
    [event] = _events("scim.revoke_token")
    assert (event.account_id, event.target_label, event.actor_kind) == (
        account.id,
        prefix,
        "operator",
    )

    assert "already revoked" in _refused(app, "scim", "revoke-token", "Umbrella", prefix)
    # The whole token names its prefix too.
    _ok(app, "scim", "revoke-token", str(account.id), new)
    assert _status(app, new) == 401


def test_revoke_token_refuses_what_it_cannot_name(app: Flask) -> None:
    scim_account(name="Umbrella")
    _, other_token = scim_account(name="Globex")
    assert "heapscim_" in _refused(app, "scim", "revoke-token", "Umbrella", "abc")
    assert "no SCIM token" in _refused(
        app, "scim", "revoke-token", "Umbrella", tokens.visible_prefix(other_token)
    )
    assert "No account" in _refused(app, "scim", "revoke-token", "Nobody", "heapscim_abcdef")
    assert _status(app, other_token) == 200


def test_audit_prune_deletes_only_old_events_in_batches_and_says_so(app: Flask) -> None:
    acme, globex = AccountFactory.create(name="Acme"), AccountFactory.create(name="Globex")
    old = utcnow() - timedelta(days=91)
    for account, count in ((acme, 3), (globex, 2)):
        AuditEventFactory.create_batch(count, account=account, occurred_at=old)
    recent = AuditEventFactory.create(account=acme, occurred_at=utcnow() - timedelta(days=89))
    kept_ids = {recent.id}

    deleted = housekeeping.prune_audit(actor=Operator(), older_than_days=90, batch_size=2)

    assert deleted == 5
    remaining = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert {e.id for e in remaining if e.action != "audit.prune"} == kept_ids
    pruned = {e.account_id: e.details for e in remaining if e.action == "audit.prune"}
    assert pruned == {
        acme.id: {"deleted": 3, "older_than_days": 90},
        globex.id: {"deleted": 2, "older_than_days": 90},
    }


def test_audit_prune_command_prints_the_count(app: Flask) -> None:
    account = AccountFactory.create(name="Acme")
    AuditEventFactory.create_batch(4, account=account, occurred_at=utcnow() - timedelta(days=40))
    assert _ok(app, "audit", "prune", "--older-than", "30") == (
        "Deleted 4 audit events older than 30 days.\n"
    )
    assert _ok(app, "audit", "prune", "--older-than", "30") == (
        "Deleted 0 audit events older than 30 days.\n"
    )
    assert "at least 1 day" in _refused(app, "audit", "prune", "--older-than", "0")


def test_prune_tokens_deletes_only_long_revoked_ones(app: Flask) -> None:
    account, live = scim_account(name="Acme")
    long_ago = utcnow() - timedelta(days=120)
    ScimTokenFactory.create(account=account, revoked_at=long_ago)
    ScimTokenFactory.create(account=account, revoked_at=utcnow() - timedelta(days=1))
    out = _ok(app, "scim", "prune-tokens", "--older-than", "90")
    assert out == "Deleted 1 SCIM tokens revoked more than 90 days ago.\n"
    assert db.session.scalar(select(func.count()).select_from(ScimToken)) == 2
    assert _status(app, live) == 200
    [event] = _events("scim.prune_tokens")
    assert event.details == {"deleted": 1, "older_than_days": 90}


def test_only_operators_prune(app: Flask) -> None:
    admin = UserFactory.create()
    AuditEventFactory.create(account=admin.account, occurred_at=utcnow() - timedelta(days=400))
    with pytest.raises(Forbidden):
        housekeeping.prune_audit(actor=Member(admin), older_than_days=1)
    with pytest.raises(Forbidden):
        housekeeping.prune_revoked_tokens(actor=Member(admin), older_than_days=1)
    with pytest.raises(Invalid):
        housekeeping.prune_audit(actor=Operator(), older_than_days=-5)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1
