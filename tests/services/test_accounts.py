"""services.accounts: create (with built-in roles), plan, SSO, lookups."""

from __future__ import annotations

from typing import cast

import pytest
from flask import Flask

from heap.actors import IdentityProvider
from heap.errors import AlreadyExists, Forbidden, Invalid, NotFound
from heap.extensions import db
from heap.models import Account, AuditOutcome, Plan, ScimToken
from heap.services import accounts, roles
from tests.factories import AccountFactory, ScimTokenFactory
from tests.services.helpers import OPERATOR, admin_of, analyst_of, events, reload


def test_create_seeds_builtin_roles_and_audits(app: Flask) -> None:
    account = accounts.create(
        actor=OPERATOR, name="  Acme   Corp ", plan=Plan.PREMIER, sso_configured=True
    )
    db.session.expire_all()
    stored = reload(Account, account.id)
    assert (stored.name, stored.plan, stored.sso_configured, stored.scim_enabled) == (
        "Acme Corp",
        "premier",
        True,
        False,
    )
    seeded = [(r.name, r.is_builtin, r.is_admin) for r in roles.list_roles(account=stored)]
    assert seeded == [
        ("Admin", True, True),
        ("Architect", True, False),
        ("Analyst", True, False),
        ("Consumer", True, False),
    ]
    [event] = events(stored)
    assert (event.action, event.actor_kind, event.target_id, event.outcome) == (
        "account.create",
        "operator",
        str(account.id),
        AuditOutcome.APPLIED.value,
    )
    assert event.details == {"plan": "premier", "sso_configured": True}


@pytest.mark.parametrize("name", ["", "   ", "12345", "x" * 256])
def test_create_refuses_bad_names(app: Flask, name: str) -> None:
    with pytest.raises(Invalid) as raised:
        accounts.create(actor=OPERATOR, name=name, plan=Plan.FREE)
    assert raised.value.field == "name"
    assert db.session.query(Account).count() == 0


def test_create_refuses_a_taken_name(app: Flask) -> None:
    accounts.create(actor=OPERATOR, name="Acme", plan=Plan.FREE)
    with pytest.raises(AlreadyExists):
        accounts.create(actor=OPERATOR, name=" Acme ", plan=Plan.PRO)
    assert db.session.query(Account).count() == 1


def test_create_refuses_the_identity_provider(app: Flask) -> None:
    token = cast(ScimToken, ScimTokenFactory.create())
    with pytest.raises(Forbidden):
        accounts.create(actor=IdentityProvider.through(token), name="Evil", plan=Plan.PREMIER)
    assert accounts.find_by_name(name="Evil") is None


def test_parse_plan() -> None:
    assert accounts.parse_plan(" Premier ") is Plan.PREMIER
    assert accounts.parse_plan("growth") is Plan.GROWTH
    with pytest.raises(Invalid) as raised:
        accounts.parse_plan("platinum")
    assert raised.value.field == "plan"
    assert "free, growth, pro, premier" in raised.value.message


def test_lookups_by_id_and_name(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(name="Globex"))
    assert accounts.get_by_ref(ref="Globex") is account
    assert accounts.get_by_ref(ref=str(account.id)) is account
    assert accounts.find_by_name(name="Globex") is account
    assert accounts.find_by_name(name="globex") is None
    with pytest.raises(NotFound):
        accounts.get_by_ref(ref="Initech")
    with pytest.raises(NotFound):
        accounts.get_by_ref(ref=str(account.id + 100))


def test_set_plan_changes_and_audits_only_real_changes(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(plan="growth"))
    admin = admin_of(account)
    accounts.set_plan(account=account, actor=admin, plan=Plan.PREMIER)
    accounts.set_plan(account=account, actor=admin, plan=Plan.PREMIER)
    db.session.expire_all()
    assert reload(Account, account.id).plan == "premier"
    [event] = events(account, "account.set_plan")
    assert event.details == {"from": "growth", "to": "premier"}
    assert event.actor_kind == "member"
    assert event.actor_label == admin.user.email


def test_set_plan_refused_for_a_non_admin_is_audited(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(plan="growth"))
    with pytest.raises(Forbidden):
        accounts.set_plan(account=account, actor=analyst_of(account), plan=Plan.PREMIER)
    db.session.expire_all()
    assert reload(Account, account.id).plan == "growth"
    [event] = events(account, "account.set_plan")
    assert event.outcome == AuditOutcome.REFUSED.value
    assert event.reason is not None and event.reason.startswith("FORBIDDEN: ")


def test_configure_sso(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(sso_configured=False))
    accounts.configure_sso(account=account, actor=OPERATOR, configured=True)
    accounts.configure_sso(account=account, actor=OPERATOR, configured=True)
    db.session.expire_all()
    assert reload(Account, account.id).sso_configured is True
    [event] = events(account, "account.configure_sso")
    assert event.details == {"sso_configured": True}
    accounts.configure_sso(account=account, actor=OPERATOR, configured=False)
    assert reload(Account, account.id).sso_configured is False


def test_configure_sso_refused_for_a_non_admin(app: Flask) -> None:
    account = cast(Account, AccountFactory.create(sso_configured=False))
    with pytest.raises(Forbidden):
        accounts.configure_sso(account=account, actor=analyst_of(account), configured=True)
    db.session.expire_all()
    assert reload(Account, account.id).sso_configured is False
    [event] = events(account, "account.configure_sso")
    assert (event.outcome, event.target_id) == (AuditOutcome.REFUSED.value, str(account.id))
