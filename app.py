"""The Heap SCIM service: ``create_app`` wires configuration, the database and the two doors."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import tempfile
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
    app.config["DEVELOPMENT"] = _is_development(app)
    app.config["SECRET_KEY"] = _signing_key(app)

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
    database_url = os.environ.get("DATABASE_URL") or _default_database_url(app)
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        # hide_parameters: a failed statement's error (and so the log) never carries the values
        # it was sent, which may be a SCIM token's label, an email or a request's body.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        # Development (the default SQLite file, or this set): the signing key may come from the
        # instance folder and `flask demo` may change data. Production needs SECRET_KEY.
        "DEVELOPMENT": os.environ.get("HEAP_DEVELOPMENT", "").lower() in {"1", "true", "yes"},
        # How long a viewer token minted by `flask users token` stays valid.
        "VIEWER_TOKEN_MAX_AGE": int(os.environ.get("VIEWER_TOKEN_MAX_AGE", 12 * 3600)),
        # Per SCIM token. Okta retries 429s after Retry-After on its own.
        "SCIM_RATE_LIMIT": os.environ.get("SCIM_RATE_LIMIT", "1200 per minute"),
        # Per viewer (per address without a valid token). A person clicking through the front
        # end sends a few requests a second at most.
        "GRAPHQL_RATE_LIMIT": os.environ.get("GRAPHQL_RATE_LIMIT", "120 per minute"),
        # Per client address, counting only failed authentications (401s). IdPs share egress
        # addresses between their customers: generous, so one tenant's stale token rarely slows
        # another's pushes (which Okta retries after Retry-After anyway).
        "SCIM_AUTH_FAILURE_LIMIT": os.environ.get("SCIM_AUTH_FAILURE_LIMIT", "60 per minute"),
        # memory:// suits one process; several processes share redis://.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }


class ConfigurationError(RuntimeError):
    """A setting the app refuses to start with; the message says what to change."""


# itsdangerous signs with HMAC-SHA1 over a derived key: 32 bytes is the floor for a secret that
# no one can guess or brute-force offline from a captured viewer token.
MIN_SECRET_KEY_BYTES = 32
_KEY_FILE = "secret_key"
# Read, else create, else read the winner's: more rounds only if someone deletes the file meanwhile.
_KEY_ATTEMPTS = 3


def _default_database_url(app: Flask) -> str:
    return f"sqlite:///{Path(app.instance_path) / 'heap.db'}"


def _is_development(app: Flask) -> bool:
    """Development is the zero-set-up SQLite file in the instance folder, or DEVELOPMENT set.

    Anything else (DATABASE_URL set) is treated as production: shared data, several processes,
    maybe several hosts, so nothing may be generated locally.
    """
    if app.config.get("DEVELOPMENT"):
        return True
    return bool(app.config["SQLALCHEMY_DATABASE_URI"] == _default_database_url(app))


def _signing_key(app: Flask) -> str:
    """SECRET_KEY from the settings, else (development only) the instance folder's own key."""
    configured = app.config.get("SECRET_KEY")
    if configured is not None:
        return _checked_key(str(configured), source="SECRET_KEY")
    if not app.config["DEVELOPMENT"]:
        raise ConfigurationError(
            "SECRET_KEY is not set. Outside development (DATABASE_URL is set) every process "
            "must sign viewer tokens with the same secret: set SECRET_KEY to at least "
            f"{MIN_SECRET_KEY_BYTES} random bytes, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
    path = Path(app.instance_path) / _KEY_FILE
    return _checked_key(_instance_secret(path), source=str(path))


def _checked_key(key: str, *, source: str) -> str:
    # Surrounding whitespace is a copy-paste accident (a trailing newline), not key material.
    key = key.strip()
    if len(key.encode("utf-8")) < MIN_SECRET_KEY_BYTES:
        raise ConfigurationError(
            f"The signing key from {source} is {'empty' if not key else 'too short'}: it must "
            f"be at least {MIN_SECRET_KEY_BYTES} bytes, or anyone could forge viewer tokens. "
            "Generate one with `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            + (
                "."
                if source == "SECRET_KEY"
                else f", or delete {source} to have a new one generated (viewer tokens signed "
                "with the old one stop working)."
            )
        )
    return key


def _instance_secret(path: Path) -> str:
    """The installation's key, created once, atomically, readable by its owner only.

    The key is written and flushed to a private temporary file that is then hard-linked into
    place: the link is atomic and fails if the file exists, so a reader only ever sees a whole
    key, and when processes start together on a fresh instance folder the losers read the
    winner's key. The temporary file is created with mode 0600, so no one else can read the key
    at any moment; a crash leaves at worst an unused temporary file, never an empty key.
    """
    for _ in range(_KEY_ATTEMPTS):
        try:
            return _read_key(path)
        except FileNotFoundError:
            pass
        _create_key(path)
    raise ConfigurationError(f"Could not create or read the signing key at {path}.")


def _read_key(path: Path) -> str:
    with path.open("rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            # Written by an older version, which created the file world-readable.
            os.fchmod(file.fileno(), 0o600)
        content = file.read()
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"The signing key in {path} is not text: delete the file to have a new one "
            "generated (viewer tokens signed with the old one stop working)."
        ) from None


def _create_key(path: Path) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{_KEY_FILE}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_urlsafe(48).encode("ascii"))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            # Another process won: its key is complete, since it was flushed before the link.
            return
        _fsync_directory(path.parent)
    finally:
        os.unlink(temporary)


def _fsync_directory(directory: Path) -> None:
    """Make the new name survive a crash, so a restart never generates a second key."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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
