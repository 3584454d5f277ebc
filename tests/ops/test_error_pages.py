"""No HTML error page from any route, any status: each door's JSON shape, a small JSON body
elsewhere; and a database that cannot serve is a 503 with Retry-After in each door's shape."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, select, text

from app import create_app
from heap import tokens
from heap.extensions import db
from heap.models import Team
from tests.conftest import TEST_SECRET_KEY, json_of
from tests.factories import scim_account
from tests.graph.conftest import make_user, viewer_token

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
CLOSED_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:1/heap"


def _assert_scim_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/scim+json"
    body: dict[str, Any] = json_of(response)
    assert body["schemas"] == [ERROR_URN] and body["status"] == str(status)
    assert body["detail"]
    return body


def _assert_graphql_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = json_of(response)
    [error] = body["errors"]
    assert error["extensions"]["code"] == code and error["message"]
    assert body.get("data") is None
    return body


def _assert_plain_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = json_of(response)
    assert (body["status"], body["error"]) == (status, code)
    assert body["message"] and body["requestId"] == response.headers["X-Request-Id"]


def test_unknown_paths_and_methods_are_json_everywhere(app: Flask) -> None:
    client = app.test_client()
    _assert_plain_error(client.get("/nope"), 404, "NOT_FOUND")
    _assert_plain_error(client.post("/healthz"), 405, "METHOD_NOT_ALLOWED")
    assert client.post("/healthz").headers["Allow"]
    _assert_graphql_error(client.get("/graphql/nope"), 404, "NOT_FOUND")
    wrong_method = client.delete("/graphql")
    _assert_graphql_error(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in wrong_method.headers["Allow"]
    _assert_scim_error(client.get("/scim/v2/Nope"), 404)
    _assert_scim_error(client.put("/scim/v2/Users"), 405)


def test_a_body_over_the_size_limit_is_413_json_in_each_door(app: Flask) -> None:
    client = app.test_client()
    _, token = scim_account()
    too_big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    scim = client.post(
        "/scim/v2/Users",
        data=too_big,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
    )
    _assert_scim_error(scim, 413)
    graph = client.post(
        "/graphql",
        data=too_big,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {viewer_token(app, make_user())}",
        },
    )
    _assert_graphql_error(graph, 413, "REQUEST_ENTITY_TOO_LARGE")


def test_an_unexpected_error_outside_the_doors_is_a_json_500(app: Flask) -> None:
    broken = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        }
    )

    @broken.get("/broken")
    def fail() -> str:
        raise RuntimeError("secret detail")

    response = broken.test_client().get("/broken", headers={"X-Request-Id": "rid-7"})
    _assert_plain_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert "rid-7" in json_of(response)["message"]
    assert "secret detail" not in response.get_data(as_text=True)


@pytest.fixture
def database_down() -> Flask:
    """The app against a PostgreSQL port nobody listens on: connections are refused."""
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": CLOSED_POSTGRESQL,
            "SECRET_KEY": TEST_SECRET_KEY,
        }
    )


def test_database_down_is_a_scim_503_with_retry_after(database_down: Flask) -> None:
    token = tokens.mint_scim_token()
    response = database_down.test_client().get(
        "/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}
    )
    assert _assert_scim_error(response, 503) == {
        "schemas": [ERROR_URN],
        "status": "503",
        "detail": "Heap's database is not answering right now. Retry this request after 5 seconds.",
    }
    assert response.headers["Retry-After"] == "5"


def test_database_down_is_a_graphql_503_with_retry_after(database_down: Flask) -> None:
    # A validly signed viewer token: the viewer lookup (on first use) is what meets the outage.
    signed = tokens.sign_viewer_token(TEST_SECRET_KEY, 1, 0)
    response = database_down.test_client().post(
        "/graphql",
        json={"query": "{ viewer { email } }"},
        headers={"Authorization": f"Bearer {signed}"},
    )
    _assert_graphql_error(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_statement_timeout_inside_either_door_is_a_503(app: Flask, backend: str) -> None:
    """A real timeout in a resolver (after the viewer lookup) and in a SCIM route: another
    session holds the table locked past a 1 s statement_timeout. Strawberry would turn the
    resolver's error into a masked error with HTTP 200; the front end must see a 503."""
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    viewer = viewer_token(app, make_user())
    _, scim_token = scim_account()
    db.session.commit()
    db.session.close()
    impatient = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "DATABASE_STATEMENT_TIMEOUT": 1,
        }
    )
    client = impatient.test_client()
    locker = create_engine(url)
    try:
        with locker.connect() as connection:
            connection.execute(text("LOCK TABLE roles, teams IN ACCESS EXCLUSIVE MODE"))
            graph = client.post(
                "/graphql",
                json={"query": "{ viewer { email } account { roles { name } } }"},
                headers={"Authorization": f"Bearer {viewer}"},
            )
            scim = client.get("/scim/v2/Groups", headers={"Authorization": f"Bearer {scim_token}"})
            connection.rollback()
    finally:
        locker.dispose()
        with impatient.app_context():
            db.engine.dispose()
    _assert_graphql_error(graph, 503, "SERVICE_UNAVAILABLE")
    assert graph.headers["Retry-After"]
    _assert_scim_error(scim, 503)
    assert scim.headers["Retry-After"]
    # Once the lock is gone, the same app answers.
    assert (
        client.get("/scim/v2/Groups", headers={"Authorization": f"Bearer {scim_token}"}).status_code
        == 200
    )


def test_a_mutation_saved_before_the_database_failed_is_not_a_503(app: Flask) -> None:
    """The change committed; then reading the payload back failed. A 503 would tell the front
    end to retry, and the retry would repeat the change (or be refused: ALREADY_EXISTS)."""
    admin = make_user(admin=True)
    token = viewer_token(app, admin)
    db.session.commit()
    committed: list[bool] = []

    def note_commit(_connection: Any) -> None:
        committed.append(True)

    def fail_after_commit(connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if committed and sql.lstrip().upper().startswith("SELECT"):
            raise connection.dialect.dbapi.OperationalError("server closed the connection")

    event.listen(db.engine, "commit", note_commit)
    event.listen(db.engine, "before_cursor_execute", fail_after_commit)
    try:
        response = app.test_client().post(
            "/graphql",
            json={
                "query": 'mutation { createTeam(input: {name: "Design"}) '
                "{ team { name memberCount } userErrors { code } } }"
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_after_commit)
        event.remove(db.engine, "commit", note_commit)

    assert response.status_code == 200, response.get_data(as_text=True)
    [error] = json_of(response)["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["message"].startswith("Your change was saved")
    db.session.remove()
    assert db.session.scalars(select(Team.name)).all() == ["Design"]
