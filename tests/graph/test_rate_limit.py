"""The per-viewer GraphQL rate limit: 429 with Retry-After and a GraphQL JSON body, one budget
per viewer (whatever token or address they use) and one per address without a token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from ops import limits
from tests.conftest import TEST_SECRET_KEY, json_of
from tests.graph.conftest import counting_queries, make_account, make_user, viewer_token

LIMIT = 3
VIEWER = {"query": "{ viewer { email } }"}


@pytest.fixture
def small_limit(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A limit of 3 a minute for this test alone, on counters no earlier test touched."""
    monkeypatch.setitem(app.config, "GRAPHQL_RATE_LIMIT", f"{LIMIT} per minute")
    limits.reset(app)
    yield
    limits.reset(app)


def _post(
    client: FlaskClient, token: str | None = None, address: str = "127.0.0.1"
) -> TestResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        "/graphql", json=VIEWER, headers=headers, environ_base={"REMOTE_ADDR": address}
    )


@pytest.mark.usefixtures("small_limit")
def test_past_the_limit_a_viewer_gets_429_with_retry_after_and_a_graphql_body(
    app: Flask, client: FlaskClient
) -> None:
    # More apps in the process (other tests build them) must not count a request twice.
    for _ in range(2):
        create_app(
            {
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "SECRET_KEY": TEST_SECRET_KEY,
                "LOG_LEVEL": "WARNING",
            }
        )
    account = make_account()
    ada = make_user(account=account, email="ada@example.com")
    bob = make_user(account=account, email="bob@example.com")
    token = viewer_token(app, ada)

    statuses = [_post(client, token).status_code for _ in range(LIMIT)]
    with counting_queries(app) as statements:
        refused = _post(client, token)

    assert statuses == [200] * LIMIT
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.mimetype == "application/json"
    body = json_of(refused)
    assert list(body) == ["errors"]
    [error] = body["errors"]
    # The request id, as the response header and the log line have it.
    request_id = refused.headers["X-Request-Id"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "requestId": request_id}
    assert error["message"].startswith("Too many requests (3 per 1 minute)")
    assert f"Retry after {refused.headers['Retry-After']} seconds" in error["message"]
    assert statements == []  # refused before the viewer is even looked up

    # Bob's budget is his own.
    assert _post(client, viewer_token(app, bob)).status_code == 200


@pytest.mark.usefixtures("small_limit")
def test_the_budget_follows_the_viewer_not_the_token_or_the_address(
    app: Flask, client: FlaskClient
) -> None:
    ada = make_user()
    for n in range(LIMIT):
        # A fresh token and another address each time: still Ada.
        assert _post(client, viewer_token(app, ada), f"10.0.0.{n}").status_code == 200
    assert _post(client, viewer_token(app, ada), "10.0.0.99").status_code == 429


@pytest.mark.usefixtures("small_limit")
def test_without_a_valid_token_the_budget_is_per_address(app: Flask, client: FlaskClient) -> None:
    for _ in range(LIMIT):
        assert _post(client, None, "192.0.2.1").status_code == 200
    assert _post(client, "forged", "192.0.2.1").status_code == 429
    assert _post(client, None, "192.0.2.2").status_code == 200
    # A viewer behind that busy address still has their own budget.
    assert _post(client, viewer_token(app, make_user()), "192.0.2.1").status_code == 200
