"""The migrations build the models' schema, tear it down and build it again, on both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import Column, create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from heap.extensions import db
from tests.conftest import POSTGRES_SKIP_REASON, TEST_SECRET_KEY

MIGRATIONS = str(Path(__file__).parent.parent / "migrations")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TABLES = {
    "verified_domains",
    "accounts",
    "roles",
    "users",
    "scim_identities",
    "teams",
    "team_memberships",
    "scim_tokens",
    "audit_events",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a temp file, or a scratch PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    if not TEST_DATABASE_URL:
        if IN_CI:
            pytest.fail("CI must test the migrations on PostgreSQL: set TEST_DATABASE_URL")
        pytest.skip(POSTGRES_SKIP_REASON)
    name = f"heap_migrations_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The models' unique lower(...) indexes: case-insensitive emails, userNames, team and role names.
EXPRESSION_INDEXES = {
    index.name
    for table in db.metadata.tables.values()
    for index in table.indexes
    if index.unique and any(not isinstance(e, Column) for e in index.expressions)
}


def _expression_indexes() -> set[str]:
    """The unique lower(...) indexes, read from the catalogue (SQLite cannot reflect them)."""
    if db.engine.dialect.name == "sqlite":
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    with db.engine.connect() as connection:
        rows = connection.execute(text(query)).all()
    return {name for name, sql in rows if "lower(" in sql.lower() and "UNIQUE" in sql.upper()}


def _head() -> str:
    """The one head revision (more than one head is an error: the chain must stay linear)."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def _drift() -> list[object]:
    """What autogenerate would write: differences between the models and the live schema."""
    options = {"compare_type": True, "render_as_batch": True}
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, db.metadata))


# SQLite cannot reflect expression indexes (lower(...)); they are checked by name below instead.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
)
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index"
)
def test_upgrade_downgrade_upgrade_without_drift(database_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": TEST_SECRET_KEY})
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS)
            assert _tables() == TABLES
            assert _drift() == []
            check(directory=MIGRATIONS)
            assert _expression_indexes() == EXPRESSION_INDEXES

            downgrade(directory=MIGRATIONS, revision="base")
            assert _tables() == set()

            upgrade(directory=MIGRATIONS)
            assert _tables() == TABLES
            assert _drift() == []
            check(directory=MIGRATIONS)
            assert _expression_indexes() == EXPRESSION_INDEXES
            with db.engine.connect() as connection:
                version = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert [row[0] for row in version] == [_head()]
        finally:
            db.session.remove()
            db.engine.dispose()


# Rows as 0001 stored them: two accounts, users with an identity each, a team with members.
_SEED = [
    "INSERT INTO accounts (id, name, plan, sso_configured, scim_enabled, created_at) VALUES "
    "(1, 'Acme', 'premier', true, false, '2026-01-01'), "
    "(2, 'Globex', 'free', false, false, '2026-01-01')",
    "INSERT INTO roles (id, account_id, name, is_builtin, is_admin, created_at) VALUES "
    "(1, 1, 'Admin', true, true, '2026-01-01'), (2, 2, 'Admin', true, true, '2026-01-01')",
    "INSERT INTO users (id, account_id, email, given_name, family_name, role_id, deactivated_at,"
    " created_at, updated_at) VALUES "
    "(1, 1, 'ada@acme.example', 'Ada', 'L', 1, NULL, '2026-01-01', '2026-01-01'), "
    "(2, 1, 'bob@acme.example', 'Bob', 'M', NULL, '2026-02-01', '2026-01-01', '2026-01-01'), "
    "(3, 2, 'cy@globex.example', 'Cy', 'N', 2, NULL, '2026-01-01', '2026-01-01')",
    "INSERT INTO scim_identities (id, account_id, user_id, user_name, idp_managed, extra,"
    " created_at, updated_at) VALUES "
    "('00000000-0000-0000-0000-000000000001', 1, 1, 'ada@acme.example', true, '{}',"
    " '2026-01-01', '2026-01-01'), "
    "('00000000-0000-0000-0000-000000000002', 1, 2, 'bob@acme.example', true, '{}',"
    " '2026-01-01', '2026-01-01'), "
    "('00000000-0000-0000-0000-000000000003', 2, 3, 'cy@globex.example', false, '{}',"
    " '2026-01-01', '2026-01-01')",
    "INSERT INTO teams (id, scim_id, account_id, name, scim_managed, created_at, updated_at)"
    " VALUES (1, '00000000-0000-0000-0000-00000000000a', 1, 'Eng', true, '2026-01-01',"
    " '2026-01-01')",
    "INSERT INTO team_memberships (team_id, user_id, added_at) VALUES (1, 1, '2026-01-01')",
]
_SNAPSHOT = {
    "users": "SELECT id, account_id, email, role_id, deactivated_at IS NULL FROM users ORDER BY id",
    "scim_identities": "SELECT id, user_id, user_name FROM scim_identities ORDER BY id",
    "team_memberships": "SELECT team_id, user_id FROM team_memberships ORDER BY user_id",
}


def _snapshot() -> dict[str, list[tuple[object, ...]]]:
    with db.engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(query))]
            for table, query in _SNAPSHOT.items()
        }


def _new_user_id(connection: object) -> int:
    from sqlalchemy.engine import Connection

    assert isinstance(connection, Connection)
    return int(
        connection.execute(
            text(
                "INSERT INTO users (account_id, email, given_name, family_name, role_id,"
                " created_at, updated_at) VALUES (2, 'new@globex.example', '', '', 2,"
                " '2026-03-01', '2026-03-01') RETURNING id"
            )
        ).scalar_one()
    )


@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
)
def test_viewer_sessions_keep_every_row_and_never_reuse_a_user_id(database_url: str) -> None:
    """0002 rebuilds users on SQLite: ids, identities and memberships survive it, and a deleted
    user's id is never handed to the next user (the old token would sign in as them)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": TEST_SECRET_KEY})
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS, revision="0001")
            with db.engine.begin() as connection:
                for statement in _SEED:
                    connection.execute(text(statement))
                if connection.dialect.name == "postgresql":
                    # Ids the app creates come from the sequence; these were written by hand.
                    connection.execute(
                        text("SELECT setval(pg_get_serial_sequence('users', 'id'), 3)")
                    )
            before = _snapshot()

            upgrade(directory=MIGRATIONS, revision="0002")
            assert _snapshot() == before
            with db.engine.connect() as connection:
                generations = connection.execute(text("SELECT session_generation FROM users"))
                assert [row[0] for row in generations] == [0, 0, 0]
            assert _expression_indexes() == EXPRESSION_INDEXES
            if db.engine.dialect.name == "sqlite":
                with db.engine.connect() as connection:
                    ddl = connection.execute(
                        text("SELECT sql FROM sqlite_master WHERE name = 'users'")
                    ).scalar_one()
                    assert "AUTOINCREMENT" in ddl
                    # Foreign keys held through the rebuild: nothing dangles.
                    assert list(connection.execute(text("PRAGMA foreign_key_check"))) == []

            # The newest user (Globex's Cy, id 3) is deleted; the next one must not be id 3.
            with db.engine.begin() as connection:
                connection.execute(text("DELETE FROM scim_identities WHERE user_id = 3"))
                connection.execute(text("DELETE FROM users WHERE id = 3"))
                assert _new_user_id(connection) == 4

            downgrade(directory=MIGRATIONS, revision="0001")
            with db.engine.connect() as connection:
                ids = connection.execute(text("SELECT id FROM users ORDER BY id"))
                assert [row[0] for row in ids] == [1, 2, 4]
                members = connection.execute(text("SELECT user_id FROM team_memberships"))
                assert [row[0] for row in members] == [1]
            assert _expression_indexes() == EXPRESSION_INDEXES
        finally:
            db.session.remove()
            db.engine.dispose()
