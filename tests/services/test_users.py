"""services.users: in-app invite, remove, change_role; the IdP's provision, update, delete."""

from __future__ import annotations

from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import select

from heap.actors import IdentityProvider
from heap.errors import (
    AlreadyExists,
    EmailInOtherAccount,
    EmailUnavailable,
    Forbidden,
    Invalid,
    LastAdmin,
    NotFound,
    ScimManaged,
)
from heap.extensions import db
from heap.models import Account, Plan, Role, ScimIdentity, Team, User
from heap.services import accounts, directory, lifecycle, provisioning, scim_settings, teams, users
from heap.services.provisioning import UNSET, EmailAddress, IdpProfile, _Unset
from heap.services.teams import Members
from tests.factories import (
    AccountFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
    role,
    role_name,
    scim_account,
)
from tests.services.helpers import (
    OPERATOR,
    admin_of,
    analyst_of,
    events,
    idp_deactivates,
    idp_of,
    idp_replaces,
    member_ids,
    reload,
)


def _profile(user_name: str, **kwargs: Any) -> IdpProfile:
    return IdpProfile(user_name=user_name, **kwargs)


# ---- invite -------------------------------------------------------------------------------


def test_invite_creates_a_teammate_with_an_identity(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    architect = role(account, "Architect")
    user = users.invite(
        account=account,
        actor=admin_of(account),
        email=" Ada@Example.com ",
        role_id=architect.id,
        given_name=" Ada ",
        family_name="Lovelace",
    )
    user = reload(User, user.id)
    assert (user.email, role_name(user), user.given_name, user.family_name, user.is_active) == (
        "Ada@Example.com",
        "Architect",
        "Ada",
        "Lovelace",
        True,
    )
    assert user.scim_identity.user_name == "Ada@Example.com"
    assert user.scim_identity.idp_managed is False
    [event] = events(account, "user.invite")
    assert (event.target_id, event.details) == (user.scim_identity.id, {"role": "Architect"})


def test_invite_defaults_to_the_scim_default_role_only_while_scim_is_enabled(app: Flask) -> None:
    """Disabling SCIM clears its default role: invites then fall back to Analyst."""
    account = cast(Account, AccountFactory.create())
    assert role_name(users.invite(account=account, actor=OPERATOR, email="a@example.com")) == (
        "Analyst"
    )
    scim_settings.enable(
        account=account, actor=OPERATOR, default_role_id=role(account, "Consumer").id
    )
    # Off Premier SCIM stays enabled but idle, and invites are open again.
    accounts.set_plan(account=account, actor=OPERATOR, plan=Plan.GROWTH)
    assert role_name(users.invite(account=account, actor=OPERATOR, email="b@example.com")) == (
        "Consumer"
    )
    scim_settings.disable(account=account, actor=OPERATOR)
    assert account.scim_default_role is None
    assert role_name(users.invite(account=account, actor=OPERATOR, email="c@example.com")) == (
        "Analyst"
    )


def test_invite_refusals(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    existing = cast(User, UserFactory.create(account=account, email="taken@example.com"))
    UserFactory.create(email="elsewhere@example.com")
    admin = admin_of(account)
    cases: list[tuple[str, type[Exception], str | None]] = [
        ("not-an-email", Invalid, "email"),
        ("TAKEN@example.com", AlreadyExists, "email"),
        # Held in another organization: one answer that does not say so (no existence oracle).
        ("Elsewhere@Example.com", EmailUnavailable, "email"),
    ]
    for email, error, field in cases:
        with pytest.raises(error) as raised:
            users.invite(account=account, actor=admin, email=email)
        assert getattr(raised.value, "field", None) == field
    with pytest.raises(Forbidden):
        users.invite(account=account, actor=analyst_of(account), email="n@example.com")
    with pytest.raises(NotFound):
        users.invite(
            account=account,
            actor=admin,
            email="n@example.com",
            role_id=role(cast(Account, AccountFactory.create()), "Admin").id,
        )
    count = db.session.scalar(select(db.func.count()).where(User.account_id == account.id))
    assert count == 3  # existing, admin, analyst
    assert existing.is_active


def test_invite_refused_in_scim_mode(app: Flask) -> None:
    account, _ = scim_account()
    with pytest.raises(ScimManaged):
        users.invite(account=account, actor=admin_of(account), email="new@example.com")
    with pytest.raises(ScimManaged):
        users.invite(account=account, actor=OPERATOR, email="new@example.com")
    assert lifecycle.find_active_by_email(email="new@example.com") is None


def test_reinvite_restores_a_deactivated_teammate(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = provisioning.provision(
        account=account, actor=idp, profile=_profile("bo@example.com")
    )
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    account.scim_enabled = False
    db.session.commit()
    user = users.invite(
        account=account,
        actor=OPERATOR,
        email="bo@example.com",
        role_id=role(account, "Consumer").id,
    )
    user = reload(User, user.id)
    assert user.is_active and role_name(user) == "Consumer"
    assert user.scim_identity.id == identity.id
    with pytest.raises(AlreadyExists):
        users.invite(account=account, actor=OPERATOR, email="bo@example.com")


# ---- remove and change_role ---------------------------------------------------------------


def test_remove_deletes_the_teammate_and_identity(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    team = cast(Team, TeamFactory.create(account=account))
    user = cast(User, UserFactory.create(account=account))
    TeamMembershipFactory.create(team=team, user=user)
    scim_id = user.scim_identity.id
    users.remove(account=account, actor=admin_of(account), user_id=user.id)
    db.session.expire_all()
    assert db.session.get(User, user.id) is None
    assert db.session.get(ScimIdentity, scim_id) is None
    assert member_ids(team) == set()
    [event] = events(account, "user.remove")
    assert (event.outcome, event.target_id) == ("applied", scim_id)


def test_remove_keeps_the_last_admin(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    admin = admin_of(account)
    with pytest.raises(LastAdmin):
        users.remove(account=account, actor=OPERATOR, user_id=admin.user.id)
    second = admin_of(account)
    users.remove(account=account, actor=admin, user_id=second.user.id)
    assert users.count_active_admins(account=account) == 1
    with pytest.raises(ScimManaged):
        account.scim_enabled = True
        db.session.commit()
        users.remove(account=account, actor=OPERATOR, user_id=admin.user.id)
    with pytest.raises(NotFound):
        users.remove(
            account=cast(Account, AccountFactory.create()), actor=OPERATOR, user_id=admin.user.id
        )


def test_change_role_works_in_scim_mode_and_keeps_an_admin(app: Flask) -> None:
    account, _ = scim_account()
    admin = admin_of(account)
    user = cast(User, UserFactory.create(account=account))
    users.change_role(
        account=account, actor=admin, user_id=user.id, role_id=role(account, "Admin").id
    )
    users.change_role(
        account=account, actor=admin, user_id=user.id, role_id=role(account, "Admin").id
    )
    assert role_name(reload(User, user.id)) == "Admin"
    [event] = events(account, "user.change_role")
    assert event.details == {"from": "Analyst", "to": "Admin"}
    users.change_role(
        account=account, actor=admin, user_id=admin.user.id, role_id=role(account, "Consumer").id
    )
    with pytest.raises(LastAdmin):
        users.change_role(
            account=account, actor=OPERATOR, user_id=user.id, role_id=role(account, "Consumer").id
        )
    assert role_name(reload(User, user.id)) == "Admin"
    with pytest.raises(Forbidden):
        users.change_role(
            account=account,
            actor=analyst_of(account),
            user_id=user.id,
            role_id=role(account, "Consumer").id,
        )


def test_change_role_of_a_deactivated_teammate_is_invalid(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = provisioning.provision(account=account, actor=idp, profile=_profile("c@example.com"))
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    user_id = reload(ScimIdentity, identity.id).user_id
    with pytest.raises(Invalid):
        users.change_role(
            account=account,
            actor=OPERATOR,
            user_id=user_id,
            role_id=role(account, "Admin").id,
        )


# ---- provision ------------------------------------------------------------------------------


def test_provision_creates_with_the_default_role(app: Flask) -> None:
    account, _ = scim_account()
    account.scim_default_role = role(account, "Consumer")
    db.session.commit()
    provisioned = provisioning.provision(
        account=account,
        actor=idp_of(account),
        profile=_profile(
            "dee@example.com",
            given_name="Dee",
            family_name="Dee",
            display_name="D. Dee",
            external_id="00u1",
            extra={"title": "CTO"},
        ),
    )
    identity = reload(ScimIdentity, provisioned.id)
    user = identity.user
    assert (user.email, role_name(user), user.display_name, user.full_name) == (
        "dee@example.com",
        "Consumer",
        "D. Dee",
        "Dee Dee",
    )
    assert (identity.external_id, identity.idp_managed, identity.idp_role, identity.extra) == (
        "00u1",
        True,
        None,
        {"title": "CTO"},
    )
    [event] = events(account, "user.provision")
    assert (event.actor_kind, event.details) == ("identity_provider", {"role": "Consumer"})


def test_provision_with_a_heap_role(app: Flask) -> None:
    account, _ = scim_account()
    scim_id = provisioning.provision(
        account=account,
        actor=idp_of(account),
        profile=_profile("e@example.com", heap_role=" Admin "),
    ).id
    identity = reload(ScimIdentity, scim_id)
    assert role_name(identity.user) == "Admin"
    assert identity.idp_role == "Admin"


def test_provision_with_an_unknown_heap_role_lists_the_valid_ones(app: Flask) -> None:
    account, _ = scim_account()
    with pytest.raises(Invalid) as raised:
        provisioning.provision(
            account=account,
            actor=idp_of(account),
            profile=_profile("f@example.com", heap_role="Boss"),
        )
    assert raised.value.field == "heapRole"
    assert "Valid roles: Admin, Architect, Analyst, Consumer." in raised.value.message
    assert lifecycle.find_active_by_email(email="f@example.com") is None


def test_provision_takes_the_email_from_emails_when_username_is_not_one(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    primary = provisioning.provision(
        account=account,
        actor=idp,
        profile=_profile(
            "jdoe",
            emails=[
                EmailAddress("home@example.org", "home"),
                EmailAddress("jdoe@example.com", "other", primary=True),
            ],
        ),
    )
    assert (primary.user_name, primary.email) == ("jdoe", "jdoe@example.com")
    work = provisioning.provision(
        account=account,
        actor=idp,
        profile=_profile("kdoe", emails=[EmailAddress("kdoe@example.com", "Work")]),
    )
    assert work.email == "kdoe@example.com"
    for emails in ([], [EmailAddress("ldoe at example", "work", primary=True)]):
        with pytest.raises(Invalid) as raised:
            provisioning.provision(
                account=account, actor=idp, profile=_profile("ldoe", emails=emails)
            )
        assert raised.value.field == "userName"


def test_provision_restores_a_tombstone_keeping_the_scim_id(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    first = provisioning.provision(
        account=account, actor=idp, profile=_profile("g@example.com", heap_role="Architect")
    )
    idp_deactivates(account=account, actor=idp, scim_id=first.id)
    again = provisioning.provision(
        account=account, actor=idp, profile=_profile("G@example.com", heap_role="Consumer")
    )
    assert again.id == first.id
    user = reload(ScimIdentity, again.id).user
    assert (user.is_active, role_name(user), user.scim_identity.user_name) == (
        True,
        "Consumer",
        "G@example.com",
    )
    assert [e.action for e in events(account) if e.action.startswith("user.")] == [
        "user.provision",
        "user.deactivate",
        "user.restore",
    ]


def test_provision_conflicts(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    provisioning.provision(account=account, actor=idp, profile=_profile("h@example.com"))
    with pytest.raises(AlreadyExists) as raised:
        provisioning.provision(account=account, actor=idp, profile=_profile("H@EXAMPLE.COM"))
    assert raised.value.field == "userName"
    # Another userName, but the email is already held in this account.
    with pytest.raises(AlreadyExists):
        provisioning.provision(
            account=account,
            actor=idp,
            profile=_profile("hh", emails=[EmailAddress("h@example.com", primary=True)]),
        )
    UserFactory.create(email="other-org@example.com")
    with pytest.raises(EmailInOtherAccount):
        provisioning.provision(
            account=account, actor=idp, profile=_profile("other-org@example.com")
        )
    refused = [e.reason.split(":")[0] for e in events(account, "user.provision") if e.reason]
    assert refused == ["ALREADY_EXISTS", "ALREADY_EXISTS", "EMAIL_IN_OTHER_ACCOUNT"]


def test_provision_409_tells_how_to_link_a_teammate_held_under_another_user_name(
    app: Flask,
) -> None:
    """Entra sends an object id as userName: its lookup misses the teammate Heap has by email."""
    account, _ = scim_account()
    held = cast(User, UserFactory.create(account=account, email="ada@example.com"))
    with pytest.raises(AlreadyExists) as raised:
        provisioning.provision(
            account=account,
            actor=idp_of(account),
            profile=_profile("6f1c2d", emails=[EmailAddress("Ada@Example.com", primary=True)]),
        )
    assert (raised.value.field, raised.value.message) == (
        "userName",
        "Ada@Example.com is already a user of this Heap account under userName "
        f"'ada@example.com' (id {held.scim_identity.id}), but your identity provider sent "
        "userName '6f1c2d'. Heap matches users by userName: send 'ada@example.com' as this "
        "person's userName (in Okta, set the Application username format to Email; in Entra "
        "ID, map userName to the mail attribute), then retry.",
    )


def test_provision_may_take_an_email_another_org_no_longer_holds(app: Flask) -> None:
    old_org, _ = scim_account()
    old_idp = idp_of(old_org)
    gone = provisioning.provision(account=old_org, actor=old_idp, profile=_profile("i@example.com"))
    idp_deactivates(account=old_org, actor=old_idp, scim_id=gone.id)
    account, _ = scim_account()
    moved = provisioning.provision(
        account=account, actor=idp_of(account), profile=_profile("i@example.com")
    )
    assert moved.active and reload(ScimIdentity, moved.id).account_id == account.id


def test_provision_refused_when_scim_is_off_or_for_members(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(Forbidden):
        provisioning.provision(
            account=account, actor=analyst_of(account), profile=_profile("j@x.com")
        )
    account.scim_enabled = True
    account.plan = "pro"
    db.session.commit()
    with pytest.raises(Exception) as raised:
        provisioning.provision(account=account, actor=idp_of(account), profile=_profile("j@x.com"))
    assert raised.type.__name__ == "PlanRequired"


# ---- update ---------------------------------------------------------------------------------


def _provisioned(account: Account, idp: IdentityProvider, **kwargs: Any) -> ScimIdentity:
    created = provisioning.provision(
        account=account, actor=idp, profile=_profile("k@example.com", **kwargs)
    )
    return db.session.get_one(ScimIdentity, created.id)


def test_update_role_follows_only_changes_of_the_idp_value(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    admin_of(account)  # so the user below is never the last Admin
    identity = _provisioned(account, idp, heap_role="Architect")
    user_id = identity.user_id

    def current_role() -> str | None:
        db.session.expire_all()
        return role_name(users.get(account=account, user_id=user_id))

    def put(heap_role: str | _Unset | None) -> None:
        idp_replaces(
            account=account,
            actor=idp,
            scim_id=identity.id,
            profile=_profile("k@example.com", heap_role=heap_role),
        )

    users.change_role(
        account=account, actor=OPERATOR, user_id=user_id, role_id=role(account, "Consumer").id
    )
    put("Architect")  # the same IdP value again: Heap's change survives
    assert current_role() == "Consumer"
    put(UNSET)  # a PATCH that does not speak about the role
    assert current_role() == "Consumer"
    put("Admin")  # a new IdP value wins
    assert current_role() == "Admin"
    put("")  # cleared: back to the default role
    assert current_role() == "Analyst"
    assert db.session.get_one(ScimIdentity, identity.id).idp_role is None
    with pytest.raises(Invalid) as raised:
        put("Boss")
    assert raised.value.field == "heapRole"
    assert current_role() == "Analyst"


def test_update_active_false_deactivates_and_drops_memberships(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = _provisioned(account, idp, heap_role="Architect")
    team = cast(Team, TeamFactory.create(account=account))
    other = cast(User, UserFactory.create(account=account))
    TeamMembershipFactory.create(team=team, user=identity.user)
    TeamMembershipFactory.create(team=team, user=other)
    idp_replaces(
        account=account,
        actor=idp,
        scim_id=identity.id,
        profile=_profile("k@example.com", active=False, heap_role="Architect"),
    )
    user = reload(User, identity.user.id)
    assert not user.is_active
    assert member_ids(team) == {other.id}
    assert lifecycle.find_active_by_email(email="k@example.com") is None
    # Back: recreated with the role the IdP sends.
    idp_replaces(
        account=account,
        actor=idp,
        scim_id=identity.id,
        profile=_profile("k@example.com", active=True, heap_role="Consumer"),
    )
    user = reload(User, user.id)
    assert user.is_active and role_name(user) == "Consumer"
    assert member_ids(team) == {other.id}
    actions = [e.action for e in events(account) if e.action.startswith("user.")]
    assert actions == ["user.provision", "user.deactivate", "user.reactivate"]


def test_update_reactivation_without_a_role_uses_the_last_idp_value(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = _provisioned(account, idp, heap_role="Architect")
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    reactivate = _profile("k@example.com", active=True)
    idp_replaces(account=account, actor=idp, scim_id=identity.id, profile=reactivate)
    assert role_name(reload(User, identity.user.id)) == "Architect"


def test_update_changes_username_and_email_in_place(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = _provisioned(account, idp)
    idp_replaces(
        account=account,
        actor=idp,
        scim_id=identity.id,
        profile=_profile("k.new@example.com", given_name="Kay"),
    )
    db.session.expire_all()
    changed = db.session.get_one(ScimIdentity, identity.id)
    assert (changed.user_name, changed.user.email, changed.user.given_name) == (
        "k.new@example.com",
        "k.new@example.com",
        "Kay",
    )
    assert changed.user_id == identity.user_id
    [event] = events(account, "user.update")
    assert event.details is not None
    assert event.details["email"] == {"from": "k@example.com", "to": "k.new@example.com"}
    assert event.details["userName"] == {"from": "k@example.com", "to": "k.new@example.com"}


def test_update_refuses_a_taken_email_or_username(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = _provisioned(account, idp)
    provisioning.provision(account=account, actor=idp, profile=_profile("l@example.com"))
    UserFactory.create(email="m@example.com")
    with pytest.raises(AlreadyExists):
        idp_replaces(
            account=account, actor=idp, scim_id=identity.id, profile=_profile("L@example.com")
        )
    with pytest.raises(EmailInOtherAccount):
        idp_replaces(
            account=account, actor=idp, scim_id=identity.id, profile=_profile("m@example.com")
        )
    with pytest.raises(NotFound):
        idp_replaces(account=account, actor=idp, scim_id="nope", profile=_profile("n@example.com"))
    db.session.expire_all()
    unchanged = db.session.get_one(ScimIdentity, identity.id)
    assert (unchanged.user_name, unchanged.user.email) == ("k@example.com", "k@example.com")


def test_emails_compare_ignoring_non_ascii_case_on_every_database(app: Flask) -> None:
    """ "Élise@" and "élise@" are one address on SQLite (whose own lower() folds ASCII only) as
    on PostgreSQL, and the refusal names the holder rather than a unique-index "retry"."""
    account, _ = scim_account()
    idp = idp_of(account)
    holder = cast(User, UserFactory.create(account=account, email="élise@example.com"))
    with pytest.raises(AlreadyExists) as raised:
        provisioning.provision(
            account=account,
            actor=idp,
            profile=_profile("elise-upn", emails=[EmailAddress("Élise@example.com", primary=True)]),
        )
    assert holder.scim_identity.id in raised.value.message
    assert lifecycle.find_active_by_email(email="ÉLISE@example.com") == holder


def test_update_and_delete_refused_for_members_in_scim_mode(app: Flask) -> None:
    account, _ = scim_account()
    identity = _provisioned(account, idp_of(account))
    with pytest.raises(ScimManaged):
        idp_replaces(
            account=account,
            actor=admin_of(account),
            scim_id=identity.id,
            profile=_profile("z@example.com"),
        )
    with pytest.raises(ScimManaged):
        idp_deactivates(account=account, actor=admin_of(account), scim_id=identity.id)
    assert reload(User, identity.user.id).is_active


# ---- deactivate and delete -----------------------------------------------------------------


def test_deactivate_is_idempotent_and_keeps_the_identity(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = _provisioned(account, idp)
    team = cast(Team, TeamFactory.create(account=account))
    TeamMembershipFactory.create(team=team, user=identity.user)
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    db.session.expire_all()
    kept = db.session.get_one(ScimIdentity, identity.id)
    assert not kept.user.is_active
    assert member_ids(team) == set()
    assert len(events(account, "user.deactivate")) == 1


def test_the_idp_may_deactivate_the_last_admin(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = _provisioned(account, idp, heap_role="Admin")
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    assert users.count_active_admins(account=account) == 0


def test_delete_removes_user_and_identity(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = _provisioned(account, idp)
    scim_id, user_id = identity.id, identity.user_id
    team = cast(Team, TeamFactory.create(account=account))
    TeamMembershipFactory.create(team=team, user=identity.user)
    provisioning.delete(account=account, actor=idp, scim_id=scim_id)
    db.session.expire_all()
    assert db.session.get(ScimIdentity, scim_id) is None
    assert db.session.get(User, user_id) is None
    assert member_ids(team) == set()
    with pytest.raises(NotFound):
        provisioning.delete(account=account, actor=idp, scim_id=scim_id)
    # The address is free again.
    assert provisioning.provision(
        account=account, actor=idp, profile=_profile("k@example.com")
    ).id != (scim_id)


def test_count_active_admins_ignores_deactivated_and_other_accounts(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    admin_of(account)
    admin_of(cast(Account, AccountFactory.create()))
    gone = admin_of(account).user
    gone.deactivated_at, gone.role = gone.created_at, None
    db.session.commit()
    assert users.count_active_admins(account=account) == 1
    assert isinstance(role(account, "Admin"), Role)


# ---- the audit log: "why is this user not in Heap?" ------------------------------------------


def test_every_way_out_of_heap_is_found_in_the_log_by_email_or_scim_id(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    team = cast(Team, TeamFactory.create(account=account, name="Growth"))
    ada = _provisioned(account, idp)
    TeamMembershipFactory.create(team=team, user=ada.user)
    idp_deactivates(account=account, actor=idp, scim_id=ada.id)
    bob = provisioning.provision(account=account, actor=idp, profile=_profile("bob@example.com"))
    provisioning.delete(account=account, actor=idp, scim_id=bob.id)
    UserFactory.create(email="carol@example.com")
    with pytest.raises(EmailInOtherAccount):
        provisioning.provision(
            account=account,
            actor=idp,
            profile=_profile("carol-upn", emails=[EmailAddress("carol@example.com", "work")]),
        )
    teams.add_members(
        account=account, actor=OPERATOR, team_id=team.id, members=Members(scim_ids=[ada.id])
    )

    def why(target: str) -> list[tuple[str, str, str | None]]:
        page = directory.list_events(account=account, target=target)
        return [(e.action, e.outcome, e.reason and e.reason.split(":")[0]) for e in page.items]

    deactivated = (
        "Deactivated by the identity provider: sign-in, role, team memberships and seat "
        "removed; the SCIM identity is kept."
    )
    skipped = ("team.add_member", "skipped", "Not added to team 'Growth'")
    assert why("K@EXAMPLE.COM") == [
        skipped,
        ("user.deactivate", "applied", deactivated.split(":")[0]),
        ("user.provision", "applied", None),
    ]
    assert why(ada.id) == why("k@example.com")
    [gone] = events(account, "user.deactivate")
    assert (gone.reason, gone.details) == (deactivated, {"teams_left": 1})
    assert why("bob@example.com") == [
        ("user.delete", "applied", "Deleted by the identity provider, with its SCIM identity."),
        ("user.provision", "applied", None),
    ]
    assert why("carol@example.com") == [("user.provision", "refused", "EMAIL_IN_OTHER_ACCOUNT")]
