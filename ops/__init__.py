"""Operations: what neither the domain nor a door owns. ``create_app`` wires it.

Rate limits (limits), database timeouts (database), request ids, the access line and request
metrics (access), JSON logs (logs), error pages in each door's shape and 503 on database failures
(errors), /healthz and /readyz (health), Prometheus metrics (metrics), and the gunicorn worker
whose own error pages are JSON (gunicorn_worker, used by gunicorn.conf.py).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Call before ``db.init_app``: the database timeouts are options of the engine it builds."""
    from ops import access, database, errors, health, limits, logs, metrics, proxy, security

    logs.configure(app)
    database.configure(app)
    proxy.init_app(app)
    # First request hook: the clock and the request id start before the rate limiter's check.
    access.init_app(app)
    limits.init_app(app)
    errors.init_app(app)
    health.init_app(app)
    metrics.serve(app)
    security.init_app(app)
