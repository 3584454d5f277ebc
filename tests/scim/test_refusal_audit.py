"""Refusals are audited whatever the request sent, and errors never carry SQL parameters."""

# factory-boy factories are untyped (see the tests.factories override in pyproject.toml).
# mypy: disable-error-code="no-untyped-call,attr-defined"

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from heap.errors import AlreadyExists
from heap.extensions import db
from heap.models import AuditEvent, AuditOutcome, ScimToken
from heap.transaction import unit_of_work
from tests.factories import UserFactory, scim_account


def _refusals() -> list[AuditEvent]:
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.outcome == AuditOutcome.REFUSED.value)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def test_a_refusal_for_an_over_long_id_is_audited_cut_to_the_column(client: FlaskClient) -> None:
    """Seen on PostgreSQL: 404, and no refusal row, as the id did not fit in 64 characters."""
    account, token = scim_account()
    long_id = "u" * 80
    response = client.delete(
        f"/scim/v2/Users/{long_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    [refusal] = _refusals()
    assert (refusal.account_id, refusal.action, refusal.target_id) == (
        account.id,
        "user.delete",
        long_id[:64],
    )
    assert refusal.reason is not None and refusal.reason.startswith("NOT_FOUND: ")


def test_a_refusal_for_an_id_holding_nul_is_audited_with_a_replacement_character(
    client: FlaskClient,
) -> None:
    _, token = scim_account()
    response = client.delete(
        "/scim/v2/Groups/abc%00def", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    [refusal] = _refusals()
    assert (refusal.action, refusal.target_id) == ("team.delete", "abc\ufffddef")


def test_a_failed_statement_never_shows_its_parameters(client: FlaskClient) -> None:
    """A failed statement's ERROR log line used to carry its values, token labels among them."""
    account, _ = scim_account()
    taken = db.session.scalars(select(ScimToken.token_hash)).one()
    row = {
        "account_id": account.id,
        "prefix": "heapscim_SeCrEt",
        "token_hash": taken,
        "created_by": "ada@example.com",
    }
    with pytest.raises(IntegrityError) as raised:
        db.session.execute(insert(ScimToken).values(**row))
    db.session.rollback()
    text = str(raised.value)
    assert "SeCrEt" not in text and "ada@example.com" not in text
    assert "parameters hidden" in text


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_unique_race_is_logged_by_constraint_not_by_value(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's message for a unique violation names the value: the email stays out."""
    held = UserFactory.create(email="held.address@example.com")
    collect = _Collect()
    logger = logging.getLogger("heap.transaction")
    # setLevel, not the attribute: it also clears logging's cache of isEnabledFor answers, which
    # an earlier test may have filled at another level.
    level = logger.level
    logger.setLevel(logging.INFO)
    monkeypatch.setattr(logger, "level", logging.INFO)
    logger.addHandler(collect)
    try:
        with pytest.raises(AlreadyExists), unit_of_work():
            other = UserFactory.build(email="HELD.address@example.com", account=held.account)
            db.session.add(other)
            db.session.flush()
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    lines = [line for line in collect.lines if "unique constraint race" in line]
    assert lines
    for line in lines:
        assert "held.address" not in line.lower()
        assert "uq_users_email_active" in line
