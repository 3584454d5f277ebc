"""The README's commands run exactly as written, read from the README itself so the two can't
drift: the operator section in a fresh shell, and the first-hour curl examples with the tokens
``make run`` tells the reader to export."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from heap.extensions import db
from tests.conftest import TEST_SECRET_KEY

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

FLASK = ".venv/bin/flask --app app"
SECONDS = 120


def section(title: str) -> str:
    """The text under ``## title``, up to the next ``## `` heading."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README.read_text(), re.M | re.S)
    assert found, f"README.md has no section {title!r}"
    return found.group(1)


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)


def commands(block: str) -> list[str]:
    """Each command of a ``sh`` block: continuation lines joined, blank and comment lines out."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")
    ]


def fresh_shell(database_url: str, home: Path) -> dict[str, str]:
    """A new shell's environment: no virtualenv on PATH (so a bare `flask` would not be found),
    the test's database, nothing else of this process. The README's commands follow `make run`,
    a development set-up: the database is the test's, the mode stays development."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DATABASE_URL": database_url,
        "HEAP_DEVELOPMENT": "1",
        "SECRET_KEY": TEST_SECRET_KEY,
    }


def bash(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SECONDS,
        check=False,
    )


def _release_the_database() -> None:
    """The commands run in other processes: the test's session must hold no lock meanwhile."""
    db.session.commit()
    db.session.close()


def test_every_operator_command_runs_as_written(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    (block,) = shell_blocks(section("Operator commands"))
    lines = commands(block)
    assert lines and all(line.startswith(f"{FLASK} ") for line in lines), lines
    _release_the_database()
    env = fresh_shell(database_url, tmp_path)
    # What `make run` does first: migrations, then the demo account.
    for setup in (f"{FLASK} db upgrade", f"{FLASK} demo"):
        done = bash(setup, env)
        assert done.returncode == 0, (setup, done.stdout, done.stderr)

    for line in lines:
        done = bash(line, env)
        assert done.returncode == 0, f"{line}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr


def test_the_readme_has_no_bare_flask_command() -> None:
    text = README.read_text()
    bare = re.findall(r"(?<![/\w])flask --app", text)
    assert bare == [], "README commands use `.venv/bin/flask --app app`"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl: apt-get install -y curl")
def test_the_curl_examples_work_with_the_tokens_make_run_prints(
    app: Flask, live_server: str, tmp_path: Path
) -> None:
    """Paste `make run`'s export lines into a shell, then run the README's curl examples."""
    demo = app.test_cli_runner().invoke(args=["demo"])
    assert demo.exit_code == 0, demo.output
    exports = [line for line in demo.stdout.splitlines() if line.startswith("export ")]
    assert [line.split("=", 1)[0] for line in exports] == [
        "export SCIM_TOKEN",
        "export VIEWER_TOKEN",
    ]
    curls = [
        line
        for block in shell_blocks(section("Two commands"))
        for line in commands(block)
        if line.startswith("curl ")
    ]
    assert len(curls) == 2, curls
    # As written, but against this test's server rather than port 5000.
    script = "\n".join([*exports, *curls]).replace("http://127.0.0.1:5000", live_server)
    _release_the_database()
    done = bash(f"set -e\n{script}", fresh_shell("unused", tmp_path))
    assert done.returncode == 0, done.stderr
    scim_users, graphql = (json.loads(line) for line in _json_lines(done.stdout))
    assert [user["userName"] for user in scim_users["Resources"]] == ["admin@acme.example"]
    assert graphql == {
        "data": {
            "viewer": {"email": "admin@acme.example"},
            "account": {"name": "Acme", "plan": "PREMIER"},
        }
    }


def _json_lines(output: str) -> list[str]:
    """curl prints each body as is: split the two JSON documents apart."""
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while index < len(output):
        if output[index].isspace():
            index += 1
            continue
        _, end = decoder.raw_decode(output, index)
        documents.append(output[index:end])
        index = end
    return documents


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make: apt-get install -y make")
def test_make_run_on_a_busy_port_stops_first_with_one_line(tmp_path: Path) -> None:
    """Before migrations or a fresh token: the port is checked first, and the fix is named."""
    database = tmp_path / "untouched.db"
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        env = {**fresh_shell(f"sqlite:///{database}", tmp_path), "PORT": str(port)}
        done = bash("make run", env)
    assert done.returncode != 0
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"127.0.0.1:{port}" in line and "Address already in use" in line
    assert "make run PORT=" in line
    assert not database.exists()
    text = section("Two commands")
    assert "`HOST`" in text and "`PORT`" in text and "make run PORT=" in text
