"""services.roles: built-ins, custom roles, and the rename/delete refusals."""

from __future__ import annotations

from typing import cast

import pytest
from flask import Flask

from heap.errors import (
    AlreadyExists,
    Forbidden,
    Invalid,
    NotFound,
    RoleBuiltIn,
    RoleInUse,
    RoleIsScimDefault,
)
from heap.extensions import db
from heap.models import Account, AuditOutcome, Role, User
from heap.services import roles
from tests.factories import AccountFactory, RoleFactory, UserFactory, role, scim_account
from tests.services.helpers import OPERATOR, admin_of, analyst_of, events, idp_deactivates, idp_of


def _names(account: Account) -> list[str]:
    return [r.name for r in roles.list_roles(account=account)]


def test_every_account_has_the_builtins_first_then_custom_by_name(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    other = cast(Account, AccountFactory.create())
    for name in ("zeta", "Beta", "alpha"):
        RoleFactory.create(account=account, name=name)
    RoleFactory.create(account=other, name="Other's")
    assert _names(account) == ["Admin", "Architect", "Analyst", "Consumer", "alpha", "Beta", "zeta"]
    assert [r.name for r in roles.list_roles(account=account) if r.is_admin] == ["Admin"]
    assert roles.valid_roles_sentence(account=other) == (
        "Valid roles: Admin, Architect, Analyst, Consumer, Other's."
    )


def test_lookups(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    other = cast(Account, AccountFactory.create())
    analyst = role(account, "Analyst")
    assert roles.get(account=account, role_id=analyst.id) is analyst
    assert roles.get_by_ref(account=account, ref="Analyst") is analyst
    assert roles.get_by_ref(account=account, ref=str(analyst.id)) is analyst
    assert roles.get_by_name(account=account, name="analyst") is None
    with pytest.raises(NotFound) as raised:
        roles.get(account=other, role_id=analyst.id, field="defaultRoleId")
    assert raised.value.field == "defaultRoleId"
    with pytest.raises(NotFound) as by_ref:
        roles.get_by_ref(account=other, ref=str(analyst.id))
    assert "Valid roles: Admin, Architect, Analyst, Consumer." in by_ref.value.message
    with pytest.raises(NotFound):
        roles.get_by_ref(account=account, ref="Owner")


def test_create_a_custom_role(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    admin = admin_of(account)
    created = roles.create(account=account, actor=admin, name="  Data   Steward ")
    db.session.expire_all()
    stored = roles.get(account=account, role_id=created.id)
    assert (stored.name, stored.is_builtin, stored.is_admin) == ("Data Steward", False, False)
    [event] = events(account, "role.create")
    assert (event.target_id, event.target_label, event.actor_id) == (
        str(created.id),
        "Data Steward",
        admin.id,
    )


def test_create_refusals(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(AlreadyExists):
        roles.create(account=account, actor=OPERATOR, name="Analyst")
    with pytest.raises(Invalid):
        roles.create(account=account, actor=OPERATOR, name="  ")
    with pytest.raises(Invalid):
        roles.create(account=account, actor=OPERATOR, name="r" * 65)
    with pytest.raises(Forbidden):
        roles.create(account=account, actor=analyst_of(account), name="Sneaky")
    assert _names(account) == ["Admin", "Architect", "Analyst", "Consumer"]
    refused = [e for e in events(account) if e.outcome == AuditOutcome.REFUSED.value]
    # Invalid names too: every refusal is in the activity log.
    reasons = [e.reason.split(":")[0] for e in refused if e.reason]
    assert reasons == ["ALREADY_EXISTS", "INVALID", "INVALID", "FORBIDDEN"]
    # A role name is free in another account.
    assert roles.create(
        account=cast(Account, AccountFactory.create()), actor=OPERATOR, name="Sneaky"
    )


def test_rename(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    custom = cast(Role, RoleFactory.create(account=account, name="Viewer"))
    roles.rename(account=account, actor=OPERATOR, role_id=custom.id, name="Reader")
    roles.rename(account=account, actor=OPERATOR, role_id=custom.id, name="Reader")
    db.session.expire_all()
    assert roles.get(account=account, role_id=custom.id).name == "Reader"
    [event] = events(account, "role.rename")
    assert event.details == {"from": "Viewer", "to": "Reader"}


def test_rename_refusals(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    other = cast(Account, AccountFactory.create())
    custom = cast(Role, RoleFactory.create(account=account, name="Viewer"))
    with pytest.raises(RoleBuiltIn):
        roles.rename(account=account, actor=OPERATOR, role_id=role(account, "Admin").id, name="X")
    with pytest.raises(AlreadyExists):
        roles.rename(account=account, actor=OPERATOR, role_id=custom.id, name="Consumer")
    with pytest.raises(Forbidden):
        roles.rename(account=account, actor=analyst_of(account), role_id=custom.id, name="X")
    with pytest.raises(NotFound):
        roles.rename(account=other, actor=OPERATOR, role_id=custom.id, name="X")
    assert _names(account) == ["Admin", "Architect", "Analyst", "Consumer", "Viewer"]
    refused = events(account, "role.rename")
    assert [e.reason.split(":")[0] for e in refused if e.reason] == [
        "ROLE_BUILT_IN",
        "ALREADY_EXISTS",
        "FORBIDDEN",
    ]


def test_role_names_are_unique_ignoring_case_built_ins_included(app: Flask) -> None:
    """A custom "admin" beside the built-in Admin would read as Admin and catch IdP typos."""
    account = cast(Account, AccountFactory.create())
    for look_alike in ("admin", "ANALYST"):
        with pytest.raises(AlreadyExists):
            roles.create(account=account, actor=OPERATOR, name=look_alike)
    ops = roles.create(account=account, actor=OPERATOR, name="Ops")
    data = roles.create(account=account, actor=OPERATOR, name="Data")
    with pytest.raises(AlreadyExists):
        roles.create(account=account, actor=OPERATOR, name="oPS")
    with pytest.raises(AlreadyExists):
        roles.rename(account=account, actor=OPERATOR, role_id=data.id, name="ops")
    # A role may change its own casing.
    roles.rename(account=account, actor=OPERATOR, role_id=ops.id, name="OPS")
    assert _names(account) == ["Admin", "Architect", "Analyst", "Consumer", "Data", "OPS"]


def test_delete_a_free_custom_role(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    custom = cast(Role, RoleFactory.create(account=account, name="Viewer"))
    roles.delete(account=account, actor=OPERATOR, role_id=custom.id)
    assert _names(account) == ["Admin", "Architect", "Analyst", "Consumer"]
    [event] = events(account, "role.delete")
    assert (event.outcome, event.target_label) == (AuditOutcome.APPLIED.value, "Viewer")


def test_a_role_held_only_by_deactivated_users_can_be_deleted(app: Flask) -> None:
    account, _ = scim_account()
    viewer = cast(Role, RoleFactory.create(account=account, name="Viewer"))
    user = cast(User, UserFactory.create(account=account, role=viewer))
    idp_deactivates(account=account, actor=idp_of(account), scim_id=user.scim_identity.id)
    assert user.role is None

    roles.delete(account=account, actor=OPERATOR, role_id=viewer.id)

    assert "Viewer" not in _names(account)


def test_delete_refusals(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    in_use = cast(Role, RoleFactory.create(account=account, name="Viewer"))
    UserFactory.create(account=account, role=in_use)
    default = cast(Role, RoleFactory.create(account=account, name="Default"))
    account.scim_default_role = default
    db.session.commit()
    free = cast(Role, RoleFactory.create(account=account, name="Free"))

    refusals = [
        (role(account, "Consumer"), RoleBuiltIn),
        (in_use, RoleInUse),
        (default, RoleIsScimDefault),
    ]
    for target, error in refusals:
        with pytest.raises(error):
            roles.delete(account=account, actor=OPERATOR, role_id=target.id)
    with pytest.raises(Forbidden):
        roles.delete(account=account, actor=analyst_of(account), role_id=free.id)
    with pytest.raises(NotFound):
        roles.delete(
            account=cast(Account, AccountFactory.create()), actor=OPERATOR, role_id=free.id
        )
    assert _names(account) == [
        "Admin", "Architect", "Analyst", "Consumer", "Default", "Free", "Viewer"
    ]  # fmt: skip
    reasons = [e.reason.split(":")[0] for e in events(account, "role.delete") if e.reason]
    assert reasons == ["ROLE_BUILT_IN", "ROLE_IN_USE", "ROLE_IS_SCIM_DEFAULT", "FORBIDDEN"]
