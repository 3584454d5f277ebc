"""Bearer token -> account and IdentityProvider actor; the per-token and failed-auth limits."""

from __future__ import annotations

import hashlib

from flask import Response, g, request

from heap.errors import Unauthenticated
from heap.services import scim_settings
from ops import database
from ops.limits import Limit
from scim import bp


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Send the SCIM token from Heap as 'Authorization: Bearer <token>' (in Okta: the "
            "API Token field of the Provisioning tab)."
        )
    return token.strip()


# Every request, per presented token (hashed, never the secret itself); without one, per address.
PER_TOKEN = Limit("SCIM_RATE_LIMIT", "scim")
# Failed authentications, per client address: a new random token per request gets a fresh
# per-token bucket, and each one still costs a hash and a database lookup. Only 401s count;
# once the limit is reached, every request from the address is answered 429 before any
# database work (``limit`` runs before ``authenticate``), until the window ends.
AUTH_FAILURES = Limit("SCIM_AUTH_FAILURE_LIMIT", "scim-auth-failures")


def _token_key() -> str:
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "addr:" + _address()


def _address() -> str:
    # request.remote_addr is the proxy-corrected address once ProxyFix trusts the proxies.
    return request.remote_addr or "unknown"


@bp.before_request
def limit() -> None:
    AUTH_FAILURES.check(_address())
    PER_TOKEN.hit(_token_key())


@bp.after_request
def count_failed_authentication(response: Response) -> Response:
    if response.status_code == 401:
        AUTH_FAILURES.count(_address())
    return response


# What changes resources, by method; by route, what answers such a method without writing:
# the searches (RFC 7644 §3.4.3) and the endpoints Heap does not offer (501).
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NEVER_WRITE = frozenset(
    {"scim.search_users", "scim.search_groups", "scim.search_everything", "scim.me", "scim.bulk"}
)


@bp.before_request
def authenticate() -> None:
    # A write holds its access from here to its commit: the read that authenticates it is the
    # one its service would otherwise make again (``hold_access``).
    writes = request.method in _WRITES and request.endpoint not in _NEVER_WRITE
    if not writes:
        database.reads_only()
    g.account, g.actor = scim_settings.authenticate(raw_token=_bearer_token(), hold=writes)
