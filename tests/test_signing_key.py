"""The signing key: long enough, from the environment in production, created once and atomically."""

from __future__ import annotations

import multiprocessing
import os
import stat
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Empty

import pytest
from flask import Flask

import app as app_module
from app import MIN_SECRET_KEY_BYTES, ConfigurationError, create_app

GOOD_KEY = "k" * MIN_SECRET_KEY_BYTES


def _bare_app(instance: Path, **config: object) -> Flask:
    """A Flask app whose instance folder is ``instance``: the key code, without the repo's own."""
    instance.mkdir(parents=True, exist_ok=True)
    bare = Flask("signing_key_test", instance_path=str(instance))
    bare.config.update(
        SQLALCHEMY_DATABASE_URI=app_module._default_database_url(bare),
        SECRET_KEY=None,
        DEVELOPMENT=False,
    )
    bare.config.update(config)
    bare.config["DEVELOPMENT"] = app_module._is_development(bare)
    return bare


@pytest.mark.parametrize(
    "key",
    ["", "   ", "\n\t ", "x" * (MIN_SECRET_KEY_BYTES - 1), " " + "x" * 31 + "\n"],
    ids=["empty", "spaces", "whitespace", "31-bytes", "31-bytes-padded"],
)
def test_a_short_or_blank_secret_key_is_refused_at_start(key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": key})


def test_a_long_enough_key_is_used_without_its_surrounding_whitespace(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'x.db'}"
    made = create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": f" {GOOD_KEY}\n"})
    assert made.config["SECRET_KEY"] == GOOD_KEY
    # Multi-byte characters count as the bytes they are.
    assert app_module._signing_key(_bare_app(tmp_path, SECRET_KEY="é" * 16)) == "é" * 16


def test_production_refuses_to_start_without_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("HEAP_DEVELOPMENT", raising=False)
    database = f"postgresql+psycopg://heap@db.internal/heap?x={tmp_path.name}"
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": database})


def test_only_development_may_use_the_instance_key(tmp_path: Path) -> None:
    # The default SQLite file in the instance folder is development: the key is generated.
    default = _bare_app(tmp_path / "default")
    assert default.config["DEVELOPMENT"] is True
    key = app_module._signing_key(default)
    assert len(key.encode()) >= MIN_SECRET_KEY_BYTES
    assert (tmp_path / "default" / "secret_key").read_text() == key
    # Any other database is production, unless development is asked for explicitly.
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    production = _bare_app(tmp_path / "production", SQLALCHEMY_DATABASE_URI=elsewhere)
    assert production.config["DEVELOPMENT"] is False
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        app_module._signing_key(production)
    assert not (tmp_path / "production" / "secret_key").exists()
    asked = _bare_app(tmp_path / "asked", SQLALCHEMY_DATABASE_URI=elsewhere, DEVELOPMENT=True)
    assert app_module._signing_key(asked) == (tmp_path / "asked" / "secret_key").read_text()


def test_a_broken_instance_key_is_refused_not_used(tmp_path: Path) -> None:
    """An empty key left by an older version (or a crash) must never become the signing key."""
    path = tmp_path / "secret_key"
    path.write_text("")
    with pytest.raises(ConfigurationError, match=f"or delete {path}"):
        app_module._signing_key(_bare_app(tmp_path))
    path.write_bytes(b"\xff" * 40)
    with pytest.raises(ConfigurationError, match="not text"):
        app_module._signing_key(_bare_app(tmp_path))


def test_an_old_world_readable_key_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text(GOOD_KEY)
    path.chmod(0o644)
    assert app_module._signing_key(_bare_app(tmp_path)) == GOOD_KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _start(path: str, barrier: Barrier, results: Queue[str]) -> None:
    """One process starting: wait for the others, then read (or create) the key."""
    barrier.wait(timeout=30)
    try:
        results.put(app_module._instance_secret(Path(path)))
    except BaseException as error:  # reported by the test as a key that does not match
        results.put(repr(error))


ROUNDS = 30
PROCESSES = 20


def test_processes_starting_together_on_a_fresh_folder_all_read_one_whole_key(
    tmp_path: Path,
) -> None:
    """Seen before the fix: empty and mismatched keys from processes that started together."""
    context = multiprocessing.get_context("fork")
    for round_number in range(ROUNDS):
        folder = tmp_path / f"instance-{round_number}"
        folder.mkdir()
        path = folder / "secret_key"
        barrier = context.Barrier(PROCESSES)
        results = context.Queue()
        workers = [
            context.Process(target=_start, args=(str(path), barrier, results))
            for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        keys: list[str] = []
        for _ in workers:
            try:
                keys.append(results.get(timeout=60))
            except Empty:
                break
        for worker in workers:
            worker.join(timeout=30)
        assert len(keys) == PROCESSES, keys
        assert len(set(keys)) == 1, f"round {round_number}: {sorted(set(keys))}"
        assert len(keys[0].encode()) >= MIN_SECRET_KEY_BYTES, keys[0]
        assert path.read_text() == keys[0]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        # No temporary file is left behind.
        assert [p.name for p in folder.iterdir()] == ["secret_key"]


def test_the_key_is_never_readable_by_others_even_under_a_permissive_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old key file was world-readable until its chmod; the new one is private from birth.

    Observed where the key gets its name: the file linked into place must already be 0600.
    """
    modes: list[int] = []
    real_link = os.link

    def observed_link(source: str, target: str) -> None:
        modes.append(stat.S_IMODE(os.stat(source).st_mode))
        real_link(source, target)

    monkeypatch.setattr(os, "link", observed_link)
    previous = os.umask(0)
    try:
        key = app_module._instance_secret(tmp_path / "secret_key")
    finally:
        os.umask(previous)
    assert modes == [0o600]
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert len(key) >= MIN_SECRET_KEY_BYTES


def test_a_crash_before_the_link_leaves_no_key_and_the_next_start_makes_one(
    tmp_path: Path,
) -> None:
    """A crash (or a full disk) between creating and writing left an empty key; now it leaves
    at most an unused temporary file, and the next start creates a whole key."""
    (tmp_path / ".secret_key.crashed").write_bytes(b"half")
    key = app_module._instance_secret(tmp_path / "secret_key")
    assert len(key) >= MIN_SECRET_KEY_BYTES
    assert (tmp_path / "secret_key").read_text() == key
