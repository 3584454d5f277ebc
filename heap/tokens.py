"""Bearer secrets: SCIM tokens (random, stored as a hash) and signed, expiring viewer tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SCIM_TOKEN_PREFIX = "heapscim_"
# How much of a token the UI shows to tell tokens apart: the fixed prefix plus 6 random characters.
VISIBLE_PREFIX_LENGTH = len(SCIM_TOKEN_PREFIX) + 6
_VIEWER_SALT = "heap.viewer-token"


def mint_scim_token() -> str:
    """A new SCIM secret: 256 random bits, URL-safe so it pastes cleanly into Okta."""
    return SCIM_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    # The secret carries 256 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def visible_prefix(raw: str) -> str:
    return raw[:VISIBLE_PREFIX_LENGTH]


def hashes_match(raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(raw), stored_hash)


@dataclass(frozen=True)
class ViewerClaim:
    """What a genuine viewer token says: which user, in which of their sessions.

    The user's current ``session_generation`` must still equal ``session_generation`` for the
    token to sign in: deactivation bumps it, so older tokens die for good.
    """

    user_id: int
    session_generation: int


def sign_viewer_token(secret_key: str, user_id: int, session_generation: int) -> str:
    payload = {"user_id": user_id, "session": session_generation}
    return URLSafeTimedSerializer(secret_key, salt=_VIEWER_SALT).dumps(payload)


def read_viewer_token(secret_key: str, token: str, *, max_age: int) -> ViewerClaim | None:
    """The claim a viewer token was issued with, or None when it is forged, garbled, expired or
    of an older shape (one without a session generation never signs in again)."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_VIEWER_SALT)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(payload, dict):
        return None
    user_id, generation = payload.get("user_id"), payload.get("session")
    # type() rather than isinstance(): JSON's true and false are ints to isinstance.
    if type(user_id) is not int or type(generation) is not int:
        return None
    return ViewerClaim(user_id=user_id, session_generation=generation)
