"""The view itself: authentication, the guards, masking, and the committed SDL (GraphiQL: see
test_graphiql.py)."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graph import SCHEMA_FILE, printed_schema
from heap.extensions import db
from heap.models import utcnow
from ops.logs import JsonFormatter
from tests.conftest import json_of
from tests.graph.conftest import make_account, make_user, post, top_level_codes, viewer_token

VIEWER = "{ viewer { email } }"


def test_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == printed_schema(), "run `python -m graph` and commit"


def test_a_valid_viewer_token_identifies_the_viewer(app: Flask, client: FlaskClient) -> None:
    user = make_user(email="ada@example.com")
    body = post(client, VIEWER, token=viewer_token(app, user))
    assert body == {"data": {"viewer": {"email": "ada@example.com"}}}


def test_a_missing_token_is_unauthenticated(client: FlaskClient) -> None:
    body = post(client, VIEWER)
    assert body["data"] is None
    assert top_level_codes(body) == ["UNAUTHENTICATED"]


def test_a_forged_token_is_unauthenticated(app: Flask, client: FlaskClient) -> None:
    user = make_user()
    forged = viewer_token(app, user)[:-2] + "xx"
    assert top_level_codes(post(client, VIEWER, token=forged)) == ["UNAUTHENTICATED"]


def test_a_token_signed_with_another_key_is_unauthenticated(client: FlaskClient) -> None:
    from heap import tokens

    user = make_user()
    foreign = tokens.sign_viewer_token("not-our-secret", user.id, user.session_generation)
    assert top_level_codes(post(client, VIEWER, token=foreign)) == ["UNAUTHENTICATED"]


def test_an_expired_token_is_unauthenticated(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    token = viewer_token(app, user)
    # A negative lifetime makes every token already expired, without waiting for a clock.
    monkeypatch.setitem(app.config, "VIEWER_TOKEN_MAX_AGE", -1)
    assert top_level_codes(post(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]


def test_a_deactivated_viewer_is_unauthenticated(app: Flask, client: FlaskClient) -> None:
    user = make_user()
    token = viewer_token(app, user)
    user.deactivated_at, user.role = utcnow(), None
    db.session.commit()
    assert top_level_codes(post(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]


def test_deep_queries_are_refused(app: Flask, client: FlaskClient) -> None:
    user = make_user()
    inner = "email"
    for _ in range(4):
        inner = f"teams {{ members(first: 1) {{ nodes {{ {inner} }} }} }}"
    # 15 levels: account > users > nodes, then teams > members > nodes four times.
    query = f"{{ account {{ users(first: 1) {{ nodes {{ {inner} }} }} }} }}"
    body = post(client, query, token=viewer_token(app, user))
    assert body["data"] is None
    assert top_level_codes(body) == ["QUERY_TOO_DEEP"]


def test_many_aliases_are_refused(app: Flask, client: FlaskClient) -> None:
    user = make_user()
    query = "{ " + " ".join(f"a{i}: viewer {{ email }}" for i in range(50)) + " }"
    body = post(client, query, token=viewer_token(app, user))
    assert body["data"] is None
    assert top_level_codes(body) == ["TOO_MANY_ALIASES"]


def test_huge_documents_are_refused(app: Flask, client: FlaskClient) -> None:
    user = make_user()
    query = "{ viewer { " + "email " * 3000 + "} }"
    body = post(client, query, token=viewer_token(app, user))
    assert any("token" in e["message"].lower() for e in body["errors"])


def test_unexpected_errors_are_masked_but_refusals_are_not(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heap.services import roles

    user = make_user(account=make_account())

    def broken(**_: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(roles, "list_roles", broken)
    body = post(client, "{ account { roles { name } } }", token=viewer_token(app, user))
    assert [e["message"] for e in body["errors"]] == ["Unexpected error."]
    assert "hunter2" not in str(body)
    assert top_level_codes(post(client, "{ viewer { email } }")) == ["UNAUTHENTICATED"]


class _Lines(logging.Handler):
    """The app's JSON log lines, kept in a list."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_masked_error_names_the_request_id_it_is_logged_under(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heap.services import roles

    def broken(**_: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(roles, "list_roles", broken)
    handler = _Lines()
    logger = logging.getLogger("graph")
    logger.addHandler(handler)
    try:
        response = client.post(
            "/graphql",
            json={"query": "{ account { roles { name } } }"},
            headers={
                "Authorization": f"Bearer {viewer_token(app, make_user())}",
                "X-Request-Id": "trace-me-42",
            },
        )
    finally:
        logger.removeHandler(handler)
    [error] = json_of(response)["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "trace-me-42"}
    [logged] = [json.loads(line) for line in handler.lines if '"level": "ERROR"' in line]
    assert logged["request_id"] == "trace-me-42"
    assert "hunter2" in logged["exception"]


def test_a_get_with_a_query_string_reads_but_never_writes(app: Flask, client: FlaskClient) -> None:
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {viewer_token(app, make_user(email='ada@example.com'))}",
    }
    read = client.get("/graphql", query_string={"query": VIEWER}, headers=headers)
    assert (read.status_code, json_of(read)) == (
        200,
        {"data": {"viewer": {"email": "ada@example.com"}}},
    )
    write = 'mutation { createRole(input: {name: "Spies"}) { userErrors { code } } }'
    refused = client.get("/graphql", query_string={"query": write}, headers=headers)
    assert refused.status_code == 400
    assert client.get("/graphql", headers=headers).status_code == 400
