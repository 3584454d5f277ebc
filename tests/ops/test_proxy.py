"""X-Forwarded-For counts only when PROXY_FIX_HOPS says how many proxies stand in front."""

from __future__ import annotations

from flask import request

from app import create_app
from tests.conftest import TEST_SECRET_KEY


def _remote_addr_seen(hops: int) -> str:
    # The route touches no database.
    proxied = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "PROXY_FIX_HOPS": hops,
        }
    )

    @proxied.get("/whoami")
    def whoami() -> str:
        return request.remote_addr or ""

    response = proxied.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    return response.get_data(as_text=True)


def test_forwarded_for_is_ignored_unless_hops_are_configured() -> None:
    # A client talking to the app directly cannot pick its address (the rate-limit key).
    assert _remote_addr_seen(0) == "10.0.0.2"
    # One trusted proxy: the address it saw, not what the client claimed before it.
    assert _remote_addr_seen(1) == "203.0.113.9"
    assert _remote_addr_seen(2) == "198.51.100.7"
