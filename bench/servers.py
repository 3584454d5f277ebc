"""gunicorn on 127.0.0.1, started and stopped by the bench (by its own PID, nothing else)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path

    def worker_pids(self) -> list[int]:
        """The workers gunicorn forked (children of its master)."""
        children: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children += [int(pid) for pid in text]
        return children


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


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def gunicorn(app: str, env: Mapping[str, str], log: Path, workers: int = 2) -> Iterator[Server]:
    """Serve ``app`` (a gunicorn app spec) with sync workers and no access log.

    Its output (the app's own JSON request log included) goes to ``log``.
    """
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--no-control-socket",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        app,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process.pid, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _accepting(port) or len(server.worker_pids()) < workers:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: gunicorn did not start {app}:\n{log.read_text()}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
