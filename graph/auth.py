"""Viewer tokens on /graphql: whose token a request carries (no SQL), and who it signs in.

Reading the claim checks only the signature and the expiry, so the rate limit can key on it and
a request refused before any resolver runs costs no database read. The viewer is looked up on
first use (``Context.viewer``).
"""

from __future__ import annotations

from flask import Request, current_app

from heap import tokens
from heap.extensions import db
from heap.models import User


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def read_claim(request: Request) -> tokens.ViewerClaim | None:
    """The claim of a genuine, unexpired viewer token on the request; None for anything else."""
    token = bearer_token(request)
    if token is None:
        return None
    return tokens.read_viewer_token(
        current_app.config["SECRET_KEY"],
        token,
        max_age=int(current_app.config["VIEWER_TOKEN_MAX_AGE"]),
    )


def load_viewer(claim: tokens.ViewerClaim | None) -> User | None:
    """The active user the claim names, if the token belongs to their current session.

    Deleted users' ids are never reused (SQLite AUTOINCREMENT, PostgreSQL sequences), and
    deactivation bumps the session generation: a token outlives neither.
    """
    if claim is None:
        return None
    user = db.session.get(User, claim.user_id)
    if user is None or not user.is_active:
        return None
    return user if user.session_generation == claim.session_generation else None
