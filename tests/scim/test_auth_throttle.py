"""Failed SCIM authentication is limited per client address (finding 6).

Seen: the limit was keyed on the token presented, so every request with a new random token got
a fresh bucket, and each still cost a hash and a database lookup.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from heap import tokens
from heap.extensions import db
from tests.conftest import json_of
from tests.factories import scim_account

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIMIT = 3


@pytest.fixture
def limited(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "SCIM_AUTH_FAILURE_LIMIT", f"{LIMIT} per minute")


def _address() -> str:
    """A client address of this test's own (IPv6 documentation prefix): no shared bucket."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def _get(client: FlaskClient, address: str, token: str) -> Any:
    return client.get(
        "/scim/v2/Users",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": address},
    )


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.usefixtures("limited")
def test_failures_from_one_address_are_limited_before_any_database_work(
    client: FlaskClient,
) -> None:
    _, token = scim_account()
    address = _address()
    failures = [_get(client, address, tokens.mint_scim_token()).status_code for _ in range(LIMIT)]
    assert failures == [401] * LIMIT

    with _statements() as seen:
        refused = _get(client, address, token)  # even a valid token, from that address
    assert refused.status_code == 429
    assert seen == []
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert json_of(refused) == {
        "schemas": [ERROR_URN],
        "status": "429",
        "detail": f"Too many failed authentications from this address ({LIMIT} per 1 minute). "
        "Check that the API token in your identity provider is the current SCIM token from "
        f"Heap, then retry after {retry_after} seconds.",
    }
    # Another address has its own budget, for good and bad tokens alike.
    other = _address()
    assert _get(client, other, token).status_code == 200
    assert _get(client, other, "heapscim_guess").status_code == 401


@pytest.mark.usefixtures("limited")
def test_only_failed_authentications_count(client: FlaskClient) -> None:
    account, token = scim_account()
    address = _address()
    assert [_get(client, address, token).status_code for _ in range(LIMIT + 2)] == [200] * (
        LIMIT + 2
    )
    # Authenticated but refused (SCIM off, 403) is not a failed authentication either.
    account.plan = "pro"
    db.session.commit()
    assert [_get(client, address, token).status_code for _ in range(LIMIT + 1)] == [403] * (
        LIMIT + 1
    )
    assert _get(client, address, "heapscim_guess").status_code == 401
