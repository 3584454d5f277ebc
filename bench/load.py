"""The load client: wrk (Debian's package), driven by one Lua script.

wrk, not a Python client: on a 2-core machine the client shares the CPUs with the server it
measures, and wrk's C event loop needs a small fraction of what a Python client would to keep
four connections busy, so the server gets the cores. It is also what the issue's figures used
(`wrk -t1 -c4 -d8s` for reads, one connection for Okta's one-at-a-time writes), so the figures
compare.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "lua" / "request.lua"


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "bench: wrk is not installed; `make bench` installs it with apt-get "
            "(or run: apt-get install -y wrk)"
        )
    return found


def run(
    base_url: str,
    method: str,
    path: str,
    *,
    connections: int,
    seconds: float,
    headers: Mapping[str, str],
    body: str | None = None,
) -> Load:
    """Load ``method path`` for ``seconds`` from ``connections`` connections on one thread.

    ``body`` may hold ``{n}``: each request gets its own value (this run's tag and wrk's request
    counter, which starts again at 1 in every run), so no two runs create the same user.
    """
    tag = secrets.token_hex(3)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        file.write(body.replace("{n}", f"{tag}-{{n}}") if body else "")
    body_path = file.name if body is not None else "-"
    try:
        command = [
            require_wrk(),
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(SCRIPT),
            base_url + "/",
            "--",
            method,
            path,
            body_path,
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        Path(file.name).unlink()
    if result.returncode != 0:
        raise SystemExit(f"bench: wrk failed:\n{result.stdout}{result.stderr}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return Load(
        requests=int(summary["requests"]),
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors={
            key: int(summary[key])
            for key in ("connect", "read", "write", "status", "timeout")
            if summary[key]
        },
    )
