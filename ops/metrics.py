"""Prometheus metrics at /metrics, correct under several gunicorn workers.

Under gunicorn each worker is its own process: gunicorn.conf.py points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start, every worker writes
its samples there, and /metrics (answered by any worker) adds them up. Without that variable (the
Flask dev server, tests in one process) the process's own registry is served.

Protection: with ``METRICS_TOKEN`` set, /metrics wants ``Authorization: Bearer <METRICS_TOKEN>``
(Prometheus' ``authorization`` scrape setting). Without it, only a loopback peer that came through
no proxy may read it (a proxy on the same host would make every client look local).
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from sqlalchemy.orm import Session

from heap.services import audit

# A *_created sample per series doubles the output and no dashboard here reads it.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "heap_http_requests",
    "HTTP requests answered, by route template (never the raw path), method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "heap_http_request_duration_seconds",
    "Time from the first request hook to the response, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SCIM_OPERATIONS = Counter(
    "heap_scim_operations",
    "Changes the identity provider asked for, by resource, operation and outcome "
    "(applied, skipped, refused): one per committed audit event of a SCIM token.",
    ["resource", "operation", "outcome"],
)
RATE_LIMITED = Counter(
    "heap_rate_limit_refusals",
    "Requests refused with 429 by a rate limit, by route template.",
    ["route"],
)
DATABASE_ERRORS = Counter(
    "heap_database_errors",
    "Errors the database driver raised, by kind (unavailable: down, hung, out of connections; "
    "other: constraint races, lock contention, bugs) and exception class.",
    ["kind", "error"],
)

UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_IDP_KIND = "identity_provider"


def route_label() -> str:
    """The matched URL rule (``/scim/v2/Users/<user_id>``), so ids never become label values."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def observe_request(status: int, seconds: float) -> None:
    route = route_label()
    method = request.method if request.method in _METHODS else "OTHER"
    REQUESTS.labels(route, method, str(status)).inc()
    REQUEST_SECONDS.labels(route, method).observe(seconds)


def count_rate_limited(*_: Any) -> None:
    """Every refusal by a limit of the app (``ops.limits``), whichever door answers the 429."""
    RATE_LIMITED.labels(route_label()).inc()


def count_database_error(error: BaseException, *, unavailable: bool) -> None:
    DATABASE_ERRORS.labels("unavailable" if unavailable else "other", type(error).__name__).inc()


def serve(app: Flask) -> None:
    app.config.setdefault("METRICS_TOKEN", os.environ.get("METRICS_TOKEN"))

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text format, summed over every worker process."""
        if not _allowed():
            from ops.errors import Problem, render

            return render(
                Problem(
                    403,
                    "FORBIDDEN",
                    "Metrics need 'Authorization: Bearer <METRICS_TOKEN>' (or, without a "
                    "METRICS_TOKEN setting, a direct request from this host).",
                )
            )
        return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host")


def _allowed() -> bool:
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        # As bytes: compare_digest refuses a str holding anything but ASCII (a 500, not a 403).
        given = sent.strip().encode("utf-8", "surrogateescape")
        return scheme.lower() == "bearer" and hmac.compare_digest(given, token.encode())
    # A proxy on this host makes every client look local: any proxy header means "not local".
    proxied = any(name in request.headers for name in _PROXY_HEADERS)
    return request.remote_addr in {"127.0.0.1", "::1"} and not proxied


# SCIM outcomes, counted from the audit log itself: every change, skip and refusal the IdP causes
# writes one audit_events row, and heap.services.audit notes each row it wrote in the session.
# Counting them once the session's commit succeeded counts only what happened. Listening here
# keeps heap/ free of any metrics code.
@event.listens_for(Session, "after_commit")
def _count_scim_events(session: Session) -> None:
    for row in session.info.pop(audit.WRITTEN, ()):
        # After the commit nothing may fail: every key read as if it could be missing.
        if row.get("actor_kind") == _IDP_KIND:
            resource = row.get("target_kind") or "none"
            SCIM_OPERATIONS.labels(resource, row.get("action"), row.get("outcome")).inc()


@event.listens_for(Session, "after_rollback")
def _forget_scim_events(session: Session) -> None:
    session.info.pop(audit.WRITTEN, None)
