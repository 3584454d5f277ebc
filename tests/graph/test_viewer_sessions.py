"""Viewer tokens die for good: a deleted user's id is never reused, and deactivation ends every
session minted before it, even after a reactivation. Through HTTP, both doors, both databases."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from heap.extensions import db
from heap.models import User
from tests.factories import scim_account
from tests.graph.conftest import (
    gid,
    gql,
    make_account,
    make_user,
    post,
    top_level_codes,
    viewer_token,
)

VIEWER = "{ viewer { email } }"


def _scim(client: FlaskClient, token: str, method: str, path: str, body: Any = None) -> int:
    response = client.open(
        f"/scim/v2{path}",
        method=method,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code


def _active(value: bool) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": value}}],
    }


def test_a_deleted_users_token_never_signs_in_as_the_next_user(
    app: Flask, client: FlaskClient
) -> None:
    acme, scim_token = scim_account(name="Acme")
    departed = make_user(account=acme, email="departed@acme.example")
    token = viewer_token(app, departed)
    assert post(client, VIEWER, token=token)["data"] == {
        "viewer": {"email": "departed@acme.example"}
    }
    departed_id = departed.id

    assert _scim(client, scim_token, "DELETE", f"/Users/{departed.scim_identity.id}") == 204
    # The next user, in another account, is an Admin there: the worst id to inherit.
    newcomer = make_user(account=make_account(name="Globex"), email="admin@globex.example")

    assert newcomer.id != departed_id
    body = post(client, VIEWER, token=token)
    assert body["data"] is None
    assert top_level_codes(body) == ["UNAUTHENTICATED"]
    assert post(client, VIEWER, token=viewer_token(app, newcomer))["data"] == {
        "viewer": {"email": "admin@globex.example"}
    }


def test_a_removed_teammates_token_dies_with_them(app: Flask, client: FlaskClient) -> None:
    """The in-app removal deletes the row too: the id is gone for good."""
    account = make_account()
    admin = make_user(account=account, admin=True)
    leaving = make_user(account=account, email="leaving@example.com")
    token = viewer_token(app, leaving)
    removal = "mutation($id: ID!) { removeUser(input: {userId: $id}) { userErrors { code } } }"
    assert gql(client, removal, {"id": gid("User", leaving.id)}, as_=admin) == {
        "removeUser": {"userErrors": []}
    }
    make_user(account=account)
    assert top_level_codes(post(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]


def test_a_token_minted_before_a_deactivation_stays_dead_after_reactivation(
    app: Flask, client: FlaskClient
) -> None:
    acme, scim_token = scim_account(name="Acme")
    user = make_user(account=acme, email="ada@acme.example")
    before = viewer_token(app, user)
    scim_id = user.scim_identity.id

    assert _scim(client, scim_token, "PATCH", f"/Users/{scim_id}", _active(False)) == 200
    assert top_level_codes(post(client, VIEWER, token=before)) == ["UNAUTHENTICATED"]
    assert _scim(client, scim_token, "PATCH", f"/Users/{scim_id}", _active(True)) == 200

    db.session.expire_all()
    reactivated = db.session.get(User, user.id)
    assert reactivated is not None and reactivated.is_active
    body = post(client, VIEWER, token=before)
    assert body["data"] is None
    assert top_level_codes(body) == ["UNAUTHENTICATED"]
    # A token minted for the new session works: sign-in is not broken, only the old one is.
    after = viewer_token(app, reactivated)
    assert post(client, VIEWER, token=after)["data"] == {"viewer": {"email": "ada@acme.example"}}


def test_a_put_deactivation_ends_sessions_too(app: Flask, client: FlaskClient) -> None:
    """Every door deactivates through one function; Okta's PUT with active false is another."""
    acme, scim_token = scim_account(name="Acme")
    user = make_user(account=acme, email="ada@acme.example")
    token = viewer_token(app, user)
    resource = client.get(
        f"/scim/v2/Users/{user.scim_identity.id}",
        headers={"Authorization": f"Bearer {scim_token}"},
    ).get_json(force=True)
    resource["active"] = False
    assert _scim(client, scim_token, "PUT", f"/Users/{user.scim_identity.id}", resource) == 200
    resource["active"] = True
    assert _scim(client, scim_token, "PUT", f"/Users/{user.scim_identity.id}", resource) == 200
    assert top_level_codes(post(client, VIEWER, token=token)) == ["UNAUTHENTICATED"]
