"""A real PostgreSQL that goes away, and one that hangs, under gunicorn and a SCIM load.

The test starts its own cluster (initdb, pg_ctl on a free loopback port), migrates it, seeds an
account through the CLI and serves the app with gunicorn.conf.py. While SCIM creates and group
PATCHes run, the cluster is stopped (or frozen with SIGSTOP): every answer must be a 503 with
Retry-After in the door's own shape, never a 500, HTML or a hang (the client gives up after
``CLIENT_TIMEOUT``). Then the cluster comes back and the same server, never restarted, must serve
again; every create that was answered 2xx must exist, and nothing may be half-written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import IN_CI
from tests.e2e.conftest import ROOT, STARTUP_SECONDS, _accepting, _free_port
from tests.e2e.pg_cluster import Cluster, binaries_present

pytestmark = pytest.mark.e2e

# No request may take longer than this, whatever the database does: the app's own bounds
# (2 s connect, 2 s statement + 2 s answer margin below) end each attempt well before.
CLIENT_TIMEOUT = 20
SCIM_JSON = "application/scim+json"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
# As many workers as load threads: a request waits for its own attempt, not behind others'
# (on a hung database each attempt takes up to the answer plus the connect timeout).
LOAD_THREADS = 4
MAX_CREATES_PER_THREAD = 150


@dataclass
class Stack:
    cluster: Cluster
    base_url: str
    scim_token: str
    viewer_token: str
    group_id: str
    log: Path

    @property
    def scim(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.scim_token}", "Content-Type": SCIM_JSON}


@dataclass
class Outcome:
    """What the load saw: every create and PATCH with its status."""

    created: list[str] = field(default_factory=list)  # SCIM ids answered 201
    joined: list[str] = field(default_factory=list)  # SCIM ids whose PATCH answered 2xx
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # anything not allowed, described
    lock: threading.Lock = field(default_factory=threading.Lock)


def _flask(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not binaries_present():
        if IN_CI:
            pytest.fail("CI must have PostgreSQL 15's initdb and pg_ctl for the fault test")
        pytest.skip("needs PostgreSQL 15's server binaries (initdb, pg_ctl)")
    cluster = Cluster(_free_port())
    server: subprocess.Popen[bytes] | None = None
    try:
        cluster.init()
        cluster.start()
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "SECRET_KEY": "fault-test-secret-key-of-at-least-32-bytes",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "RATELIMIT_STORAGE_URI": "memory://",
            "SCIM_RATE_LIMIT": "100000 per minute",
            "LOG_LEVEL": "WARNING",
            "DATABASE_CONNECT_TIMEOUT": "2",
            "DATABASE_STATEMENT_TIMEOUT": "2",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        _flask(env, "db", "upgrade")
        _flask(
            env,
            "accounts",
            "create",
            "Acme",
            "--plan",
            "premier",
            "--sso",
            "--admin",
            "admin@acme.example",
        )
        scim_token = _flask(env, "scim", "enable", "Acme", "--default-role", "Analyst")
        viewer_token = _flask(env, "users", "token", "admin@acme.example")

        log = cluster.root / "gunicorn.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--config",
                    "gunicorn.conf.py",
                    "--workers",
                    str(LOAD_THREADS),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "app:create_app()",
                ],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _accepting(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
            time.sleep(0.05)
        base_url = f"http://127.0.0.1:{port}"
        group = requests.post(
            f"{base_url}/scim/v2/Groups",
            json={"displayName": "Everyone"},
            headers={"Authorization": f"Bearer {scim_token}"},
            timeout=CLIENT_TIMEOUT,
        )
        assert group.status_code == 201, group.text
        yield Stack(cluster, base_url, scim_token, viewer_token, group.json()["id"], log)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        cluster.destroy()


def _check_refusal(response: requests.Response, where: str, outcome: Outcome) -> None:
    """A 503 (or a 429, a lost lock) must carry Retry-After and a SCIM Error body."""
    problems = []
    if not response.headers.get("Retry-After", "").isdigit():
        problems.append("no Retry-After")
    if not response.headers.get("Content-Type", "").startswith(SCIM_JSON):
        problems.append(f"content type {response.headers.get('Content-Type')}")
    else:
        body = response.json()
        if body.get("schemas") != [ERROR_URN] or body.get("status") != str(response.status_code):
            problems.append(f"body {body}")
    if problems:
        outcome.failures.append(f"{where} {response.status_code}: {', '.join(problems)}")


def _load(stack: Stack, stop: threading.Event, outcome: Outcome) -> None:
    """Create a user, then add it to the group; until told to stop (or the bound is reached)."""
    session = requests.Session()
    for _ in range(MAX_CREATES_PER_THREAD):
        if stop.is_set():
            return
        name = f"u-{uuid.uuid4().hex[:12]}@acme.example"
        body: dict[str, Any] = {
            "userName": name,
            "name": {"givenName": "Load", "familyName": "Test"},
        }
        try:
            created = session.post(
                f"{stack.base_url}/scim/v2/Users",
                json=body,
                headers=stack.scim,
                timeout=CLIENT_TIMEOUT,
            )
        except requests.RequestException as error:
            with outcome.lock:
                outcome.failures.append(f"create: {error!r}")
            return
        with outcome.lock:
            outcome.statuses.append(created.status_code)
        if created.status_code != 201:
            if created.status_code in (429, 503):
                _check_refusal(created, "create", outcome)
            else:
                outcome.failures.append(f"create {created.status_code}: {created.text[:200]}")
            continue
        scim_id = created.json()["id"]
        with outcome.lock:
            outcome.created.append(scim_id)
        patch: dict[str, Any] = {
            "schemas": [PATCH_URN],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": scim_id}]}],
        }
        try:
            joined = session.patch(
                f"{stack.base_url}/scim/v2/Groups/{stack.group_id}",
                json=patch,
                headers=stack.scim,
                timeout=CLIENT_TIMEOUT,
            )
        except requests.RequestException as error:
            with outcome.lock:
                outcome.failures.append(f"patch: {error!r}")
            return
        with outcome.lock:
            outcome.statuses.append(joined.status_code)
        if joined.status_code in (200, 204):
            with outcome.lock:
                outcome.joined.append(scim_id)
        elif joined.status_code in (429, 503):
            _check_refusal(joined, "patch", outcome)
        else:
            outcome.failures.append(f"patch {joined.status_code}: {joined.text[:200]}")


def _run_outage(stack: Stack, take_away: str) -> Outcome:
    """Load, then take the database away mid-load, see 503s, bring it back, load again."""
    outcome = Outcome()
    stop = threading.Event()
    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        workers = [pool.submit(_load, stack, stop, outcome) for _ in range(LOAD_THREADS)]
        while len(outcome.created) < 20 and not all(w.done() for w in workers):
            time.sleep(0.05)
        seen_before = len(outcome.statuses)
        if take_away == "stop":
            stack.cluster.stop("immediate")
        else:
            stack.cluster.freeze()
        try:
            # Keep loading through the outage until every thread has met it a few times.
            while outcome.statuses[seen_before:].count(503) < 2 * LOAD_THREADS:
                assert not all(w.done() for w in workers), outcome.failures
                time.sleep(0.1)
            _assert_other_doors_unavailable(stack)
        finally:
            stop.set()
            for worker in workers:
                worker.result()
            if take_away == "stop":
                stack.cluster.start()
            else:
                stack.cluster.thaw()
    return outcome


def _assert_other_doors_unavailable(stack: Stack) -> None:
    graph = requests.post(
        f"{stack.base_url}/graphql",
        json={"query": "{ viewer { email } }"},
        headers={"Authorization": f"Bearer {stack.viewer_token}"},
        timeout=CLIENT_TIMEOUT,
    )
    assert graph.status_code == 503, graph.text
    assert graph.headers["Content-Type"] == "application/json"
    assert int(graph.headers["Retry-After"]) > 0
    assert graph.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    ready = requests.get(f"{stack.base_url}/readyz", timeout=CLIENT_TIMEOUT)
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False
    live = requests.get(f"{stack.base_url}/healthz", timeout=CLIENT_TIMEOUT)
    assert live.status_code == 200


def _assert_recovers_without_restart(stack: Stack) -> Outcome:
    """The same gunicorn serves again once the database is back (bounded wait)."""
    for _ in range(60):
        ready = requests.get(f"{stack.base_url}/readyz", timeout=CLIENT_TIMEOUT)
        if ready.status_code == 200:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"not ready again: {ready.text}")
    after = Outcome()
    stop = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        workers = [pool.submit(_load, stack, stop, after) for _ in range(2)]
        while len(after.joined) < 6 and not all(w.done() for w in workers):
            time.sleep(0.05)
        stop.set()
        for worker in workers:
            worker.result()
    assert after.failures == []
    assert set(after.statuses) <= {201, 204, 429}, after.statuses
    assert len(after.joined) >= 6
    return after


def _assert_nothing_lost_or_half_written(stack: Stack, *outcomes: Outcome) -> None:
    engine = create_engine(stack.cluster.url)
    try:
        with engine.connect() as connection:
            identities = set(connection.execute(text("SELECT id FROM scim_identities")).scalars())
            members = set(
                connection.execute(
                    text(
                        "SELECT i.id FROM team_memberships m"
                        " JOIN teams t ON t.id = m.team_id"
                        " JOIN scim_identities i ON i.user_id = m.user_id"
                        " WHERE t.scim_id = :group"
                    ),
                    {"group": stack.group_id},
                ).scalars()
            )
            users_without_identity = connection.execute(
                text(
                    "SELECT count(*) FROM users u"
                    " LEFT JOIN scim_identities i ON i.user_id = u.id WHERE i.id IS NULL"
                )
            ).scalar()
            members_not_active = connection.execute(
                text(
                    "SELECT count(*) FROM team_memberships m JOIN users u ON u.id = m.user_id"
                    " WHERE u.deactivated_at IS NOT NULL OR u.role_id IS NULL"
                )
            ).scalar()
    finally:
        engine.dispose()
    for outcome in outcomes:
        assert set(outcome.created) <= identities, "a create answered 201 was lost"
        assert set(outcome.joined) <= members, "a PATCH answered 2xx was lost"
    assert users_without_identity == 0
    assert members_not_active == 0


def _assert_no_500_and_no_html(outcome: Outcome, stack: Stack) -> None:
    assert outcome.failures == [], outcome.failures
    assert set(outcome.statuses) <= {201, 204, 429, 503}, outcome.statuses
    assert 503 in outcome.statuses
    lines = [line for line in stack.log.read_text().splitlines() if line.strip()]
    # Every line gunicorn and the app wrote is JSON: no stray traceback, no HTML.
    assert [json.loads(line)["level"] for line in lines]


def test_a_database_that_goes_away_gives_503s_then_recovers(stack: Stack) -> None:
    during = _run_outage(stack, "stop")
    _assert_no_500_and_no_html(during, stack)
    after = _assert_recovers_without_restart(stack)
    _assert_nothing_lost_or_half_written(stack, during, after)


def test_a_hung_database_gives_503s_in_seconds_then_recovers(stack: Stack) -> None:
    during = _run_outage(stack, "freeze")
    _assert_no_500_and_no_html(during, stack)
    after = _assert_recovers_without_restart(stack)
    _assert_nothing_lost_or_half_written(stack, during, after)
