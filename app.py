"""The Heap SCIM service: ``create_app`` wires configuration, the database and the two doors."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

import graph
import ops
import scim
from heap import cli
from heap.extensions import db, migrate


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides the environment (tests pass their database here)."""
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(_defaults(app))
    if config:
        app.config.from_mapping(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))

    # Logs, request ids, error pages, health, metrics, limits; first, as it sets the database
    # timeouts the engine is built with.
    ops.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    scim.init_app(app)
    graph.init_app(app)
    cli.init_app(app)
    return app


def _defaults(app: Flask) -> dict[str, Any]:
    database_url = os.environ.get("DATABASE_URL") or (
        f"sqlite:///{Path(app.instance_path) / 'heap.db'}"
    )
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        # How long a viewer token minted by `flask users token` stays valid.
        "VIEWER_TOKEN_MAX_AGE": int(os.environ.get("VIEWER_TOKEN_MAX_AGE", 12 * 3600)),
        # Per SCIM token. Okta retries 429s after Retry-After on its own.
        "SCIM_RATE_LIMIT": os.environ.get("SCIM_RATE_LIMIT", "1200 per minute"),
        # Per viewer (per address without a valid token). A person clicking through the front
        # end sends a few requests a second at most.
        "GRAPHQL_RATE_LIMIT": os.environ.get("GRAPHQL_RATE_LIMIT", "120 per minute"),
        # memory:// suits one process; several processes share redis://.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }


def _instance_secret(instance: Path) -> str:
    """A per-installation secret, generated once, so no secret ever lives in the code."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _unicode_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Foreign keys on, and WAL with a busy timeout so concurrent writers wait, not fail.

    SQLite's own lower() folds ASCII only, so "Élise@x.com" and "élise@x.com" would be two
    addresses to its unique indexes and one to PostgreSQL's. Replacing it with Unicode lowering
    (deterministic, so indexes may use it) gives both databases the same case-insensitivity.
    """
    if isinstance(connection, sqlite3.Connection):
        connection.create_function("lower", 1, _unicode_lower, deterministic=True)
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
