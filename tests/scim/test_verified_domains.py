"""Verified domains and the invite oracle (finding 4), through both doors and the CLI.

Seen: an Admin of any account, even a Free one, could invite ceo@bigcorp.com, after which
BigCorp's own Okta got 409 provisioning its CEO; and inviteUser's EMAIL_IN_OTHER_ACCOUNT told
that Admin which addresses hold Heap accounts elsewhere.
"""

# factory-boy factories are untyped (see the tests.factories override in pyproject.toml).
# mypy: disable-error-code="no-untyped-call,attr-defined"

from __future__ import annotations

from typing import Any, cast

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from heap.errors import DomainVerifiedElsewhere, Forbidden, Invalid
from heap.extensions import db
from heap.models import Account, AuditEvent, Plan, User
from heap.policy import EMAIL_UNAVAILABLE
from heap.services import accounts, domains, lifecycle
from tests.conftest import json_of
from tests.factories import AccountFactory, UserFactory, scim_account
from tests.graph.conftest import gql
from tests.services.helpers import OPERATOR, admin_of

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
INVITE = """mutation ($input: InviteUserInput!) {
  inviteUser(input: $input) { user { email } userErrors { code field message } }
}"""


def _cli(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def _invite(client: FlaskClient, admin: User, email: str) -> dict[str, Any]:
    payload: dict[str, Any] = gql(client, INVITE, {"input": {"email": email}}, as_=admin)[
        "inviteUser"
    ]
    return payload


def _okta_user(email: str) -> dict[str, Any]:
    return {
        "schemas": [USER_URN],
        "userName": email,
        "name": {"givenName": "Casey", "familyName": "Eo"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "active": True,
    }


def _scim(client: FlaskClient, token: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    return client.open(f"/scim/v2{path}", method=method, headers=headers, json=body)


@pytest.fixture
def bigcorp(app: Flask) -> tuple[Account, str]:
    """BigCorp, with SCIM on and bigcorp.com verified by an operator."""
    account, token = scim_account(name="BigCorp")
    result = _cli(app, "accounts", "verify-domain", "BigCorp", "BigCorp.COM.")
    assert result.exit_code == 0, result.output
    assert result.stdout == "bigcorp.com is verified for BigCorp.\n"
    return account, token


# ---- in-app invites ------------------------------------------------------------------------------


def test_nobody_else_can_invite_an_address_of_a_verified_domain(
    client: FlaskClient, bigcorp: tuple[Account, str]
) -> None:
    squatter = cast(Account, AccountFactory.create(name="Squat", plan=Plan.FREE.value))
    admin = admin_of(squatter).user
    # Subdomains Heap would not verify itself (an underscore, a leading hyphen, a 64-character
    # label) are still under bigcorp.com.
    odd = ("x@foo_bar.bigcorp.com", "x@-a.bigcorp.com", f"x@{'a' * 64}.bigcorp.com")
    for email in ("ceo@bigcorp.com", "CEO@BigCorp.com", "ops@eu.bigcorp.com", *odd):
        payload = _invite(client, admin, email)
        assert payload == {
            "user": None,
            "userErrors": [
                {"code": "EMAIL_UNAVAILABLE", "field": ["email"], "message": EMAIL_UNAVAILABLE}
            ],
        }
    # BigCorp's own Okta then provisions its CEO.
    _, token = bigcorp
    created = _scim(client, token, "POST", "/Users", _okta_user("ceo@bigcorp.com"))
    assert created.status_code == 201, created.get_data(as_text=True)
    # Other domains are open; bigcorp.com.evil.example is not bigcorp.com.
    for email in ("ceo@notbigcorp.com", "ceo@bigcorp.com.evil.example"):
        assert _invite(client, admin, email)["userErrors"] == []


def test_an_invite_refusal_does_not_reveal_whether_the_address_exists(
    client: FlaskClient, bigcorp: tuple[Account, str]
) -> None:
    """The same answer, word for word, for a held address, a free address at a verified domain,
    and a held one at a verified domain; the Admin's activity log says no more."""
    UserFactory.create(email="someone@elsewhere.example")  # another organization's teammate
    UserFactory.create(account=bigcorp[0], email="held@bigcorp.com")
    other = cast(Account, AccountFactory.create(name="Other"))
    admin = admin_of(other).user
    answers = [
        _invite(client, admin, email)
        for email in ("someone@elsewhere.example", "nobody@bigcorp.com", "held@bigcorp.com")
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["userErrors"][0]["code"] == "EMAIL_UNAVAILABLE"
    reasons = db.session.scalars(
        select(AuditEvent.reason).where(
            AuditEvent.account_id == other.id, AuditEvent.action == "user.invite"
        )
    ).all()
    assert reasons == [f"EMAIL_UNAVAILABLE: {EMAIL_UNAVAILABLE}"] * 3


def test_the_owner_invites_and_provisions_its_own_addresses(
    client: FlaskClient, bigcorp: tuple[Account, str]
) -> None:
    account, token = bigcorp
    created = _scim(client, token, "POST", "/Users", _okta_user("new@eu.bigcorp.com"))
    assert created.status_code == 201
    # In-app invites of its own addresses work once SCIM is off.
    account.scim_enabled = False
    db.session.commit()
    admin = admin_of(account).user
    assert _invite(client, admin, "second@bigcorp.com")["userErrors"] == []


# ---- SCIM ----------------------------------------------------------------------------------------


DOMAIN_DETAIL = (
    "{email} is at {domain}, an email domain another Heap organization has verified: only that "
    "organization can add its addresses. Unassign this person from the Heap app in your identity "
    "provider, or ask Heap support if the domain is yours."
)


def test_another_idp_cannot_provision_an_address_of_a_verified_domain(
    client: FlaskClient, bigcorp: tuple[Account, str]
) -> None:
    _, token = scim_account(name="Other")
    refused = _scim(client, token, "POST", "/Users", _okta_user("ceo@bigcorp.com"))
    assert refused.status_code == 409
    assert json_of(refused) == {
        "schemas": [ERROR_URN],
        "status": "409",
        "scimType": "uniqueness",
        "detail": DOMAIN_DETAIL.format(email="ceo@bigcorp.com", domain="bigcorp.com"),
    }
    assert lifecycle.find_active_by_email(email="ceo@bigcorp.com") is None
    odd = _scim(client, token, "POST", "/Users", _okta_user("ceo@foo_bar.bigcorp.com"))
    assert odd.status_code == 409, odd.get_data(as_text=True)


def test_another_idp_cannot_move_a_user_to_a_verified_domain(
    client: FlaskClient, bigcorp: tuple[Account, str]
) -> None:
    _, token = scim_account(name="Other")
    created = json_of(_scim(client, token, "POST", "/Users", _okta_user("kim@other.example")))
    moved = _okta_user("kim@bigcorp.com")
    assert _scim(client, token, "PUT", f"/Users/{created['id']}", moved).status_code == 409
    email_only = {
        "schemas": [PATCH_URN],
        "Operations": [
            {
                "op": "replace",
                "path": "emails",
                "value": [{"value": "k@bigcorp.com", "primary": True}],
            }
        ],
    }
    # Entra: a non-email userName, the address in emails.
    upn = json_of(
        _scim(
            client,
            token,
            "POST",
            "/Users",
            {**_okta_user("kim2@other.example"), "userName": "kim2"},
        )
    )
    assert _scim(client, token, "PATCH", f"/Users/{upn['id']}", email_only).status_code == 409
    assert lifecycle.find_active_by_email(email="kim@other.example") is not None


def test_a_tombstone_at_a_newly_verified_domain_is_not_reactivated_elsewhere(
    app: Flask, client: FlaskClient
) -> None:
    _, token = scim_account(name="Early")
    created = json_of(_scim(client, token, "POST", "/Users", _okta_user("ceo@bigcorp.com")))
    off = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert _scim(client, token, "PATCH", f"/Users/{created['id']}", off).status_code == 200
    scim_account(name="BigCorp")
    assert _cli(app, "accounts", "verify-domain", "BigCorp", "bigcorp.com").exit_code == 0
    on = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": {"active": True}}]}
    refused = _scim(client, token, "PATCH", f"/Users/{created['id']}", on)
    assert refused.status_code == 409
    assert json_of(refused)["detail"].startswith("ceo@bigcorp.com is at bigcorp.com")


# ---- operators -----------------------------------------------------------------------------------


def test_verify_list_and_remove_domains_are_audited(
    app: Flask, bigcorp: tuple[Account, str]
) -> None:
    account, _ = bigcorp
    # From before the verification: other organizations' teammates keep their addresses, and
    # the operator is told who they are.
    squat = cast(Account, AccountFactory.create(name="Squat"))
    UserFactory.create(account=squat, email="early@eu.bigcorp.com")
    UserFactory.create(account=squat, email="ceo@bigcorp.com")
    sub = _cli(app, "accounts", "verify-domain", str(account.id), "eu.bigcorp.com")
    assert sub.stdout == (
        "eu.bigcorp.com is verified for BigCorp.\nheld elsewhere: early@eu.bigcorp.com (Squat)\n"
    )
    again = _cli(app, "accounts", "verify-domain", "BigCorp", "bigcorp.com")
    assert again.stdout == (
        "bigcorp.com is verified for BigCorp.\n"
        "held elsewhere: ceo@bigcorp.com (Squat)\n"
        "held elsewhere: early@eu.bigcorp.com (Squat)\n"
    )
    assert _cli(app, "accounts", "domains", "BigCorp").stdout == "bigcorp.com\neu.bigcorp.com\n"
    removed = _cli(app, "accounts", "unverify-domain", "BigCorp", "EU.bigcorp.com")
    assert removed.stdout == "eu.bigcorp.com is no longer verified for BigCorp.\n"
    assert _cli(app, "accounts", "domains", "BigCorp").stdout == "bigcorp.com\n"
    assert _cli(app, "accounts", "unverify-domain", "BigCorp", "eu.bigcorp.com").exit_code == 1
    logged = db.session.execute(
        select(AuditEvent.action, AuditEvent.target_label, AuditEvent.actor_label)
        .where(AuditEvent.action.like("account.%domain"), AuditEvent.outcome == "applied")
        .order_by(AuditEvent.id)
    ).all()
    assert [tuple(row) for row in logged] == [
        ("account.verify_domain", "bigcorp.com", "operator (cli)"),
        ("account.verify_domain", "eu.bigcorp.com", "operator (cli)"),
        ("account.unverify_domain", "eu.bigcorp.com", "operator (cli)"),
    ]


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("bigcorp.com", "bigcorp.com is verified by another account (BigCorp"),
        ("eu.bigcorp.com", "bigcorp.com is verified by another account (BigCorp"),
        ("com", "is not a domain name"),
        ("*.example.com", "is not a domain name"),
        ("https://example.com", "is not a domain name"),
        ("10.0.0.1", "is not a domain name"),
    ],
)
def test_verify_domain_refusals(
    app: Flask, bigcorp: tuple[Account, str], domain: str, message: str
) -> None:
    AccountFactory.create(name="Other")
    refused = _cli(app, "accounts", "verify-domain", "Other", domain)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.startswith("Error: ") and message in refused.stderr
    # A parent of someone else's domain overlaps it too.
    parent = _cli(app, "accounts", "verify-domain", "BigCorp", "sub.other.example")
    assert parent.exit_code == 0
    assert (
        "sub.other.example"
        in _cli(app, "accounts", "verify-domain", "Other", "other.example").stderr
    )


def test_only_operators_verify_domains_and_unicode_domains_are_stored_as_idna(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(Forbidden):
        domains.verify(account=account, actor=admin_of(account), domain="example.com")
    verified = domains.verify(account=account, actor=OPERATOR, domain="Bücher.example")
    assert verified.domain.domain == "xn--bcher-kva.example"
    claims = lifecycle.claims_on(account=account, email="leser@BÜCHER.example")
    assert claims.domain_owner_id == account.id
    with pytest.raises(Invalid):
        domains.normalize("bad_label.example")


def test_an_operator_gets_the_explicit_reason(app: Flask, bigcorp: tuple[Account, str]) -> None:
    with pytest.raises(DomainVerifiedElsewhere):
        accounts.create(
            actor=OPERATOR, name="Squat", plan=Plan.PREMIER, admin_email="ceo@bigcorp.com"
        )
    assert accounts.find_by_name(name="Squat") is None


def test_graphql_shows_the_accounts_verified_domains(
    client: FlaskClient, bigcorp: tuple[Account, str]
) -> None:
    account, _ = bigcorp
    reader = cast(User, UserFactory.create(account=account))
    data = gql(client, "{ account { verifiedDomains { domain verifiedAt } } }", as_=reader)
    [shown] = data["account"]["verifiedDomains"]
    assert shown["domain"] == "bigcorp.com" and shown["verifiedAt"]
    other = cast(User, UserFactory.create())
    assert gql(client, "{ account { verifiedDomains { domain } } }", as_=other) == {
        "account": {"verifiedDomains": []}
    }
