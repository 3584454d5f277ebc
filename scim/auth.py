"""Bearer token -> account and IdentityProvider actor; the per-token and failed-auth limits."""

from __future__ import annotations

import hashlib

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from heap.errors import Unauthenticated
from heap.services import scim_settings
from ops import database
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

# Failed authentications, per client address: a new random token per request gets a fresh
# per-token bucket, and each one still costs a hash and a database lookup. Only 401s count
# (deduct_when); once the limit is reached, every request from the address is answered 429
# before any database work (the limiter runs before ``authenticate``), until the window ends.
AUTH_FAILURE_SCOPE = "scim-auth-failures"


def _client_address() -> str:
    # request.remote_addr is the proxy-corrected address once ProxyFix trusts the proxies.
    return "scim-auth-fail:" + (request.remote_addr or "unknown")


limiter.shared_limit(
    lambda: str(current_app.config["SCIM_AUTH_FAILURE_LIMIT"]),
    scope=AUTH_FAILURE_SCOPE,
    key_func=_client_address,
    deduct_when=lambda response: response.status_code == 401,
)(bp)


# What changes resources; the searches are POSTs that only read.
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@bp.before_request
def authenticate() -> None:
    # A write holds its access from here to its commit: the read that authenticates it is the
    # one its service would otherwise make again (``hold_access``).
    writes = request.method in _WRITES and not request.path.endswith("/.search")
    if not writes:
        database.reads_only()
    g.account, g.actor = scim_settings.authenticate(raw_token=_bearer_token(), hold=writes)
