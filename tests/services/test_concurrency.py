"""Service calls racing each other for the account's lock (tests/services/racing.py).

The first call stops inside its transaction just after the check a concurrent call could
invalidate; the second is seen waiting on the lock, and decides only once the first committed.
Without the lock both would decide on the same stale state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import func, select

from heap import policy
from heap.actors import Member
from heap.errors import LastAdmin, ScimAlreadyEnabled, ScimNotEnabled, Unauthenticated
from heap.extensions import db
from heap.models import Account, AuditEvent, AuditOutcome, ScimToken, User
from heap.services import scim_settings, users
from tests.factories import AccountFactory, UserFactory, role, role_name
from tests.services.helpers import OPERATOR
from tests.services.racing import ACCOUNT_LOCK, FIRST, SECOND, WAITED, race

# The second call made its check only after the first committed, and was refused by it.
REFUSED_AFTER_WAITING = [*WAITED, (SECOND, "checked"), (SECOND, "rollback"), (SECOND, "commit")]


def test_an_admin_and_an_operator_demoting_the_two_admins_leave_one(app: Flask) -> None:
    """Ada demotes Bob while an operator demotes Ada: whichever waits finds one Admin left."""
    account = cast(Account, AccountFactory.create())
    ada = cast(User, UserFactory.create(account=account, admin=True))
    bob = cast(User, UserFactory.create(account=account, admin=True))
    analyst_id = role(account, "Analyst").id
    ids = (account.id, ada.id, bob.id)

    def demote(actor_id: int | None, target_id: int) -> Callable[[], Any]:
        def call() -> Any:
            mine = db.session.get_one(Account, ids[0])
            actor = OPERATOR if actor_id is None else Member(db.session.get_one(User, actor_id))
            return users.change_role(
                account=mine, actor=actor, user_id=target_id, role_id=analyst_id
            )

        return call

    raced = race(
        app,
        first=demote(ada.id, bob.id),
        second=demote(None, ada.id),
        pause_after=(users, "count_active_admins"),
    )

    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    # The refusal is audited in a transaction of its own, after the rollback.
    assert raced.events == REFUSED_AFTER_WAITING
    assert isinstance(raced.results[FIRST], User)
    assert isinstance(raced.results[SECOND], LastAdmin)
    db.session.expire_all()
    assert [role_name(db.session.get_one(User, i)) for i in ids[1:]] == ["Admin", "Analyst"]


def test_two_admins_removing_each_other_leave_one_admin(app: Flask) -> None:
    """The second Admin is deleted while their own removal of the first waits: they are
    signed out, and the refusal is still in the log."""
    account = cast(Account, AccountFactory.create())
    ada = cast(User, UserFactory.create(account=account, admin=True))
    bob = cast(User, UserFactory.create(account=account, admin=True))
    bob_email = bob.email

    def remove(actor_id: int, target_id: int) -> Callable[[], Any]:
        def call() -> Any:
            mine = db.session.get_one(Account, account.id)
            actor = Member(db.session.get_one(User, actor_id))
            return users.remove(account=mine, actor=actor, user_id=target_id)

        return call

    raced = race(
        app,
        first=remove(ada.id, bob.id),
        second=remove(bob.id, ada.id),
        pause_after=(users, "count_active_admins"),
    )

    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    assert raced.events == [*WAITED, (SECOND, "rollback"), (SECOND, "commit")]
    assert raced.results[FIRST] is None
    assert isinstance(raced.results[SECOND], Unauthenticated)
    db.session.expire_all()
    assert db.session.scalars(select(User.id)).all() == [ada.id]
    # The refusal is in the log though its actor, Bob, was deleted by the first call meanwhile.
    refused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.outcome == AuditOutcome.REFUSED.value)
    ).all()
    assert [(e.action, e.actor_label, e.target_id) for e in refused] == [
        ("user.remove", bob_email, str(ada.id))
    ]


def test_two_concurrent_enables_mint_one_token(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(plan="premier", sso_configured=True))
    analyst_id = role(account, "Analyst").id
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id

    def enable() -> Any:
        mine = db.session.get_one(Account, account.id)
        actor = Member(db.session.get_one(User, admin_id))
        return scim_settings.enable(account=mine, actor=actor, default_role_id=analyst_id)

    raced = race(app, first=enable, second=enable, pause_after=(policy, "ensure_may_enable_scim"))

    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    assert raced.events == REFUSED_AFTER_WAITING
    assert isinstance(raced.results[SECOND], ScimAlreadyEnabled)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ScimToken)) == 1


@pytest.mark.parametrize("first", ["rotate", "disable"])
def test_a_rotation_racing_a_disable_leaves_no_active_token(app: Flask, first: str) -> None:
    """Whichever commits first, SCIM ends off with no token that works: a rotation that
    commits first is revoked by the disable; one that waits for the disable is refused."""
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

    rotate, disable = act(scim_settings.rotate_token), act(scim_settings.disable)
    calls = (rotate, disable) if first == "rotate" else (disable, rotate)
    raced = race(
        app, first=calls[0], second=calls[1], pause_after=(policy, "ensure_may_manage_scim")
    )

    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    if first == "rotate":
        assert raced.events == [*WAITED, (SECOND, "checked"), (SECOND, "commit")]
        assert isinstance(raced.results[SECOND], Account)
    else:
        assert raced.events == REFUSED_AFTER_WAITING
        assert isinstance(raced.results[SECOND], ScimNotEnabled)
    db.session.expire_all()
    active = select(func.count()).select_from(ScimToken).where(ScimToken.revoked_at.is_(None))
    assert db.session.get_one(Account, account.id).scim_enabled is False
    assert db.session.scalar(active) == 0
