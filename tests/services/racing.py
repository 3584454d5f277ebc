"""Two service calls racing for one lock, and proof that the second one waited for it.

Each call runs in its own thread with its own app context, session and database connection, as
two requests would. The first stops inside its transaction just after ``pause_after`` (a check
it makes under the lock) has run, so it holds the lock. The second is started, and the race
*observes* it waiting on that lock before it lets the first go on:

- PostgreSQL: the second call's backend waits on a lock held by the first call's backend
  (``pg_blocking_pids``; pg_stat_activity's ``wait_event_type`` is ``Lock``);
- SQLite, one writer at a time: the second call is inside a write statement while a probe
  connection that asks for the write lock without waiting is refused it.

``Race.events`` says what each call did, in order, as ``(call, event)``:
- ``checked``: the call ran ``pause_after`` (whether the check passed or refused);
- ``blocked``: the race saw the call waiting on a lock (the second call only);
- ``locked``: the statement it waited in returned: the lock was granted;
- ``commit`` / ``rollback``: its transaction ended (a commit is recorded just before the
  database commits, so while the call still holds its locks).

With a working lock the database fixes the order, not timing: the second call's ``locked``
comes after the first call's ``commit``, and its own ``checked`` after that, so it decided on
what the first committed. Nothing sleeps to let a race happen, and nothing passes because a
sleep ran out: ``TIMEOUT`` only bounds how long a broken lock takes to fail the test.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, Engine, event, text

from heap.extensions import db

FIRST, SECOND = "first", "second"
TIMEOUT = 30.0
# How often the race looks whether the second call waits yet (it stops looking once it does).
POLL_SECONDS = 0.01

# What a correct lock makes happen, whatever the timing: the second call was seen waiting, the
# first committed, and only then did the second get the lock.
WAITED = [(FIRST, "checked"), (SECOND, "blocked"), (FIRST, "commit"), (SECOND, "locked")]

# The statement of heap.transaction.lock_account, which every change to an account's users,
# teams and SCIM settings begins with.
ACCOUNT_LOCK = "UPDATE accounts SET id=accounts.id"


def is_scim_access_lock(sql: str) -> bool:
    """Whether ``sql`` is the lock heap.services.scim_settings.hold_access takes first in every
    IdP write: SQLite's write lock, or a shared lock on the token and account rows."""
    return sql == "BEGIN IMMEDIATE" or (
        sql.startswith("SELECT ") and sql.endswith(" FOR SHARE OF accounts, scim_tokens")
    )


_WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")

# Which racing call the current thread runs, if any.
_CALLER = threading.local()


@dataclass(repr=False)
class Race:
    results: dict[str, Any]  # each call's return value, or the exception it raised
    events: list[tuple[str, str]]
    blocked_in: str  # the SQL statement the second call was seen waiting in

    def __repr__(self) -> str:
        shown = _shown({who: [result] for who, result in self.results.items()})
        return f"Race(results={shown}, events={self.events}, blocked_in={self.blocked_in!r})"


@dataclass(frozen=True, eq=False)
class _Statement:
    sql: str
    backend_pid: int | None  # PostgreSQL's, of the connection running it
    # SQLite: a write that must take the database's write lock (its transaction has not written
    # yet, so it does not hold it already).
    takes_write_lock: bool


@dataclass
class _Tracker:
    """What the racing threads do, from SQLAlchemy's engine events; other threads are ignored."""

    events: list[tuple[str, str]] = field(default_factory=list)
    running: dict[str, _Statement] = field(default_factory=dict)
    last_pid: dict[str, int] = field(default_factory=dict)
    blocked: _Statement | None = None
    paused: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def who(self) -> str | None:
        return getattr(_CALLER, "name", None)

    def record(self, who: str, what: str) -> None:
        with self._lock:
            self.events.append((who, what))

    def before(self, conn: Connection, _cursor: Any, sql: str, *_: Any) -> None:
        who = self.who()
        if who is None:
            return
        pid, takes_write_lock = None, False
        driver: Any = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql":
            pid = driver.info.backend_pid
            self.last_pid[who] = pid
        else:
            writes = sql.lstrip().upper().startswith(_WRITES)
            takes_write_lock = writes and not driver.in_transaction
        self.running[who] = _Statement(sql, pid, takes_write_lock)

    def after(self, _conn: Connection, _cursor: Any, _sql: str, *_: Any) -> None:
        who = self.who()
        if who is None:
            return
        statement = self.running.pop(who, None)
        if statement is not None and statement is self.blocked:
            self.record(who, "locked")

    def commit(self, _conn: Connection) -> None:
        if (who := self.who()) is not None:
            self.record(who, "commit")

    def rollback(self, _conn: Connection) -> None:
        if (who := self.who()) is not None:
            self.record(who, "rollback")

    def pausing(self, check: Callable[..., Any]) -> Callable[..., Any]:
        """``check`` recording each racing call's use; the first call's first use stops after
        it, inside the transaction, until the race releases it."""

        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return check(*args, **kwargs)
            finally:
                who = self.who()
                if who is not None:
                    self.record(who, "checked")
                if who == FIRST and not self.paused.is_set():
                    self.paused.set()
                    self.release.wait(TIMEOUT)

        return checked


def in_thread(
    app: Flask, call: Callable[[], Any], results: list[Any], *, name: str | None = None
) -> threading.Thread:
    """Start ``call`` in a thread of its own, with its own app context, session and connection;
    its return value or exception is appended to ``results``."""

    def run() -> None:
        _CALLER.name = name
        with app.app_context():
            try:
                results.append(call())
            except Exception as error:  # a refusal, or a failure the test shows
                results.append(error)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name=f"race-{name}", daemon=True)
    thread.start()
    return thread


def race(
    app: Flask,
    *,
    first: Callable[[], Any],
    second: Callable[[], Any],
    pause_after: tuple[object, str],
) -> Race:
    """Run ``first`` up to ``pause_after``, then ``second`` until it is seen waiting on a lock
    the first holds, then both to the end. Fails if the second never waits."""
    owner, name = pause_after
    tracker = _Tracker()
    engine = db.engine
    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", tracker.before),
        ("after_cursor_execute", tracker.after),
        ("commit", tracker.commit),
        ("rollback", tracker.rollback),
    ]
    outcomes: dict[str, list[Any]] = {FIRST: [], SECOND: []}
    threads: list[threading.Thread] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, name, tracker.pausing(getattr(owner, name)))
        for identifier, listener in listeners:
            event.listen(engine, identifier, listener)
        try:
            threads.append(in_thread(app, first, outcomes[FIRST], name=FIRST))
            assert tracker.paused.wait(TIMEOUT), (
                f"the first call never ran {name}: {_shown(outcomes)}"
            )
            threads.append(in_thread(app, second, outcomes[SECOND], name=SECOND))
            blocked_in = _wait_until_blocked(engine, tracker, threads[1], outcomes)
        finally:
            tracker.release.set()
            for thread in threads:
                thread.join(TIMEOUT)
            for identifier, listener in listeners:
                event.remove(engine, identifier, listener)
    assert not any(thread.is_alive() for thread in threads), "a racing call never finished"
    results = {who: found[0] for who, found in outcomes.items()}
    return Race(results=results, events=list(tracker.events), blocked_in=blocked_in)


def _wait_until_blocked(
    engine: Engine, tracker: _Tracker, second: threading.Thread, outcomes: dict[str, list[Any]]
) -> str:
    """Look until the second call is seen waiting on the first's lock; the statement it waits in.

    A statement seen running both before and after the database said "waiting" is the one
    that waits: a call runs one statement at a time.
    """
    deadline = time.monotonic() + TIMEOUT
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
        while True:
            running = tracker.running.get(SECOND)
            if (
                running is not None
                and _waits(probe, tracker, running)
                and tracker.running.get(SECOND) is running
            ):
                tracker.blocked = running
                tracker.record(SECOND, "blocked")
                return running.sql
            assert second.is_alive(), (
                f"the second call did not wait for the first: {_shown(outcomes)}"
            )
            assert time.monotonic() < deadline, "the second call was never seen waiting"
            second.join(POLL_SECONDS)


def _shown(outcomes: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Each call's outcome for a failure message: a refusal's text, else only a type (a model
    out of its session cannot load what its repr would show)."""
    return {
        who: [repr(each) if isinstance(each, Exception) else type(each).__name__ for each in found]
        for who, found in outcomes.items()
    }


def _waits(probe: Connection, tracker: _Tracker, running: _Statement) -> bool:
    if probe.dialect.name == "postgresql":
        waiting = probe.execute(
            text(
                "SELECT wait_event_type FROM pg_stat_activity "
                "WHERE pid = :second AND :first = ANY(pg_blocking_pids(:second))"
            ),
            {"second": running.backend_pid, "first": tracker.last_pid[FIRST]},
        ).scalar()
        return waiting == "Lock"
    # Readers never wait in WAL mode, nor does a transaction that holds the write lock already:
    # the lock the probe finds taken is another connection's.
    return running.takes_write_lock and _sqlite_write_lock_taken(str(probe.engine.url.database))


def _sqlite_write_lock_taken(path: str) -> bool:
    """Whether another connection holds the database's write lock (asked without waiting)."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        return True
    else:
        probe.execute("ROLLBACK")
        return False
    finally:
        probe.close()
