"""A lock lost to a concurrent change is a retryable refusal (BUSY), never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Connection

from heap.errors import Busy
from heap.extensions import db
from heap.models import Account
from heap.transaction import lock_account, unit_of_work
from tests.factories import AccountFactory


@contextmanager
def other_writer(backend: str, account_id: int) -> Iterator[Connection]:
    """A second connection holding the lock the app's session will want."""
    with db.engine.connect() as connection:
        if backend == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's one writer lock
        else:
            connection.execute(
                text("SELECT id FROM accounts WHERE id = :id FOR UPDATE"), {"id": account_id}
            )
        yield connection
        connection.rollback()


def _wait_briefly(backend: str) -> None:
    """Give up on a lock after 100 ms instead of the app's patient default."""
    if backend == "sqlite":
        db.session.execute(text("PRAGMA busy_timeout = 100"))
    else:
        db.session.execute(text("SET LOCAL lock_timeout = '100ms'"))


def test_a_lock_held_elsewhere_becomes_busy_and_nothing_is_applied(
    app: Flask, backend: str
) -> None:
    account = cast(Account, AccountFactory.create(name="Before"))
    account_id = account.id
    try:
        with other_writer(backend, account_id), pytest.raises(Busy), unit_of_work():
            _wait_briefly(backend)
            account.name = "After"
            lock_account(account)
    finally:
        if backend == "sqlite":
            db.session.execute(text("PRAGMA busy_timeout = 10000"))
            db.session.commit()
    db.session.expire_all()
    assert db.session.get(Account, account_id).name == "Before"  # type: ignore[union-attr]


def test_other_operational_errors_are_not_disguised(app: Flask) -> None:
    with pytest.raises(Exception) as raised, unit_of_work():
        db.session.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(raised.value, Busy)
