"""Helpers for GraphQL tests: every call goes through HTTP, POST /graphql, like the front end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from heap import tokens
from heap.extensions import db
from heap.models import Account, AuditEvent, Role, ScimToken, Team, User
from tests.conftest import json_of
from tests.factories import (
    AccountFactory,
    AuditEventFactory,
    RoleFactory,
    ScimTokenFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)


def viewer_token(app: Flask, user: User) -> str:
    return tokens.sign_viewer_token(app.config["SECRET_KEY"], user.id, user.session_generation)


def post(
    client: FlaskClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """The whole response body. Rows the test holds are expired so the request reads them afresh."""
    db.session.expire_all()
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = json_of(response)
    return body


def gql(
    client: FlaskClient, query: str, variables: dict[str, Any] | None = None, *, as_: User
) -> dict[str, Any]:
    """``data`` of a call made as ``as_``; fails on any top-level error."""
    app = client.application
    body = post(client, query, variables, token=viewer_token(app, as_))
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def top_level_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


def refusal(payload: dict[str, Any]) -> tuple[str, list[str] | None]:
    """(code, field) of a payload's only user error."""
    errors = payload["userErrors"]
    assert len(errors) == 1, errors
    return errors[0]["code"], errors[0]["field"]


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the block runs."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def gid(type_name: str, key: int) -> str:
    from base64 import b64encode

    return b64encode(f"{type_name}:{key}".encode()).decode()


# Typed fronts for the factories (factory-boy is untyped), so these tests stay mypy-strict.


def make_account(**kwargs: Any) -> Account:
    return cast(Account, AccountFactory.create(**kwargs))


def make_user(**kwargs: Any) -> User:
    return cast(User, UserFactory.create(**kwargs))


def make_team(**kwargs: Any) -> Team:
    return cast(Team, TeamFactory.create(**kwargs))


def make_role(**kwargs: Any) -> Role:
    return cast(Role, RoleFactory.create(**kwargs))


def make_token(**kwargs: Any) -> ScimToken:
    return cast(ScimToken, ScimTokenFactory.create(**kwargs))


def make_audit_event(**kwargs: Any) -> AuditEvent:
    return cast(AuditEvent, AuditEventFactory.create(**kwargs))


def add_member(team: Team, user: User) -> None:
    TeamMembershipFactory.create(team=team, user=user)
