"""Fixtures: one app per database (SQLite always, PostgreSQL with TEST_DATABASE_URL), clean tables
between tests, a client, and helpers for SCIM and GraphQL calls.

Every test that takes ``app`` runs on each configured database.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from heap.extensions import db
from ops import limits

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
# The app refuses keys under 32 bytes; this one is only for tests.
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-to-sign"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The one reason every PostgreSQL test gives when skipped, so the summary counts them together.
POSTGRES_SKIP_REASON = (
    "PostgreSQL is not configured; to include them, set "
    "TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (see README)"
)

_TABLES = (
    "verified_domains",
    "team_memberships",
    "scim_identities",
    "users",
    "teams",
    "scim_tokens",
    "audit_events",
    "roles",
    "accounts",
)
_apps: dict[str, Flask] = {}


# Each pytest process gets its own PostgreSQL schema, so parallel runs (and the servers a test
# starts, which inherit the URL) never see each other's tables.
PG_SCHEMA = f"heap_test_{os.getpid()}"


def _database_urls(tmp_root: Path) -> dict[str, str | None]:
    postgresql = None
    if TEST_DATABASE_URL:
        url = make_url(TEST_DATABASE_URL).update_query_dict(
            {"options": f"-csearch_path={PG_SCHEMA}"}
        )
        postgresql = url.render_as_string(hide_password=False)
    return {"sqlite": f"sqlite:///{tmp_root / 'heap-test.db'}", "postgresql": postgresql}


@pytest.fixture(scope="session")
def _tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("db")


def _make_app(backend: str, url: str) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": TEST_SECRET_KEY,
            "RATELIMIT_ENABLED": True,
            "SCIM_RATE_LIMIT": "100000 per minute",
            "GRAPHQL_RATE_LIMIT": "100000 per minute",
            "SCIM_AUTH_FAILURE_LIMIT": "100000 per minute",
            "PUBLIC_BASE_URL": "http://localhost",
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        if backend == "postgresql":
            # A fresh schema per run, built by the migrations themselves.
            with db.engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        upgrade(directory=str(Path(__file__).parent.parent / "migrations"))
    return app


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_schema() -> Iterator[None]:
    yield
    app = _apps.get("postgresql")
    if app is not None:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql" and not TEST_DATABASE_URL:
        if IN_CI:
            pytest.fail("CI must run the PostgreSQL suite: set TEST_DATABASE_URL")
        pytest.skip(POSTGRES_SKIP_REASON)
    return name


@pytest.fixture
def app(backend: str, _tmp_root: Path) -> Iterator[Flask]:
    """The app on one database, with an app context held for the test's factories and services."""
    if backend not in _apps:
        url = _database_urls(_tmp_root)[backend]
        assert url is not None
        _apps[backend] = _make_app(backend, url)
    app = _apps[backend]
    # Each test starts with fresh rate-limit counters.
    limits.reset(app)
    with app.app_context():
        yield app
        db.session.remove()
        _clean(backend)


def _clean(backend: str) -> None:
    with db.engine.begin() as connection:
        if backend == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY CASCADE"))
            return
        connection.execute(text("UPDATE accounts SET scim_default_role_id = NULL"))
        for table in _TABLES:
            connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def database_url(app: Flask) -> str:
    return str(app.config["SQLALCHEMY_DATABASE_URI"])


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def json_of(response: Any) -> Any:
    """The body of a test-client response as JSON, whatever its (SCIM) content type."""
    import json

    return json.loads(response.get_data(as_text=True))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """End the run by saying what was skipped and how to include it, one line per reason.

    pytest shows skip reasons only with ``-rs``: without this, a plain ``make test`` skipping a
    third of the suite (the PostgreSQL half) looked like a full run.
    """
    counts: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        counts[str(reason).removeprefix("Skipped: ") or "no reason given"] += 1
    if not counts:
        return
    terminalreporter.write_sep("-", "skipped, and how to include them")
    for reason, count in counts.most_common():
        terminalreporter.write_line(f"{count} test{'s' if count != 1 else ''} skipped: {reason}")
