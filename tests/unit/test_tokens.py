"""SCIM secrets (minted, hashed, shown by prefix) and signed viewer tokens."""

from __future__ import annotations

import hashlib
import time

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from heap import tokens


def test_minted_tokens_are_prefixed_url_safe_and_distinct() -> None:
    minted = {tokens.mint_scim_token() for _ in range(50)}
    assert len(minted) == 50
    for raw in minted:
        assert raw.startswith(tokens.SCIM_TOKEN_PREFIX)
        secret = raw.removeprefix(tokens.SCIM_TOKEN_PREFIX)
        # 32 random bytes, base64url without padding: 43 characters.
        assert len(secret) == 43
        assert set(secret) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_hash_is_sha256_hex_and_matches_only_its_secret() -> None:
    raw = tokens.mint_scim_token()
    digest = tokens.hash_token(raw)
    assert digest == hashlib.sha256(raw.encode()).hexdigest()
    assert len(digest) == 64
    assert digest != raw
    assert tokens.hashes_match(raw, digest)
    assert not tokens.hashes_match(raw + "x", digest)
    assert not tokens.hashes_match(tokens.mint_scim_token(), digest)


def test_visible_prefix_is_the_fixed_prefix_and_six_characters() -> None:
    raw = tokens.mint_scim_token()
    prefix = tokens.visible_prefix(raw)
    assert len(prefix) == len(tokens.SCIM_TOKEN_PREFIX) + 6
    assert raw.startswith(prefix)
    assert prefix != raw


def _claim(user_id: int, generation: int = 0) -> tokens.ViewerClaim:
    return tokens.ViewerClaim(user_id=user_id, session_generation=generation)


def test_viewer_token_round_trip() -> None:
    token = tokens.sign_viewer_token("secret", 42, 0)
    assert tokens.read_viewer_token("secret", token, max_age=3600) == _claim(42)
    again = tokens.sign_viewer_token("secret", 7, 3)
    assert tokens.read_viewer_token("secret", again, max_age=60) == _claim(7, 3)


def test_viewer_token_signed_with_another_key_is_refused() -> None:
    token = tokens.sign_viewer_token("other-secret", 42, 0)
    assert tokens.read_viewer_token("secret", token, max_age=3600) is None


def test_forged_or_garbled_viewer_tokens_are_refused() -> None:
    token = tokens.sign_viewer_token("secret", 42, 0)
    payload, _, signature = token.rpartition(".")
    # The first character: the last one of base64 carries padding bits a flip may not change.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert tokens.read_viewer_token("secret", f"{payload}.{flipped}", max_age=3600) is None
    assert tokens.read_viewer_token("secret", "not-a-token", max_age=3600) is None
    assert tokens.read_viewer_token("secret", "", max_age=3600) is None
    # Same key, another salt (another purpose): not a viewer token.
    other_purpose = URLSafeTimedSerializer("secret", salt="something-else").dumps(
        {"user_id": 42, "session": 0}
    )
    assert tokens.read_viewer_token("secret", other_purpose, max_age=3600) is None


def test_viewer_token_with_a_payload_of_the_wrong_shape_is_refused() -> None:
    serializer = URLSafeTimedSerializer("secret", salt=tokens._VIEWER_SALT)
    for payload in (
        [42],
        {"user_id": "42", "session": 0},
        {"user_id": 42, "session": "0"},
        {"user_id": True, "session": 0},
        {"user_id": 42, "session": False},
        {},
    ):
        assert tokens.read_viewer_token("secret", serializer.dumps(payload), max_age=3600) is None


def test_a_token_from_before_session_generations_never_signs_in() -> None:
    """Tokens minted before sessions were tracked carry only a user id: they are refused, so
    one minted for a since-deleted SQLite id can't sign in as whoever holds that id now."""
    serializer = URLSafeTimedSerializer("secret", salt=tokens._VIEWER_SALT)
    old_shape = serializer.dumps({"user_id": 42})
    assert tokens.read_viewer_token("secret", old_shape, max_age=3600) is None


def test_expired_viewer_token_is_refused() -> None:
    token = tokens.sign_viewer_token("secret", 42, 0)
    assert tokens.read_viewer_token("secret", token, max_age=-1) is None


def test_viewer_token_expires_after_max_age() -> None:
    """A token signed an hour ago is valid for two hours and expired for half an hour."""

    serializer = URLSafeTimedSerializer("secret", salt=tokens._VIEWER_SALT)
    signer = serializer.make_signer()
    assert isinstance(signer, TimestampSigner)
    signer.get_timestamp = lambda: int(time.time()) - 3600  # type: ignore[method-assign]
    old = signer.sign(serializer.dump_payload({"user_id": 42, "session": 0})).decode()
    assert tokens.read_viewer_token("secret", old, max_age=7200) == _claim(42)
    assert tokens.read_viewer_token("secret", old, max_age=1800) is None
