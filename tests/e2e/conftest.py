"""A real server for end-to-end tests: gunicorn with several worker processes on 127.0.0.1.

``live_server`` serves the database of the test's ``app`` fixture, so rows the test creates with
factories (committed) are what the server sees, on SQLite and on PostgreSQL alike. Override
``live_server_workers`` or ``live_server_env`` in a test module to change the workers or settings.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from flask import Flask

from heap.extensions import db

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0


def _free_port() -> int:
    for _ in range(50):
        port = random.randint(20000, 40000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 40000 on 127.0.0.1")


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def live_server_workers() -> int:
    return 4


@pytest.fixture
def live_server_env() -> Mapping[str, str]:
    """Extra environment for the server (e.g. SCIM_RATE_LIMIT); empty by default."""
    return {}


@pytest.fixture
def live_server(
    app: Flask,
    tmp_path: Path,
    live_server_workers: int,
    live_server_env: Mapping[str, str],
) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT``) of gunicorn serving ``app:create_app()`` with
    gunicorn.conf.py; its output is in ``tmp_path / "gunicorn.log"``."""
    # The server must see what the test committed, and the test's session must hold no lock
    # (SQLite) or open transaction while the workers write.
    db.session.commit()
    db.session.close()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": str(app.config["SQLALCHEMY_DATABASE_URI"]),
        "SECRET_KEY": str(app.config["SECRET_KEY"]),
        # Workers are separate processes: only Redis gives them one shared rate-limit window.
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379" if redis_reachable() else "memory://",
        "PUBLIC_BASE_URL": base_url,
        "LOG_LEVEL": "WARNING",
        # Viewer ids repeat between runs (PostgreSQL tests restart the sequences) while Redis
        # keeps the counters for a minute: a test that wants the limit sets it itself.
        "GRAPHQL_RATE_LIMIT": "100000 per minute",
        **live_server_env,
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                # The production settings (JSON errors, request-line limit, metrics directory).
                "--config",
                "gunicorn.conf.py",
                "--workers",
                str(live_server_workers),
                "--bind",
                f"127.0.0.1:{port}",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _accepting(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start on {base_url}:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        db.session.close()
