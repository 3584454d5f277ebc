"""Error pages in each door's shape, and the one rule for "the database is unavailable".

Flask's default error pages are HTML. Every door registers a renderer for its URL prefix
(``register_shape``): the SCIM door answers RFC 7644 Error bodies under /scim/v2, the GraphQL door
GraphQL JSON on /graphql, and every other path gets a small JSON body. The app-level handlers here
decide the status (404, 405, 413, 500, 503 ...) once; the door only decides the shape.

A database that is down, hung or out of connections is not a bug in the request: it answers 503
with ``Retry-After``, which Okta and Entra retry with back-off, where a 500 fails the push.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, has_app_context, json, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Long enough for a restarted database or a failover to come back; Okta and Entra back off
# further on their own when it has not.
RETRY_AFTER_SECONDS = 5

# SQLSTATE classes that say the database cannot serve right now: 08 connection exception,
# 53 insufficient resources (too many connections, disk full), 57 operator intervention (shutdown,
# statement_timeout's query_canceled), 58 system error (I/O).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})

# SQLite primary result codes of the same kind: BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN,
# PROTOCOL.
_UNAVAILABLE_SQLITE_CODES = frozenset({5, 6, 7, 10, 13, 14, 15})

# Headers an HTTPException may carry that the client needs (werkzeug adds Allow to a 405).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

_SHAPES_KEY = "heap_error_shapes"
FAILURE_KEY = "_database_failure"


class DatabaseUnavailable(Exception):
    """Raised by a door that caught a database failure its framework had already swallowed."""


# Every exception class a database outage surfaces as; ``is_unavailable`` refines them.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    DatabaseUnavailable,
)


@dataclass(frozen=True)
class Problem:
    """A failure to answer, before a door gives it its wire shape."""

    status: int
    code: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


Renderer = Callable[[Problem], Response]


def register_shape(app: Flask, prefix: str, render: Renderer) -> None:
    """Answer failures under ``prefix`` (a path or a path prefix) with ``render``."""
    app.extensions.setdefault(_SHAPES_KEY, {})[prefix.rstrip("/")] = render


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot serve now (retry later), not a bug."""
    if isinstance(error, PoolTimeout | DatabaseUnavailable):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate)[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        # SQLite says "no such table" with the same exception class as "disk I/O error": only
        # the (primary) result code tells a missing file or lock from a bug.
        return sqlite_code & 0xFF in _UNAVAILABLE_SQLITE_CODES
    # No code at all: the driver itself gave up (connection refused or reset, answer timeout).
    return isinstance(error, OperationalError | InterfaceError)


def note_database_failure(error: BaseException) -> None:
    """Remember, for this request, that the database failed (a door may have swallowed it)."""
    if has_app_context():
        setattr(g, FAILURE_KEY, error)


def database_failure() -> BaseException | None:
    """The database failure this request ran into, if any."""
    return g.get(FAILURE_KEY) if has_app_context() else None


def unavailable_problem(error: BaseException) -> Problem:
    """The 503 for a database failure: logged once, counted, with Retry-After."""
    log.warning("database unavailable (%s): %s", type(error).__name__, _first_line(error))
    return Problem(
        503,
        "SERVICE_UNAVAILABLE",
        "Heap's database is not answering right now. Retry this request after "
        f"{RETRY_AFTER_SECONDS} seconds.",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_problem() -> Problem:
    request_id = g.get("request_id", "-")
    return Problem(
        500,
        "INTERNAL_SERVER_ERROR",
        f"Heap could not complete this request. Quote request id {request_id} to Heap support.",
    )


def http_problem(error: HTTPException) -> Problem:
    status = error.code or 500
    headers = {
        name: value for name, value in error.get_headers() if name in _KEPT_HEADERS and value
    }
    code = (error.name or "Error").upper().replace(" ", "_")
    message = error.description or error.name or "The request could not be handled."
    return Problem(status, code, message, headers)


def render(problem: Problem) -> Response:
    """``problem`` in the shape of the door that owns the request's path."""
    shapes: dict[str, Renderer] = current_app.extensions.get(_SHAPES_KEY, {})
    path = request.path.rstrip("/")
    for prefix, renderer in shapes.items():
        if path == prefix or path.startswith(prefix + "/"):
            return renderer(problem)
    return plain_json(problem)


def plain_json(problem: Problem) -> Response:
    """The shape for paths no door owns: small, JSON, with the request id."""
    body: dict[str, Any] = {
        "status": problem.status,
        "error": problem.code,
        "message": problem.message,
        "requestId": g.get("request_id"),
    }
    response = Response(json.dumps(body), status=problem.status, mimetype="application/json")
    response.headers.update(problem.headers)
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        log.exception("unhandled error in request %s", g.get("request_id", "-"))
        return render(internal_problem())

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return render(http_problem(error))

    def database_error(error: Exception) -> Response:
        if is_unavailable(error):
            return render(unavailable_problem(error))
        return unexpected_error(error)

    for error_class in DATABASE_ERRORS:
        app.register_error_handler(error_class, database_error)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0] if text else type(error).__name__
