"""Every reason SCIM can't be enabled, at once: the field lists them all and the mutation's
``userErrors`` too, in one stable order (permission, plan, SSO, state)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from heap.extensions import db
from heap.models import Account, AuditEvent, ScimToken
from tests.factories import role, scim_account
from tests.graph.conftest import gid, gql, make_account, make_user

REASONS = "{ account { scim { viewerCannotEnableReasons } } }"
ENABLE = """
mutation ($input: EnableScimInput!) {
  enableScim(input: $input) { plaintextToken userErrors { code field message } }
}
"""


@pytest.mark.parametrize(
    ("plan", "sso", "admin", "expected"),
    [
        ("premier", True, True, []),
        ("growth", True, True, ["PLAN_REQUIRED"]),
        ("premier", False, True, ["SSO_REQUIRED"]),
        ("growth", False, True, ["PLAN_REQUIRED", "SSO_REQUIRED"]),
        ("free", False, False, ["FORBIDDEN", "PLAN_REQUIRED", "SSO_REQUIRED"]),
    ],
)
def test_the_field_lists_every_reason_in_order(
    client: FlaskClient, plan: str, sso: bool, admin: bool, expected: list[str]
) -> None:
    viewer = make_user(account=make_account(plan=plan, sso_configured=sso), admin=admin)
    data = gql(client, REASONS, as_=viewer)
    assert data["account"]["scim"]["viewerCannotEnableReasons"] == expected


def test_an_enabled_account_off_premier_without_sso_gives_three_reasons(
    client: FlaskClient,
) -> None:
    account, _ = scim_account(plan="pro", sso_configured=False)
    data = gql(client, REASONS, as_=make_user(account=account, admin=True))
    assert data["account"]["scim"]["viewerCannotEnableReasons"] == [
        "PLAN_REQUIRED",
        "SSO_REQUIRED",
        "SCIM_ALREADY_ENABLED",
    ]


def test_enable_scim_lists_every_refusal_and_changes_nothing(client: FlaskClient) -> None:
    account = make_account(plan="growth", sso_configured=False)
    admin = make_user(account=account, admin=True)
    input = {"defaultRoleId": gid("Role", role(account, "Analyst").id)}
    audit_before = db.session.query(AuditEvent).count()

    payload = gql(client, ENABLE, {"input": input}, as_=admin)["enableScim"]

    assert payload["plaintextToken"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("PLAN_REQUIRED", None),
        ("SSO_REQUIRED", None),
    ]
    assert all(e["message"] for e in payload["userErrors"])
    db.session.expire_all()
    stored = db.session.get(Account, account.id)
    assert stored is not None and stored.scim_enabled is False
    assert db.session.query(ScimToken).filter_by(account_id=account.id).count() == 0
    # One refused attempt, audited once (not once per reason).
    assert db.session.query(AuditEvent).count() == audit_before + 1


def test_once_fixed_the_same_call_enables(client: FlaskClient) -> None:
    account = make_account(plan="growth", sso_configured=False)
    admin = make_user(account=account, admin=True)
    account.plan, account.sso_configured = "premier", True
    db.session.commit()
    input = {"defaultRoleId": gid("Role", role(account, "Analyst").id)}
    payload = gql(client, ENABLE, {"input": input}, as_=admin)["enableScim"]
    assert payload["userErrors"] == []
    assert payload["plaintextToken"].startswith("heapscim_")
