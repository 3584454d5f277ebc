"""A plain pytest run ends by saying what it skipped and how to include it (issue 11: a third of
the suite, the PostgreSQL half, was skipped with no word in the summary)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_summary_counts_postgresql_skips_and_names_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_URL", "CI"}}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--basetemp={tmp_path / 'run'}",
            "tests/test_cli.py::test_users_token_verifies_and_is_audited",
            "tests/test_cli.py::test_demo_is_idempotent_and_revokes_its_earlier_tokens",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    heading = next(i for i, line in enumerate(lines) if "skipped, and how to include them" in line)
    assert lines[heading + 1] == (
        "2 tests skipped: PostgreSQL is not configured; to include them, set "
        "TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (see README)"
    )
    assert "2 passed, 2 skipped" in lines[-1]
