"""The per-token SCIM rate limit holds across server processes when they share Redis."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest
import requests

from scim.constants import ERROR_URN
from tests.e2e.conftest import redis_reachable
from tests.factories import scim_account

LIMIT = 5


@pytest.fixture
def live_server_workers() -> int:
    return 3


@pytest.fixture
def live_server_env() -> Mapping[str, str]:
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("CI must reach Redis at 127.0.0.1:6379 for the shared rate limit")
        pytest.skip("needs Redis at 127.0.0.1:6379")
    return {"SCIM_RATE_LIMIT": f"{LIMIT} per minute"}


def test_limit_is_shared_by_every_worker_and_answers_429_with_retry_after(
    app: object, live_server: str
) -> None:
    _, token = scim_account()
    other_account_token = scim_account()[1]
    headers = {"Authorization": f"Bearer {token}"}

    # Keep-alive off: each request may land on any of the workers.
    responses = [
        requests.get(
            f"{live_server}/scim/v2/Users",
            headers={**headers, "Connection": "close"},
            timeout=30,
        )
        for _ in range(LIMIT + 3)
    ]

    statuses = [response.status_code for response in responses]
    assert statuses == [200] * LIMIT + [429] * 3
    refused = responses[-1]
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["Content-Type"].startswith("application/scim+json")
    body = refused.json()
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == "429"
    assert body["detail"].startswith("Too many requests for this SCIM token")
    assert responses[0].headers.get("Retry-After") is None
    # Another token has its own budget.
    other = requests.get(
        f"{live_server}/scim/v2/Users",
        headers={"Authorization": f"Bearer {other_account_token}"},
        timeout=30,
    )
    assert other.status_code == 200
