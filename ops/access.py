"""Per request: a request id, one JSON access line and the request metrics, timed once.

The access line is the only one per request (gunicorn's own access log is off in
gunicorn.conf.py): method, path with query string, status, duration, request id, and who asked
(the SCIM token's visible prefix, or the GraphQL viewer's id), read without touching the database.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request
from sqlalchemy import inspect

from heap import tokens
from heap.actors import IdentityProvider, Member
from ops import errors, metrics

REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

log = logging.getLogger("ops.access")


def init_app(app: Flask) -> None:
    """Register first, so the clock starts before any other hook (the rate limiter's included)."""

    @app.before_request
    def start() -> None:
        # ``g`` belongs to the app context, which a caller that pushed one (a test, a script)
        # keeps across requests: nothing of an earlier request may speak for this one.
        for leftover in ("actor", errors.FAILURE_KEY):
            g.pop(leftover, None)
        g.request_started = time.perf_counter()
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        # Only a plain token goes into the logs: no spaces or newlines to forge log lines with.
        g.request_id = sent if _SAFE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        metrics.observe_request(response.status_code, seconds)
        if log.isEnabledFor(logging.INFO):
            _log_access(response.status_code, seconds)
        return response


def _log_access(status: int, seconds: float) -> None:
    query = request.query_string.decode("latin-1")
    path = f"{request.path}?{query}" if query else request.path
    log.info(
        "%s %s %s",
        request.method,
        path,
        status,
        extra={
            "fields": {
                "method": request.method,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "who": who(),
            }
        },
    )


def who() -> str | None:
    """``scim:<token prefix>`` or ``viewer:<user id>`` for an authenticated request, else None."""
    actor = g.get("actor")
    if isinstance(actor, IdentityProvider):
        # The token authenticated, so the header holds it: its prefix is the stored prefix.
        raw = request.headers.get("Authorization", "").partition(" ")[2].strip()
        return f"scim:{tokens.visible_prefix(raw)}"
    if isinstance(actor, Member):
        # The identity key, not ``user.id``: after a commit that would reload the row.
        identity = inspect(actor.user).identity
        return f"viewer:{identity[0]}" if identity else None
    return None
