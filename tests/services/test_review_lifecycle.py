"""A user's state as the IdP says it (active: false, active not sent), the address it sent,
memberships only for active users, the SCIM default role after disabling, atomic account setup."""

from __future__ import annotations

from typing import cast

import pytest
from flask import Flask
from sqlalchemy import func, select

from heap.errors import AlreadyExists, EmailInOtherAccount, Invalid
from heap.extensions import db
from heap.models import Account, Plan, Role, ScimIdentity, Team, User, utcnow
from heap.services import accounts, memberships, provisioning, roles, scim_settings
from heap.services.provisioning import EmailAddress, IdpProfile
from tests.factories import AccountFactory, TeamFactory, UserFactory, role, role_name, scim_account
from tests.services.helpers import (
    OPERATOR,
    events,
    idp_deactivates,
    idp_of,
    idp_replaces,
    member_ids,
    reload,
)

# ---- active: false on creation (item 7) --------------------------------------------------------


def test_provisioning_an_inactive_profile_creates_a_tombstone(app: Flask) -> None:
    account, _ = scim_account()
    profile = IdpProfile(user_name="k@example.com", active=False, heap_role="Architect")
    role(account, "Architect")
    identity = provisioning.provision(account=account, actor=idp_of(account), profile=profile)
    user = reload(ScimIdentity, identity.id).user
    assert (user.is_active, user.role, user.email) == (False, None, "k@example.com")
    assert reload(ScimIdentity, identity.id).idp_role == "Architect"
    [event] = events(account, "user.provision")
    assert event.details == {"active": False}
    # Activated later, it gets the role the IdP sent.
    idp_replaces(
        account=account,
        actor=idp_of(account),
        scim_id=identity.id,
        profile=IdpProfile(user_name="k@example.com", active=True),
    )
    assert role_name(reload(ScimIdentity, identity.id).user) == "Architect"


def test_an_inactive_profile_for_a_teammate_heap_has_is_refused(app: Flask) -> None:
    """A second identity for the same person would only fail later, at activation."""
    account, _ = scim_account()
    holder = cast(User, UserFactory.create(account=account, email="k@example.com"))
    profile = IdpProfile(
        user_name="other-upn", emails=[EmailAddress("k@example.com")], active=False
    )
    with pytest.raises(AlreadyExists) as raised:
        provisioning.provision(account=account, actor=idp_of(account), profile=profile)
    assert holder.scim_identity.id in raised.value.message


def test_reposting_an_inactive_profile_onto_a_tombstone_keeps_it_deactivated(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = provisioning.provision(
        account=account, actor=idp, profile=IdpProfile(user_name="k@x.io")
    )
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    again = IdpProfile(user_name="k@x.io", given_name="Kay", active=False)
    restored = provisioning.provision(account=account, actor=idp, profile=again)
    assert restored.id == identity.id
    user = reload(ScimIdentity, identity.id).user
    assert (user.is_active, user.role, user.given_name) == (False, None, "Kay")
    assert events(account, "user.restore") == []


# ---- active not sent keeps the state (item 8) --------------------------------------------------


def test_an_update_without_active_keeps_the_user_deactivated(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = provisioning.provision(
        account=account, actor=idp, profile=IdpProfile(user_name="k@x.io")
    )
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    put = IdpProfile(user_name="k@x.io", given_name="Kay")
    assert put.active is None
    idp_replaces(account=account, actor=idp, scim_id=identity.id, profile=put)
    user = reload(ScimIdentity, identity.id).user
    assert (user.is_active, user.given_name) == (False, "Kay")
    assert events(account, "user.reactivate") == []


def test_an_update_without_active_keeps_the_user_active(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = provisioning.provision(
        account=account, actor=idp, profile=IdpProfile(user_name="k@x.io")
    )
    idp_replaces(
        account=account, actor=idp, scim_id=identity.id, profile=IdpProfile(user_name="k@x.io")
    )
    assert reload(ScimIdentity, identity.id).user.is_active is True


# ---- the address the IdP sent (item 9) -------------------------------------------------------


def test_the_sent_address_is_kept_beside_the_login_email(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    profile = IdpProfile(
        user_name="ada@corp.example",
        emails=[EmailAddress("Ada.Work@example.com", type="work", primary=True)],
    )
    identity = provisioning.provision(account=account, actor=idp, profile=profile)
    stored = reload(ScimIdentity, identity.id)
    assert (stored.user.email, stored.email) == ("ada@corp.example", "Ada.Work@example.com")
    idp_replaces(
        account=account,
        actor=idp,
        scim_id=identity.id,
        profile=IdpProfile(
            user_name="ada@corp.example",
            emails=[
                EmailAddress("home@example.com", type="home"),
                EmailAddress("new@example.com", type="work"),
            ],
        ),
    )
    assert reload(ScimIdentity, identity.id).email == "new@example.com"
    idp_replaces(
        account=account,
        actor=idp,
        scim_id=identity.id,
        profile=IdpProfile(user_name="ada@corp.example"),
    )
    assert reload(ScimIdentity, identity.id).email is None


# ---- memberships only for active users (item 4) -------------------------------------------------


def test_the_membership_insert_itself_skips_inactive_and_foreign_users(app: Flask) -> None:
    account, _ = scim_account()
    team = cast(Team, TeamFactory.create(account=account))
    active = cast(User, UserFactory.create(account=account))
    gone = cast(User, UserFactory.create(account=account))
    gone.deactivated_at, gone.role = utcnow(), None
    db.session.commit()
    foreign = cast(User, UserFactory.create())
    added = memberships.add(account=account, team=team, user_ids=[active.id, gone.id, foreign.id])
    assert added == 1
    assert member_ids(team) == {active.id}


# ---- the SCIM default role after disabling (item 5) ---------------------------------------------


def test_disabling_scim_frees_its_default_role(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    sales = roles.create(account=account, actor=OPERATOR, name="Sales")
    scim_settings.enable(account=account, actor=OPERATOR, default_role_id=sales.id)
    scim_settings.disable(account=account, actor=OPERATOR)
    assert reload(Account, account.id).scim_default_role_id is None
    roles.delete(account=account, actor=OPERATOR, role_id=sales.id)
    assert db.session.get(Role, sales.id) is None
    # Enabling again names a default role afresh.
    scim_settings.enable(
        account=account, actor=OPERATOR, default_role_id=role(account, "Consumer").id
    )
    assert reload(Account, account.id).scim_default_role_id == role(account, "Consumer").id


# ---- the first Admin in the account's own transaction (item 6) ----------------------------------


def test_an_account_with_its_first_admin(app: Flask) -> None:
    account = accounts.create(
        actor=OPERATOR, name="Foo", plan=Plan.PREMIER, admin_email=" ada@example.com "
    )
    [admin] = db.session.scalars(select(User).where(User.account_id == account.id))
    assert (admin.email, role_name(admin), admin.scim_identity.user_name) == (
        "ada@example.com",
        "Admin",
        "ada@example.com",
    )
    assert [e.action for e in events(account)] == ["account.create", "user.invite"]


@pytest.mark.parametrize(
    ("email", "error"), [("not-an-email", Invalid), ("taken@example.com", EmailInOtherAccount)]
)
def test_a_refused_first_admin_leaves_no_account(
    app: Flask, email: str, error: type[Exception]
) -> None:
    UserFactory.create(email="taken@example.com")
    before = db.session.scalar(select(func.count()).select_from(Account))
    with pytest.raises(error):
        accounts.create(actor=OPERATOR, name="Foo", plan=Plan.PREMIER, admin_email=email)
    assert accounts.find_by_name(name="Foo") is None
    assert db.session.scalar(select(func.count()).select_from(Account)) == before
