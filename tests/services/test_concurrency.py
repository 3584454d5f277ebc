"""Service calls racing each other: each thread has its own app context, session and connection.

A pause inside the first call's transaction, after its checks, lets the second call reach the
same checks: without the account lock both would decide on the same stale state.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import func, select

from heap import policy
from heap.actors import Member
from heap.errors import HeapError, LastAdmin, ScimAlreadyEnabled
from heap.extensions import db
from heap.models import Account, ScimToken, User
from heap.services import scim_settings, users
from tests.factories import AccountFactory, UserFactory, role, role_name

PAUSE = 1.0  # how long the first call waits, inside its transaction, for the second


@contextmanager
def _pause_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> Iterator[None]:
    """After ``owner.name`` returns, wait (up to PAUSE) for the other thread to get there too."""
    barrier = threading.Barrier(2)
    real = getattr(owner, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        # Broken: the other call is held by the lock, so go on without it.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=PAUSE)
        return result

    monkeypatch.setattr(owner, name, paused)
    yield


def _race(app: Flask, *calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once, each in its own app context; each one's result or HeapError."""
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int, call: Callable[[], Any]) -> None:
        with app.app_context():
            try:
                start.wait(timeout=10)
                results[index] = call()
            except HeapError as error:
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_admins_demoting_each_other_leave_one_admin(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = cast(Account, AccountFactory.create())
    ada = cast(User, UserFactory.create(account=account, admin=True))
    bob = cast(User, UserFactory.create(account=account, admin=True))
    analyst_id = role(account, "Analyst").id
    ids = (account.id, ada.id, bob.id)

    def demote(actor_id: int, target_id: int) -> Callable[[], Any]:
        def call() -> Any:
            mine = db.session.get_one(Account, ids[0])
            actor = Member(db.session.get_one(User, actor_id))
            return users.change_role(
                account=mine, actor=actor, user_id=target_id, role_id=analyst_id
            )

        return call

    with _pause_after(monkeypatch, users, "count_active_admins"):
        results = _race(app, demote(ada.id, bob.id), demote(bob.id, ada.id))

    refused = [r for r in results if isinstance(r, HeapError)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], LastAdmin)
    db.session.expire_all()
    assert sorted(role_name(db.session.get_one(User, i)) or "" for i in ids[1:]) == [
        "Admin",
        "Analyst",
    ]


def test_two_admins_removing_each_other_leave_one_admin(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = cast(Account, AccountFactory.create())
    ada = cast(User, UserFactory.create(account=account, admin=True))
    bob = cast(User, UserFactory.create(account=account, admin=True))

    def remove(actor_id: int, target_id: int) -> Callable[[], Any]:
        def call() -> Any:
            mine = db.session.get_one(Account, account.id)
            actor = Member(db.session.get_one(User, actor_id))
            return users.remove(account=mine, actor=actor, user_id=target_id)

        return call

    with _pause_after(monkeypatch, users, "count_active_admins"):
        results = _race(app, remove(ada.id, bob.id), remove(bob.id, ada.id))

    assert sum(isinstance(r, LastAdmin) for r in results) == 1, results
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_two_concurrent_enables_mint_one_token(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    account = cast(Account, AccountFactory.create(plan="premier", sso_configured=True))
    analyst_id = role(account, "Analyst").id
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id

    def enable() -> Any:
        mine = db.session.get_one(Account, account.id)
        actor = Member(db.session.get_one(User, admin_id))
        return scim_settings.enable(account=mine, actor=actor, default_role_id=analyst_id)

    with _pause_after(monkeypatch, policy, "ensure_may_enable_scim"):
        results = _race(app, enable, enable)

    assert sum(isinstance(r, ScimAlreadyEnabled) for r in results) == 1, results
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ScimToken)) == 1


def test_a_rotation_racing_a_disable_leaves_no_active_token(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = cast(Account, AccountFactory.create(plan="premier", sso_configured=True))
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    scim_settings.enable(
        account=account,
        actor=Member(db.session.get_one(User, admin_id)),
        default_role_id=role(account, "Analyst").id,
    )

    def act(call: Callable[..., Any]) -> Callable[[], Any]:
        def run() -> Any:
            mine = db.session.get_one(Account, account.id)
            return call(account=mine, actor=Member(db.session.get_one(User, admin_id)))

        return run

    with _pause_after(monkeypatch, policy, "ensure_may_manage_scim"):
        _race(app, act(scim_settings.rotate_token), act(scim_settings.disable))

    db.session.expire_all()
    active = select(func.count()).select_from(ScimToken).where(ScimToken.revoked_at.is_(None))
    assert db.session.get_one(Account, account.id).scim_enabled is False
    assert db.session.scalar(active) == 0
