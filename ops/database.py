"""Database timeouts, so a database that is down or hung costs a request seconds, not a worker.

PostgreSQL gets three bounds, each configurable (seconds):
- ``DATABASE_CONNECT_TIMEOUT`` (3): libpq's ``connect_timeout``; a closed port fails at once,
  a host that never answers fails after this.
- ``DATABASE_STATEMENT_TIMEOUT`` (5): the server's ``statement_timeout``, sent in the connection's
  ``options`` (merged with any ``options`` the URL already carries, such as a ``search_path``).
  A stopped or frozen server cannot enforce its own timeout, so the client also stops waiting
  for an answer one margin later and closes the connection (``AnswerTimeoutConnection``).
- ``DATABASE_POOL_TIMEOUT`` (5): how long a request waits for a free pooled connection.
Worst case on a hung database: answer timeout (7 s) plus a reconnect attempt (3 s), well under
gunicorn's 30 s worker timeout. SQLite keeps its busy timeout (app.py's connection pragmas).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from flask import Flask
from psycopg.abc import PQGen
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine, ExceptionContext, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from heap.extensions import db
from ops import errors, metrics

RV = TypeVar("RV")

# (config key, environment variable, default seconds)
SETTINGS = (
    ("DATABASE_CONNECT_TIMEOUT", "DATABASE_CONNECT_TIMEOUT", 3.0),
    ("DATABASE_STATEMENT_TIMEOUT", "DATABASE_STATEMENT_TIMEOUT", 5.0),
    ("DATABASE_POOL_TIMEOUT", "DATABASE_POOL_TIMEOUT", 5.0),
)
# The client waits this much longer than statement_timeout, so that on a live server the
# server's own timeout fires first and the connection stays usable.
ANSWER_MARGIN_SECONDS = 2.0
# A connect argument only our do_connect hook reads (and removes before libpq sees it).
_ANSWER_TIMEOUT_ARG = "heap_answer_timeout"
# psycopg's wait functions raise this (an OperationalError subclass) when their timeout expires.
_WAIT_TIMEOUT: type[Exception] = psycopg.errors._WaitTimeout


class AnswerTimeoutConnection(psycopg.Connection[Any]):
    """A psycopg connection that gives up on a server that stops answering.

    Every round trip on the connection goes through ``wait``; past ``answer_timeout`` the
    connection is closed (its protocol state is unknown) and an OperationalError raised, which
    SQLAlchemy sees as a disconnect: it discards the pool's connections and reconnects later.
    """

    answer_timeout: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        if timeout is not None or self.answer_timeout is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.answer_timeout)
        except _WAIT_TIMEOUT:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {self.answer_timeout:g} s"
            ) from None


def configure(app: Flask) -> None:
    """Put the timeouts into the engine options; call before ``db.init_app`` builds the engine."""
    for key, variable, default in SETTINGS:
        app.config.setdefault(key, float(os.environ.get(variable, default)))
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        str(app.config["SQLALCHEMY_DATABASE_URI"]),
        dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}),
        connect_timeout=float(app.config["DATABASE_CONNECT_TIMEOUT"]),
        statement_timeout=float(app.config["DATABASE_STATEMENT_TIMEOUT"]),
        pool_timeout=float(app.config["DATABASE_POOL_TIMEOUT"]),
    )


def engine_options(
    url: str,
    options: dict[str, Any],
    *,
    connect_timeout: float,
    statement_timeout: float,
    pool_timeout: float,
) -> dict[str, Any]:
    """``options`` with the PostgreSQL timeouts added; SQLite's are left as they are."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return options
    options.setdefault("pool_timeout", pool_timeout)
    connect_args = dict(options.get("connect_args") or {})
    # libpq reads connect_timeout in whole seconds and treats anything below 2 as 2.
    connect_args.setdefault("connect_timeout", max(2, math.ceil(connect_timeout)))
    # connect_args replace the URL's query arguments of the same name: keep what the URL's own
    # ``options`` say (tests put their search_path there) and add the server settings.
    sent = connect_args.get("options", parsed.query.get("options", ""))
    settings = [sent if isinstance(sent, str) else " ".join(sent)]
    if statement_timeout > 0:
        settings.append(f"-c statement_timeout={round(statement_timeout * 1000)}")
        if parsed.get_driver_name() == "psycopg":
            connect_args[_ANSWER_TIMEOUT_ARG] = statement_timeout + ANSWER_MARGIN_SECONDS
    connect_args["options"] = " ".join(setting for setting in settings if setting)
    options["connect_args"] = connect_args
    return options


@event.listens_for(Engine, "do_connect")
def _connect_with_answer_timeout(
    dialect: Dialect, record: ConnectionPoolEntry, cargs: Any, cparams: dict[str, Any]
) -> AnswerTimeoutConnection | None:
    answer_timeout = cparams.pop(_ANSWER_TIMEOUT_ARG, None)
    if answer_timeout is None:
        return None
    connection = AnswerTimeoutConnection.connect(*cargs, **cparams)
    connection.answer_timeout = float(answer_timeout)
    return connection


@event.listens_for(Engine, "handle_error")
def _count_and_remember(context: ExceptionContext) -> None:
    if context.is_pre_ping:
        # The pool found a dead connection before use and reconnects: the request never sees it.
        return
    error = context.sqlalchemy_exception or context.original_exception
    unavailable = context.is_disconnect or errors.is_unavailable(error)
    metrics.count_database_error(error, unavailable=unavailable)
    if unavailable:
        errors.note_database_failure(error)


@contextmanager
def timeouts_lifted(connection: Connection) -> Iterator[None]:
    """No statement or answer timeout on ``connection`` inside the block, for migrations.

    A migration (a new index on a big table) may rightly run for minutes; a request may not.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    driver = connection.connection.driver_connection
    saved = getattr(driver, "answer_timeout", None)
    connection.exec_driver_sql("SET statement_timeout = 0")
    connection.commit()
    if isinstance(driver, AnswerTimeoutConnection):
        driver.answer_timeout = None
    try:
        yield
    finally:
        if isinstance(driver, AnswerTimeoutConnection):
            driver.answer_timeout = saved
        if not connection.closed and not connection.invalidated:
            connection.rollback()
            # Back to the value the connection was opened with: it returns to the app's pool.
            connection.exec_driver_sql("RESET statement_timeout")
            connection.commit()


def reads_only() -> None:
    """The request only reads: on PostgreSQL, run its statements without a transaction.

    Each statement still sees one consistent snapshot (READ COMMITTED gives a transaction
    nothing more), but BEGIN and the ROLLBACK on the connection's return are two round trips a
    read does not need: two of a single-user GET's five. A write in the same request (the
    token's once-a-minute ``lastUsedAt``) commits on its own, as its unit of work would.
    SQLite begins no transaction for a read anyway. Call before the request's first statement:
    the setting applies to the connection the session takes next.
    """
    session = db.session()
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
