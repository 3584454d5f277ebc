"""``/healthz`` (the process answers) and ``/readyz`` (it can serve), for load balancers.

Both are outside the rate limits. ``/readyz`` checks, each as one entry of ``checks``:
``database`` (a round trip within the database timeouts), ``schema`` (at the Alembic head, so a
new release is not sent traffic before ``db upgrade`` ran) and ``redis`` (only when the rate
limits are stored there). Any failing check makes it 503.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, Response, current_app, json
from limits.storage import Storage, storage_from_string
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from heap.extensions import db

log = logging.getLogger(__name__)

Check = dict[str, Any]


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        """The process is alive and serving; touches nothing else."""
        return _json({"status": "ok"}, 200)

    @app.get("/readyz")
    def readyz() -> Response:
        """Ready for traffic: database, schema and (when configured) Redis all answer."""
        checks: dict[str, Check] = {}
        checks["database"], checks["schema"] = _database_and_schema()
        if _uses_redis():
            checks["redis"] = _redis()
        ready = all(check["ok"] for check in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return _json(body, 200 if ready else 503)


def _database_and_schema() -> tuple[Check, Check]:
    heads = sorted(_script_heads())
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = sorted(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        log.warning("readiness: database unreachable: %s", error)
        failed = {"ok": False, "error": f"the database did not answer ({type(error).__name__})"}
        return failed, {"ok": False, "error": "unknown: the database did not answer"}
    schema: Check = {"ok": current == heads, "current": current, "head": heads}
    if current != heads:
        schema["error"] = "run `flask --app app db upgrade`"
    return {"ok": True}, schema


def _script_heads() -> tuple[str, ...]:
    cached: tuple[str, ...] | None = current_app.extensions.get("heap_migration_heads")
    if cached is None:
        directory = current_app.extensions["migrate"].directory
        cached = tuple(ScriptDirectory(directory).get_heads())
        current_app.extensions["heap_migration_heads"] = cached
    return cached


def _uses_redis() -> bool:
    return str(current_app.config.get("RATELIMIT_STORAGE_URI", "")).startswith(
        ("redis://", "rediss://", "redis+")
    )


def _redis() -> Check:
    storage: Storage | None = current_app.extensions.get("heap_readiness_redis")
    if storage is None:
        storage = cast(
            Storage,
            storage_from_string(
                str(current_app.config["RATELIMIT_STORAGE_URI"]),
                **current_app.config.get("RATELIMIT_STORAGE_OPTIONS", {}),
            ),
        )
        current_app.extensions["heap_readiness_redis"] = storage
    if storage.check():
        return {"ok": True}
    return {"ok": False, "error": "Redis (RATELIMIT_STORAGE_URI) did not answer"}


def _json(body: dict[str, Any], status: int) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
