"""scim2-tester (an independent SCIM 2.0 conformance checker) against the app served by gunicorn.

The server is a real process on 127.0.0.1 sharing the test's database; requests go over HTTP.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from scim2_client.client import BaseSyncSCIMClient
from scim2_tester import check_server
from scim2_tester.utils import CheckResult, Status

from tests.factories import UserFactory, scim_account

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}


class RequestsSCIMClient(BaseSyncSCIMClient):
    """scim2-client over ``requests`` (its own engines need httpx2, not a dependency here)."""

    def __init__(self, base_url: str, token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        full = url if url.startswith("http") else f"{self.base_url}/{url.lstrip('/')}"
        return self.session.request(method, full, timeout=30, **kwargs)

    def _stays_under_base_url(self, endpoint: str) -> bool:
        full = endpoint if endpoint.startswith("http") else f"{self.base_url}/{endpoint}"
        return full.startswith(self.base_url + "/") and ".." not in endpoint


def _free_port() -> int:
    for _ in range(50):
        port = random.randint(20000, 40000)
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port between 20000 and 40000")


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not listen on {port}")


@pytest.fixture
def server(app: Flask) -> Iterator[tuple[str, str]]:
    """The app under gunicorn on the test database; yields (base URL, SCIM token)."""
    account, token = scim_account()
    # Okta's spec test and scim2-tester's queries expect at least one user to exist.
    UserFactory(account=account, email="existing@example.com")  # type: ignore[no-untyped-call]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
        "SECRET_KEY": "e2e-secret",
        "PUBLIC_BASE_URL": base,
        "SCIM_RATE_LIMIT": "100000 per minute",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(GUNICORN),
        "--no-control-socket",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "app:create_app()",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        _wait_for(port, process)
        yield f"{base}/scim/v2", token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run(base: str, token: str, **selection: Any) -> list[CheckResult]:
    client = RequestsSCIMClient(base, token)
    return check_server(client, **selection)


# Findings that are Heap's documented semantics, not bugs; each names the rule that wins.
ACCEPTED = {
    # A Heap teammate is active or deactivated; `active` can't be unassigned, so removing it
    # leaves the user as they are (RFC 7643 §4.1.1 gives `active` no "unassigned" meaning).
    ("check_remove_attribute", "active"),
    # SPEC §4: every User returns its *current* Heap role as heapRole; removing the IdP's value
    # returns the user to the SCIM default role, which is then what heapRole shows.
    ("check_remove_attribute", "urn:ietf:params:scim:schemas:extension:heap:2.0:User"),
    ("check_remove_attribute", "urn:ietf:params:scim:schemas:extension:heap:2.0:User:heapRole"),
}


def _accepted(result: CheckResult) -> bool:
    urn = result.data.get("urn") if isinstance(result.data, dict) else None
    return (result.title, urn) in ACCEPTED


def _failures(results: list[CheckResult]) -> list[str]:
    return [
        f"{r.title} [{r.status.name}] {r.reason} {r.data}"
        for r in results
        if r.status not in PASSING and not _accepted(r)
    ]


def test_discovery_and_misc_checks_pass(server: tuple[str, str]) -> None:
    results = _run(*server, include_tags={"discovery", "misc"})
    assert results
    assert not _failures(results), "\n".join(_failures(results))


def test_user_checks_pass(server: tuple[str, str]) -> None:
    results = _run(*server, resource_types=["User"])
    assert any(r.status is Status.SUCCESS for r in results)
    assert not _failures(results), "\n".join(_failures(results))


@pytest.mark.xfail(
    strict=True,
    reason="scim/groups.py (groups door): PATCH add/replace members answers members without "
    "`type` and with Heap's `display` instead of the sent one; remove this mark once it does",
)
def test_group_checks_pass(server: tuple[str, str]) -> None:
    """Groups are scim/groups.py's (built separately); kept apart so a failure points there."""
    results = _run(*server, resource_types=["Group"])
    assert any(r.status is Status.SUCCESS for r in results)
    assert not _failures(results), "\n".join(_failures(results))
