"""Operations: what neither the domain nor a door owns (rate limits today; health, readiness,
metrics, request logs and error pages belong here too). ``create_app`` wires it."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from ops import limits, security

    limits.limiter.init_app(app)
    security.init_app(app)
