"""Bodies /graphql can't take get a 400 with a GraphQL JSON error, change nothing, and leave no
traceback in the log (issue 8, finding 6). Lone surrogates never reach a resolver or the SQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heap.extensions import db
from heap.models import Team
from tests.conftest import json_of
from tests.graph.conftest import make_account, make_user, post, top_level_codes, viewer_token

CREATE_TEAM = "mutation ($name: String!) { createTeam(input: {name: $name}) { team { name } } }"
JSON = "application/json"


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


# (what is wrong, raw body, content type)
BAD_BODIES = [
    ("a string", b'"x"', JSON),
    ("null", b"null", JSON),
    ("a number", b"123", JSON),
    ("an empty array (a batch)", b"[]", JSON),
    ("a batch of operations", _body([{"query": "{ viewer { email } }"}]), JSON),
    ("invalid UTF-8", b'{"query": "{ viewer { email } }", "x": "\xff\xfe"}', JSON),
    ("UTF-16 instead of UTF-8", '{"query": "{ viewer { email } }"}'.encode("utf-16"), JSON),
    ("arrays nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, JSON),
    ("objects nested 500 deep", b'{"a":' * 500 + b"1" + b"}" * 500, JSON),
    (
        "variables nested 40 deep",
        b'{"query": "{ viewer { email } }", "variables": {"v":' + b"[" * 40 + b"]" * 40 + b"}}",
        JSON,
    ),
    ("not JSON at all", b"{ viewer { email } }", JSON),
    ("NaN, which is Python's and not JSON's", b'{"query": "{ viewer { email } }", "v": NaN}', JSON),
    ("a 5,000-digit number", b'{"query": "{ viewer { email } }", "v": ' + b"9" * 5000 + b"}", JSON),
    ("a form post", b"query=%7B+viewer+%7B+email+%7D+%7D", "application/x-www-form-urlencoded"),
    ("plain text", _body({"query": "{ viewer { email } }"}), "text/plain"),
    ("no content type", _body({"query": "{ viewer { email } }"}), ""),
    ("no query", _body({"variables": {}}), JSON),
    ("an empty query", _body({"query": ""}), JSON),
    ("a query that is not a string", _body({"query": {"viewer": "email"}}), JSON),
    (
        "variables that are not an object",
        _body({"query": "{ viewer { email } }", "variables": [1]}),
        JSON,
    ),
    (
        "an operationName that is not a string",
        _body({"query": "{ viewer { email } }", "operationName": 7}),
        JSON,
    ),
    (
        "an unknown operationName",
        _body({"query": "query A { viewer { email } }", "operationName": "B"}),
        JSON,
    ),
    # Lone UTF-16 surrogates, as JSON escapes: in variables (values and keys) and in the query.
    (
        "a lone surrogate in a variable",
        b'{"query": "%s", "variables": {"name": "Eng\\ud800"}}'
        % CREATE_TEAM.replace('"', '\\"').encode(),
        JSON,
    ),
    (
        "a lone low surrogate in a variable's key",
        b'{"query": "%s", "variables": {"\\udc00": "Eng"}}'
        % CREATE_TEAM.replace('"', '\\"').encode(),
        JSON,
    ),
    (
        "a lone surrogate in the query",
        b'{"query": "mutation { createTeam(input: {name: \\"\\ud800\\"}) { team { name } } }"}',
        JSON,
    ),
]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records(app: Flask) -> Iterator[list[logging.LogRecord]]:
    """Everything logged while the test runs, by the app's loggers and everyone else's."""
    handler = _Records()
    loggers = [logging.getLogger(name) for name in ("", "heap", "scim", "graph", app.logger.name)]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _assert_no_traceback(records: list[logging.LogRecord]) -> None:
    assert [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("problem", "raw", "content_type"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_a_bad_body_is_400_graphql_json_and_changes_nothing(
    app: Flask,
    client: FlaskClient,
    log_records: list[logging.LogRecord],
    problem: str,
    raw: bytes,
    content_type: str,
) -> None:
    admin = make_user(account=make_account(), admin=True)
    headers = {"Authorization": f"Bearer {viewer_token(app, admin)}"}
    if content_type:
        headers["Content-Type"] = content_type

    response = client.post("/graphql", data=raw, headers=headers)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body = json_of(response)
    assert list(body) == ["errors"]
    [error] = body["errors"]
    # The request id, as the response header and the log line have it.
    request_id = response.headers["X-Request-Id"]
    assert error["extensions"] == {"code": "BAD_REQUEST", "requestId": request_id}
    assert isinstance(error["message"], str) and error["message"]
    assert db.session.query(Team).count() == 0
    _assert_no_traceback(log_records)


def test_the_same_bodies_without_a_token_are_400_too(client: FlaskClient) -> None:
    for problem, raw, content_type in BAD_BODIES:
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post("/graphql", data=raw, headers=headers)
        assert (response.status_code, response.mimetype) == (400, JSON), problem
        assert top_level_codes(json_of(response)) == ["BAD_REQUEST"], problem


def test_the_message_says_what_to_send(client: FlaskClient) -> None:
    def message(raw: bytes, content_type: str = JSON) -> str:
        response = client.post("/graphql", data=raw, headers={"Content-Type": content_type})
        return str(json_of(response)["errors"][0]["message"])

    assert '{"query":' in message(b"null") and "got null" in message(b"null")
    assert "UTF-8" in message(b'{"query": "\xff"}')
    assert "Content-Type: application/json" in message(b"{}", "text/plain")
    assert "variables.name" in message(
        b'{"query": "{ viewer { email } }", "variables": {"name": "\\ud800"}}'
    )


SEARCH = "query ($s: String) { account { users(filter: {search: $s}) { totalCount } } }"


def test_a_lone_surrogate_in_get_variables_is_refused_too(
    app: Flask, client: FlaskClient, log_records: list[logging.LogRecord]
) -> None:
    user = make_user()
    response = client.get(
        "/graphql",
        query_string={
            "query": SEARCH,
            "variables": '{"s": "\\ud800"}',
        },
        headers={"Accept": JSON, "Authorization": f"Bearer {viewer_token(app, user)}"},
    )
    assert (response.status_code, top_level_codes(json_of(response))) == (400, ["BAD_REQUEST"])
    _assert_no_traceback(log_records)


def test_a_surrogate_escape_inside_the_graphql_text_is_a_syntax_error_not_a_500(
    app: Flask, client: FlaskClient, log_records: list[logging.LogRecord]
) -> None:
    """Written as a GraphQL escape (backslash-u in the document), graphql-core refuses it while
    parsing: an ordinary GraphQL error, and no team is created."""
    admin = make_user(account=make_account(), admin=True)
    query = 'mutation { createTeam(input: {name: "Eng\\ud800"}) { team { name } } }'
    body = post(client, query, token=viewer_token(app, admin))
    assert body["data"] is None
    assert "Unicode" in body["errors"][0]["message"]
    assert db.session.query(Team).count() == 0
    _assert_no_traceback(log_records)


def test_a_good_body_still_works(app: Flask, client: FlaskClient) -> None:
    """The checks refuse only what is wrong: whole non-ASCII characters, emoji included, pass."""
    admin = make_user(account=make_account(), admin=True)
    body = post(client, CREATE_TEAM, {"name": "Ingénierie 🚀"}, token=viewer_token(app, admin))
    assert body == {"data": {"createTeam": {"team": {"name": "Ingénierie 🚀"}}}}


# ---- generated garbage ----------------------------------------------------------------------

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Every code point, lone surrogates included (Hypothesis leaves those out unless asked).
TEXT = st.text(st.characters(exclude_categories=()), max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
QUERIES = [
    "{ viewer { email } }",
    SEARCH,
    CREATE_TEAM,
    "query ($n: Int, $a: String) { account { users(first: $n, after: $a) { nodes { email } } } }",
    "mutation ($i: CreateTeamInput!) { createTeam(input: $i) { userErrors { code } } }",
]


def _assert_graphql_answer(response: Any) -> None:
    assert response.status_code in {200, 400}, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body = json_of(response)
    assert isinstance(body, dict) and ("errors" in body or "data" in body)


@FUZZ
@given(body=JSON_VALUES)
def test_any_json_body_gets_a_graphql_answer(app: Flask, client: FlaskClient, body: Any) -> None:
    response = client.post("/graphql", data=json.dumps(body), content_type=JSON)
    _assert_graphql_answer(response)


@FUZZ
@given(
    query=st.sampled_from(QUERIES),
    variables=st.dictionaries(
        st.sampled_from(["name", "s", "n", "a", "i"]) | TEXT, JSON_VALUES, max_size=4
    ),
)
def test_any_variables_get_a_graphql_answer_and_the_tenant_still_lists(
    app: Flask, client: FlaskClient, query: str, variables: dict[str, Any]
) -> None:
    admin = make_user(account=make_account(), admin=True)
    token = viewer_token(app, admin)
    response = client.post(
        "/graphql",
        data=json.dumps({"query": query, "variables": variables}),
        content_type=JSON,
        headers={"Authorization": f"Bearer {token}"},
    )
    _assert_graphql_answer(response)
    listing = post(client, "{ account { users { totalCount } } }", token=token)
    assert listing == {"data": {"account": {"users": {"totalCount": 1}}}}


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_get_a_graphql_answer(app: Flask, client: FlaskClient, raw: bytes) -> None:
    _assert_graphql_answer(client.post("/graphql", data=raw, content_type=JSON))
