"""The last Admin and the IdP (finding 3): removals always apply, role changes never empty the
account of Admins, and an account left without one says so."""

# factory-boy factories are untyped (see the tests.factories override in pyproject.toml).
# mypy: disable-error-code="no-untyped-call,attr-defined"

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from heap.actors import IdentityProvider
from heap.errors import Busy, HeapError
from heap.extensions import db
from heap.models import Account, AuditEvent, ScimIdentity, ScimToken, User
from heap.services import lifecycle, provisioning, users
from heap.services.provisioning import IdpProfile
from tests.conftest import json_of
from tests.factories import UserFactory, role_name, scim_account
from tests.graph.conftest import gql
from tests.services.helpers import idp_deactivates

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
HEAP_URN = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class Idp:
    client: FlaskClient
    account: Account
    token: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.open(f"/scim/v2{path}", method=method, headers=headers, json=body)

    def admin(self, email: str) -> str:
        """Provision ``email`` with Heap Role Admin, as Okta would; its SCIM id."""
        created = self.call("POST", "/Users", _okta_user(email, heapRole="Admin"))
        assert created.status_code == 201, created.get_data(as_text=True)
        return str(json_of(created)["id"])


@pytest.fixture
def idp(client: FlaskClient) -> Idp:
    account, token = scim_account()
    return Idp(client, account, token)


def _okta_user(email: str, **changes: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_URN],
        "userName": email,
        "name": {"givenName": "Ada", "familyName": "Admin"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "active": True,
        **changes,
    }


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def _roles(scim_id: str) -> str | None:
    db.session.expire_all()
    return role_name(db.session.get_one(ScimIdentity, scim_id).user)


def _events(account: Account, action: str) -> list[AuditEvent]:
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.account_id == account.id)
    return list(db.session.scalars(query.where(AuditEvent.action == action)))


def _admin_count(client: FlaskClient, account: Account) -> int:
    reader = lifecycle.find_active_by_email(email="reader@example.com") or cast(
        User, UserFactory.create(account=account, email="reader@example.com")
    )
    data = gql(client, "{ account { adminCount } }", as_=reader)
    count: int = data["account"]["adminCount"]
    return count


LAST_ADMIN_DETAIL = (
    "ada@example.com is the only Admin of this Heap account: Heap Role {role} (an empty Heap "
    "Role means the default role) would leave the account with no Admin. Give Heap Role Admin to "
    "someone else first (in Okta: the Heap Role attribute of their Heap app assignment), then "
    "change this person's role."
)


@pytest.mark.parametrize(
    "demotion",
    [
        _patch({"op": "replace", "path": "heapRole", "value": "Analyst"}),
        _patch({"op": "replace", "value": {f"{HEAP_URN}:heapRole": "Analyst"}}),
        # Entra's app role shape.
        _patch(
            {"op": "Replace", "path": "roles", "value": [{"primary": "True", "value": "Analyst"}]}
        ),
    ],
    ids=["okta-core", "okta-extension", "entra-roles"],
)
def test_the_idp_cannot_demote_the_last_admin(idp: Idp, demotion: dict[str, Any]) -> None:
    ada = idp.admin("ada@example.com")
    response = idp.call("PATCH", f"/Users/{ada}", demotion)
    assert response.status_code == 409
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "409",
        "detail": LAST_ADMIN_DETAIL.format(role="Analyst"),
    }
    assert _roles(ada) == "Admin"
    [refusal] = [e for e in _events(idp.account, "user.update") if e.outcome == "refused"]
    assert refusal.target_id == ada
    assert refusal.reason == "LAST_ADMIN: " + LAST_ADMIN_DETAIL.format(role="Analyst")


def test_clearing_the_heap_role_mapping_leaves_one_admin(idp: Idp) -> None:
    """Okta sends "" for everyone once its admin clears the mapping: "" means the default role,
    and the push would demote every Admin. The last one stays, with a 409 saying what to do."""
    first, second = idp.admin("ada@example.com"), idp.admin("bob@example.com")
    for scim_id in (first, second):
        current = json_of(idp.call("GET", f"/Users/{scim_id}"))
        current[HEAP_URN] = {"heapRole": ""}
        responses = idp.call("PUT", f"/Users/{scim_id}", current)
        if scim_id == first:
            assert responses.status_code == 200
        else:
            assert responses.status_code == 409
            assert (
                "Heap Role Analyst (an empty Heap Role means the default role)"
                in (json_of(responses)["detail"])
            )
    assert (_roles(first), _roles(second)) == ("Analyst", "Admin")
    assert users.count_active_admins(account=idp.account) == 1


def test_the_idp_may_still_promote_and_demote_while_another_admin_remains(idp: Idp) -> None:
    ada, bob = idp.admin("ada@example.com"), idp.admin("bob@example.com")
    demote = _patch({"op": "replace", "path": "heapRole", "value": "Consumer"})
    assert idp.call("PATCH", f"/Users/{ada}", demote).status_code == 200
    assert idp.call("PATCH", f"/Users/{bob}", demote).status_code == 409
    promote = _patch({"op": "replace", "path": "heapRole", "value": "Admin"})
    assert idp.call("PATCH", f"/Users/{ada}", promote).status_code == 200
    assert idp.call("PATCH", f"/Users/{bob}", demote).status_code == 200
    assert (_roles(ada), _roles(bob)) == ("Admin", "Consumer")


@pytest.mark.parametrize("removal", ["deactivate", "put-inactive", "delete"])
def test_the_idp_removes_the_last_admin_and_the_account_says_so(
    idp: Idp, client: FlaskClient, removal: str
) -> None:
    ada = idp.admin("ada@example.com")
    assert _admin_count(client, idp.account) == 1
    if removal == "deactivate":
        off = _patch({"op": "replace", "value": {"active": False}})
        assert idp.call("PATCH", f"/Users/{ada}", off).status_code == 200
    elif removal == "put-inactive":
        current = json_of(idp.call("GET", f"/Users/{ada}"))
        assert idp.call("PUT", f"/Users/{ada}", {**current, "active": False}).status_code == 200
    else:
        assert idp.call("DELETE", f"/Users/{ada}").status_code == 204

    [event] = _events(idp.account, "account.no_admin")
    assert (event.outcome, event.target_kind, event.target_id) == (
        "applied",
        "account",
        str(idp.account.id),
    )
    assert event.reason == (
        "The identity provider removed this account's last Admin (ada@example.com): nobody can "
        "change settings, roles or teams in Heap until it sends Heap Role Admin for someone."
    )
    assert _admin_count(client, idp.account) == 0

    # The IdP restores an Admin by sending Heap Role Admin for someone.
    idp.admin("bob@example.com")
    assert _admin_count(client, idp.account) == 1


def test_removing_an_admin_who_is_not_the_last_says_nothing(idp: Idp) -> None:
    ada, _ = idp.admin("ada@example.com"), idp.admin("bob@example.com")
    assert idp.call("DELETE", f"/Users/{ada}").status_code == 204
    off = _patch({"op": "replace", "value": {"active": False}})
    plain = json_of(idp.call("POST", "/Users", _okta_user("carl@example.com")))["id"]
    assert idp.call("PATCH", f"/Users/{plain}", off).status_code == 200
    assert _events(idp.account, "account.no_admin") == []


def test_the_last_two_admins_removed_at_once_leave_one_event(app: Flask) -> None:
    """Each removal counts the Admins left under the account's lock: they cannot both count the
    other's Admin. A removal that lost a deadlock to the other is Busy (429), and its retry
    applies."""
    account, _ = scim_account()
    token_id = db.session.scalars(select(ScimToken.id)).one()
    idp = IdentityProvider.through(db.session.get_one(ScimToken, token_id))
    ids = [
        provisioning.provision(
            account=account, actor=idp, profile=IdpProfile(user_name=email, heap_role="Admin")
        ).id
        for email in ("ada@example.com", "bob@example.com")
    ]
    start = threading.Barrier(2)
    results: list[Any] = [None, None]

    def deactivate(index: int) -> None:
        with app.app_context():
            mine = db.session.get_one(Account, account.id)
            actor = IdentityProvider.through(db.session.get_one(ScimToken, token_id))
            start.wait(timeout=30)
            for _ in range(5):
                try:
                    results[index] = idp_deactivates(
                        account=mine, actor=actor, scim_id=ids[index]
                    ).id
                    break
                except Busy as busy:
                    results[index] = busy
                except HeapError as error:
                    results[index] = error
                    break
            db.session.remove()

    threads = [threading.Thread(target=deactivate, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert results == ids
    assert len(_events(account, "account.no_admin")) == 1
    assert users.count_active_admins(account=account) == 0
