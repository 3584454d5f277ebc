"""Bearer token -> account and IdentityProvider actor, and the per-token rate limit."""

from __future__ import annotations

import hashlib

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from heap.errors import Unauthenticated
from heap.services import scim as scim_settings
from ops.limits import limiter
from scim import bp


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Send the SCIM token from Heap as 'Authorization: Bearer <token>' (in Okta: the "
            "API Token field of the Provisioning tab)."
        )
    return token.strip()


def _rate_limit_key() -> str:
    # One bucket per presented token (hashed, never the secret itself); no token, one per address.
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    if token:
        return "scim-token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "scim-addr:" + get_remote_address()


limiter.limit(lambda: str(current_app.config["SCIM_RATE_LIMIT"]), key_func=_rate_limit_key)(bp)


@bp.before_request
def authenticate() -> None:
    g.account, g.actor = scim_settings.authenticate(raw_token=_bearer_token())
