"""The migrations build the models' schema, tear it down and build it again, on both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import Column, create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from heap.extensions import db
from tests.conftest import TEST_SECRET_KEY

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
        pytest.skip("PostgreSQL migration tests run when TEST_DATABASE_URL is set")
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
                assert [row[0] for row in version] == ["0003"]
        finally:
            db.session.remove()
            db.engine.dispose()
