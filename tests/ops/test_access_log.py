"""One JSON access line per request: method, path with query, status, duration, request id, who."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app import create_app
from heap import tokens
from ops.database import engine_options
from ops.logs import JsonFormatter
from tests.conftest import TEST_SECRET_KEY
from tests.factories import scim_account
from tests.graph.conftest import make_user, viewer_token


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def access_lines(app: Flask) -> Iterator[list[dict[str, Any]]]:
    logger = logging.getLogger("ops.access")
    handler = _Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_one_line_per_request_with_query_status_timing_and_token_prefix(
    app: Flask, access_lines: list[dict[str, Any]]
) -> None:
    _, token = scim_account()
    response = app.test_client().get(
        "/scim/v2/Users?filter=userName%20eq%20%22a%40b.c%22&count=5",
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-1"},
    )
    assert response.status_code == 200
    [line] = access_lines
    assert line["request_id"] == "req-1" == response.headers["X-Request-Id"]
    assert (line["method"], line["status"], line["logger"]) == ("GET", 200, "ops.access")
    # As sent on the wire, so a log search finds what the IdP sent.
    assert line["path"] == "/scim/v2/Users?filter=userName%20eq%20%22a%40b.c%22&count=5"
    assert line["who"] == f"scim:{tokens.visible_prefix(token)}"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_graphql_lines_name_the_viewer_and_refusals_name_nobody(
    app: Flask, access_lines: list[dict[str, Any]]
) -> None:
    user = make_user()
    client = app.test_client()
    client.post(
        "/graphql",
        json={"query": "{ viewer { email } }"},
        headers={"Authorization": f"Bearer {viewer_token(app, user)}"},
    )
    client.get("/scim/v2/Users", headers={"Authorization": "Bearer heapscim_forged"})
    client.get("/nope")
    assert [(line["path"], line["status"], line["who"]) for line in access_lines] == [
        ("/graphql", 200, f"viewer:{user.id}"),
        ("/scim/v2/Users", 401, None),
        ("/nope", 404, None),
    ]
    # A request id that could forge log lines is replaced by a fresh one.
    client.get("/healthz", headers={"X-Request-Id": '{"level": "ERROR"} x'})
    assert access_lines[-1]["request_id"] not in {None, '{"level": "ERROR"} x'}


def test_statement_timeout_keeps_the_urls_own_options() -> None:
    url = "postgresql+psycopg://u@h/db?options=-csearch_path%3Dheap_test_1"
    options = engine_options(
        url, {"pool_pre_ping": True}, connect_timeout=1, statement_timeout=2.5, pool_timeout=4
    )
    assert options["pool_pre_ping"] is True and options["pool_timeout"] == 4
    args = options["connect_args"]
    assert args["options"] == "-csearch_path=heap_test_1 -c statement_timeout=2500"
    assert args["connect_timeout"] == 2  # libpq's own minimum
    assert args["heap_answer_timeout"] == 4.5
    assert (
        engine_options("sqlite:///x.db", {}, connect_timeout=1, statement_timeout=2, pool_timeout=4)
        == {}
    )
    off = engine_options(url, {}, connect_timeout=3, statement_timeout=0, pool_timeout=4)
    assert off["connect_args"]["options"] == "-csearch_path=heap_test_1"
    assert "heap_answer_timeout" not in off["connect_args"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_app_connects_with_the_timeouts(app: Flask, backend: str) -> None:
    from sqlalchemy import text

    from heap.extensions import db

    configured = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "DATABASE_STATEMENT_TIMEOUT": 3,
        }
    )
    with configured.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "3s"
        # The URL's search_path (the test schema) survived the merge.
        assert (
            connection.execute(text("SHOW search_path")).scalar()
            == app.config["SQLALCHEMY_DATABASE_URI"].split("search_path%3D")[-1]
        )
    with configured.app_context():
        db.engine.dispose()
