"""Round trips per SCIM request, on SQLite and PostgreSQL: the budgets of the hot paths.

Counted, never timed: every SQL statement the app sends (BEGIN IMMEDIATE, SQLite's write lock,
is not one: it carries no query) and every COMMIT. Each request starts from an empty session,
as a served request does, so nothing is found in memory that production would have to read.

| request                                    | budget                                       |
|--------------------------------------------|----------------------------------------------|
| any SCIM request: token and account        | 1 statement                                  |
| GET /Users/{id}                            | 2 statements in all                          |
| a list page (any size, filtered or not)    | 3 statements in all                          |
| POST /Users, PATCH /Users/{id}             | one transaction; a PATCH that changes        |
|                                            | nothing writes nothing                       |
| POST /Users of a new person                | 2 reads, 1 write (SQLite: 3 and 3)           |
| the token's lastUsedAt                     | at most once a minute, in its own commit     |
| any read                                   | no transaction (no BEGIN, no ROLLBACK)       |
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg import pq
from sqlalchemy import event, select

from heap.extensions import db
from heap.models import Account, ScimToken, User, utcnow
from tests.conftest import json_of
from tests.factories import TeamFactory, TeamMembershipFactory, UserFactory, scim_account

PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# Each table a statement writes, wherever the write sits: first, or in a WITH (a data-modifying
# CTE, as PostgreSQL's create sends). Row locks (FOR UPDATE, FOR NO KEY UPDATE OF t) are not
# writes: an UPDATE writes only with its SET.
WRITTEN_TABLE = re.compile(
    r"\b(?:INSERT\s+INTO|DELETE\s+FROM)\s+(\w+)|\bUPDATE\s+(\w+)\s+SET\b", re.IGNORECASE
)


@dataclass
class Trace:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    checkouts: int = 0  # connections taken from the pool: each costs a pre-ping

    @property
    def writes(self) -> list[str]:
        """The statements that write, one each however many tables it writes."""
        return [s for s in self.statements if WRITTEN_TABLE.search(s)]

    @property
    def tables_written(self) -> list[str]:
        """Each table written, once per write: a statement may write several."""
        return [
            inserted_or_deleted or updated
            for s in self.statements
            for inserted_or_deleted, updated in WRITTEN_TABLE.findall(s)
        ]


@contextmanager
def traced(app: Flask) -> Iterator[Trace]:
    """What the app sends to the database meanwhile; the session starts empty."""
    db.session.remove()
    trace = Trace()

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if not sql.lstrip().upper().startswith("BEGIN"):
            trace.statements.append(sql)

    def commit(conn: Any) -> None:
        trace.commits += 1

    def checkout(*_: Any) -> None:
        trace.checkouts += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield trace
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        event.remove(engine.pool, "checkout", checkout)
        db.session.remove()


@dataclass
class Idp:
    client: FlaskClient
    account: Account
    token: str

    def call(self, method: str, path: str, body: Any = None, **query: str) -> Any:
        return self.client.open(
            f"/scim/v2{path}",
            method=method,
            query_string=query,
            data=None if body is None else json.dumps(body),
            content_type="application/scim+json",
            headers={"Authorization": f"Bearer {self.token}"},
        )


@pytest.fixture
def idp(app: Flask, client: FlaskClient) -> Idp:
    account, token = scim_account()
    # Used a moment ago: no request below is due to record lastUsedAt.
    for row in db.session.scalars(select(ScimToken).where(ScimToken.account_id == account.id)):
        row.last_used_at = utcnow()
    db.session.commit()
    return Idp(client, account, token)


def _people(idp: Idp, count: int) -> list[User]:
    people = [cast(User, UserFactory.create(account=idp.account)) for _ in range(count)]
    for team_number in range(3):
        team = TeamFactory.create(account=idp.account, name=f"Team {team_number}")
        for person in people[: count // (team_number + 1)]:
            TeamMembershipFactory.create(team=team, user=person)
    db.session.commit()
    return people


def okta_user(user_name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": "00u1",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def test_authenticating_a_token_and_loading_its_account_is_one_statement(
    app: Flask, idp: Idp
) -> None:
    with traced(app) as trace:
        response = idp.call("GET", "/ServiceProviderConfig")
    assert response.status_code == 200
    assert len(trace.statements) == 1, trace.statements
    assert trace.commits == 0


@pytest.mark.parametrize("groups", [True, False])
def test_get_a_user_is_two_statements(app: Flask, idp: Idp, groups: bool) -> None:
    scim_id = _people(idp, 5)[0].scim_identity.id
    query = {} if groups else {"excludedAttributes": "groups"}
    with traced(app) as trace:
        response = idp.call("GET", f"/Users/{scim_id}", **query)
    assert response.status_code == 200
    assert ("groups" in json_of(response)) is groups
    assert len(trace.statements) <= 2, trace.statements
    assert (trace.commits, trace.writes) == (0, [])


@pytest.mark.parametrize("size", [1, 30])
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"count": "10", "startIndex": "3"},
        {"filter": "active eq true and name.familyName pr", "count": "100"},
        {"excludedAttributes": "groups"},
        {"startIndex": "1000"},  # past the end
    ],
)
def test_a_list_page_is_at_most_three_statements_whatever_its_size(
    app: Flask, idp: Idp, size: int, query: dict[str, str]
) -> None:
    _people(idp, size)
    with traced(app) as trace:
        response = idp.call("GET", "/Users", **query)
    assert response.status_code == 200
    assert len(trace.statements) <= 3, trace.statements
    assert (trace.commits, trace.writes) == (0, [])


def test_the_username_lookup_okta_sends_is_two_statements(app: Flask, idp: Idp) -> None:
    user_name = _people(idp, 10)[3].scim_identity.user_name
    with traced(app) as trace:
        response = idp.call("GET", "/Users", filter=f'userName eq "{user_name.upper()}"')
    assert json_of(response)["totalResults"] == 1
    assert len(trace.statements) <= 2, trace.statements


def _holds_a_transaction(dbapi_connection: Any) -> bool:
    """Whether the database itself has a transaction open on this connection."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        return dbapi_connection.in_transaction
    return bool(dbapi_connection.info.transaction_status != pq.TransactionStatus.IDLE)


@contextmanager
def transaction_states(app: Flask) -> Iterator[list[bool]]:
    """After each statement the app sends: whether a transaction was open on the database."""
    db.session.remove()
    states: list[bool] = []

    def after(conn: Any, *_: Any) -> None:
        states.append(_holds_a_transaction(conn.connection.dbapi_connection))

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        yield states
    finally:
        event.remove(db.engine, "after_cursor_execute", after)
        db.session.remove()


def test_a_read_holds_no_transaction_and_a_write_one(app: Flask, idp: Idp) -> None:
    """A read needs no BEGIN and ROLLBACK around its statements (two round trips of a GET's
    five on PostgreSQL); a write keeps one transaction: on PostgreSQL from the authentication
    that holds its access, on SQLite (whose lock is the whole database's) from its unit of
    work on. What only reads is told by its route, not its method or path."""
    user_id = json_of(idp.call("POST", "/Users", okta_user("ada@example.com")))["id"]
    with transaction_states(app) as reads:
        assert idp.call("GET", f"/Users/{user_id}").status_code == 200
        assert idp.call("GET", "/Users", filter='userName eq "ada@example.com"').status_code == 200
        assert idp.call("GET", "/Groups").status_code == 200
        assert idp.call("POST", "/Users/.search", {"count": 1}).status_code == 200
        assert idp.call("POST", "/Bulk", {"Operations": []}).status_code == 501
    assert reads and not any(reads), reads
    with transaction_states(app) as writes:
        assert idp.call("POST", "/Users", okta_user("bo@example.com")).status_code == 201
    first_held = db.engine.dialect.name == "postgresql"
    assert len(writes) > 1 and writes[0] is first_held and all(writes[1:]), writes


def test_okta_create_is_one_transaction(app: Flask, idp: Idp) -> None:
    with traced(app) as trace:
        response = idp.call("POST", "/Users", okta_user("ada@example.com"))
    assert response.status_code == 201
    assert trace.commits == 1
    # Each row is written once, complete: no INSERT followed by an UPDATE of the same row.
    assert sorted(trace.tables_written) == ["audit_events", "scim_identities", "users"]
    assert all(s.upper().startswith(("INSERT", "WITH")) for s in trace.writes), trace.writes
    # Before them, one read: the token and account, held for the write (``hold_access``). Who
    # claims the address and the userName is checked by the user's insert itself
    # (``lifecycle.create_user(unclaimed_only=True)``). SQLite takes its write lock in the unit
    # of work, not when authenticating, and asks there whether another connection committed
    # since (its data_version), so as to read the token again only then. PostgreSQL writes the
    # three rows in one statement.
    postgresql = db.engine.dialect.name == "postgresql"
    reads, writes = (1, 1) if postgresql else (2, 3)
    assert len(trace.writes) == writes, trace.writes
    assert len(trace.statements) == reads + writes, trace.statements


def test_a_patch_is_one_transaction_and_an_unchanged_one_writes_nothing(
    app: Flask, idp: Idp
) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user("ada@example.com")))
    rename = {
        "schemas": [PATCH_URN],
        "Operations": [
            {"op": "replace", "value": {"name": {"givenName": "Augusta", "familyName": "King"}}}
        ],
    }
    with traced(app) as trace:
        first = idp.call("PATCH", f"/Users/{created['id']}", rename)
    assert first.status_code == 200
    assert trace.commits == 1
    # The user's groups for the answer are read before the commit, on the same connection.
    assert trace.checkouts == 1
    assert trace.writes and set(trace.tables_written) <= {"users", "audit_events"}, trace.writes

    with traced(app) as again:
        second = idp.call("PATCH", f"/Users/{created['id']}", rename)
    assert json_of(second) == json_of(first)  # lastModified included: nothing was written
    assert again.writes == []
    # Okta's read-modify-write PUT sends back what it read. The first echo records the Heap
    # Role the extension carries as the IdP's word; the same PUT again writes nothing.
    document = json_of(idp.call("PUT", f"/Users/{created['id']}", json_of(second)))
    with traced(app) as put:
        same = idp.call("PUT", f"/Users/{created['id']}", document)
    assert json_of(same) == document
    assert put.writes == []


def test_last_used_at_is_written_at_most_once_a_minute_in_its_own_commit(
    app: Flask, idp: Idp
) -> None:
    stale = utcnow() - timedelta(minutes=5)
    for row in db.session.scalars(select(ScimToken).where(ScimToken.account_id == idp.account.id)):
        row.last_used_at = stale
    db.session.commit()

    with traced(app) as due:
        assert idp.call("GET", "/Users").status_code == 200
    assert due.tables_written == ["scim_tokens"]
    assert due.commits == 1

    with traced(app) as created:
        assert idp.call("POST", "/Users", okta_user("bo@example.com")).status_code == 201
    assert "scim_tokens" not in created.tables_written
    assert created.commits == 1  # the create's own: the token was written a moment ago
