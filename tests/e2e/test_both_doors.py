"""One story through both doors: an Admin turns SCIM on in Heap, Okta provisions, Heap shows it.

The GraphQL door and the SCIM door are both driven over HTTP with the Flask test client; nothing
is set up behind their backs once the account and its first Admin exist.
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import json_of
from tests.factories import role
from tests.graph.conftest import gid, gql, make_account, make_user

SCIM_JSON = "application/scim+json"

ENABLE = """
mutation ($input: EnableScimInput!) { enableScim(input: $input) {
  plaintextToken scim { enabled } userErrors { code field } } }
"""

ADA = """
query { account {
  users(filter: {search: "ada@"}) { nodes { id email role { name } teams { name scimManaged }
                                            scimManaged viewerCannotRemoveReasons } }
  teams { nodes { name scimManaged viewerCannotManageMembersReasons
                  members(first: 10) { nodes { email } } } }
  scim { activity(first: 20) { nodes { actorKind action target outcome } } } } }
"""

REMOVE = """
mutation ($input: RemoveUserInput!) { removeUser(input: $input) {
  removedUserId userErrors { code field } } }
"""

CHANGE_ROLE = """
mutation ($input: UpdateUserRoleInput!) { updateUserRole(input: $input) {
  user { role { name } } userErrors { code field } } }
"""


def _okta_user(**overrides: Any) -> dict[str, Any]:
    # Okta's exact create body, with the Heap Role custom attribute in the core namespace.
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": "ada@example.com", "type": "work"}],
        "displayName": "Ada Lovelace",
        "locale": "en-US",
        "externalId": "00u1ada2okta",
        "groups": [],
        "password": "1mP0ssible!",
        "active": True,
        "heapRole": "Architect",
    }
    body.update(overrides)
    return body


def test_okta_provisions_through_scim_and_heap_shows_and_guards_it(client: FlaskClient) -> None:
    account = make_account(plan="premier", sso_configured=True)
    admin = make_user(account=account, admin=True, email="admin@example.com")

    # 1. The Admin enables SCIM in Heap and copies the token, shown once.
    default_role = gid("Role", role(account, "Analyst").id)
    enabled = gql(client, ENABLE, {"input": {"defaultRoleId": default_role}}, as_=admin)
    assert enabled["enableScim"]["userErrors"] == []
    scim_headers = {"Authorization": f"Bearer {enabled['enableScim']['plaintextToken']}"}

    # 2. Okta provisions Ada with Heap Role "Architect", then pushes the "Data" group with her.
    created = client.post(
        "/scim/v2/Users", json=_okta_user(), headers=scim_headers, content_type=SCIM_JSON
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    ada_scim_id = json_of(created)["id"]
    group = client.post(
        "/scim/v2/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Data",
            "members": [],
        },
        headers=scim_headers,
        content_type=SCIM_JSON,
    )
    assert group.status_code == 201, group.get_data(as_text=True)
    pushed = client.patch(
        f"/scim/v2/Groups/{json_of(group)['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": ada_scim_id, "display": "ada@example.com"}],
                }
            ],
        },
        headers=scim_headers,
        content_type=SCIM_JSON,
    )
    assert pushed.status_code in (200, 204), pushed.get_data(as_text=True)

    # 3. Heap's front end sees her role, team, SCIM-managed flags and the IdP's activity.
    seen = gql(client, ADA, as_=admin)["account"]
    [ada] = seen["users"]["nodes"]
    assert ada | {"id": None} == {
        "id": None,
        "email": "ada@example.com",
        "role": {"name": "Architect"},
        "teams": [{"name": "Data", "scimManaged": True}],
        "scimManaged": True,
        "viewerCannotRemoveReasons": ["SCIM_MANAGED"],
    }
    assert seen["teams"]["nodes"] == [
        {
            "name": "Data",
            "scimManaged": True,
            "viewerCannotManageMembersReasons": ["TEAM_SCIM_MANAGED"],
            "members": {"nodes": [{"email": "ada@example.com"}]},
        }
    ]
    idp_actions = {
        (event["action"], event["target"])
        for event in seen["scim"]["activity"]["nodes"]
        if event["actorKind"] == "identity_provider" and event["outcome"] == "APPLIED"
    }
    assert ("user.provision", "ada@example.com") in idp_actions
    assert ("team.add_members", "Data") in idp_actions

    # 4. Removing her in Heap is refused; changing her role is not.
    removed = gql(client, REMOVE, {"input": {"userId": ada["id"]}}, as_=admin)["removeUser"]
    assert removed == {
        "removedUserId": None,
        "userErrors": [{"code": "SCIM_MANAGED", "field": None}],
    }
    consumer = gid("Role", role(account, "Consumer").id)
    changed = gql(
        client, CHANGE_ROLE, {"input": {"userId": ada["id"], "roleId": consumer}}, as_=admin
    )["updateUserRole"]
    assert changed == {"user": {"role": {"name": "Consumer"}}, "userErrors": []}

    # 5. Okta's next full PUT repeats the same Heap Role: the change made in Heap stays.
    put = client.put(
        f"/scim/v2/Users/{ada_scim_id}",
        json=_okta_user(id=ada_scim_id),
        headers=scim_headers,
        content_type=SCIM_JSON,
    )
    assert put.status_code == 200, put.get_data(as_text=True)
    after = gql(client, ADA, as_=admin)["account"]["users"]["nodes"]
    assert [user["role"] for user in after] == [{"name": "Consumer"}]


WHY = """
query ($target: String) { account { scim { activity(target: $target) {
  nodes { actorKind action targetKind target outcome reason } } } } }
"""


def test_the_activity_log_says_why_okta_could_not_add_a_user(client: FlaskClient) -> None:
    account = make_account(plan="premier", sso_configured=True)
    admin = make_user(account=account, admin=True, email="admin@example.com")
    default_role = gid("Role", role(account, "Analyst").id)
    enabled = gql(client, ENABLE, {"input": {"defaultRoleId": default_role}}, as_=admin)
    scim_headers = {"Authorization": f"Bearer {enabled['enableScim']['plaintextToken']}"}
    # Grace already works for another Heap customer: one person, one organisation.
    make_user(email="grace@example.com")

    grace = _okta_user(userName="grace@example.com", emails=[{"value": "grace@example.com"}])
    refused = client.post(
        "/scim/v2/Users", json=grace, headers=scim_headers, content_type=SCIM_JSON
    )
    assert refused.status_code == 409, refused.get_data(as_text=True)

    # The Admin asks "why is Grace not in Heap?" with the email Okta shows them.
    why = gql(client, WHY, {"target": "Grace@Example.com"}, as_=admin)
    [event] = why["account"]["scim"]["activity"]["nodes"]
    assert event["reason"].startswith("EMAIL_IN_OTHER_ACCOUNT: ")
    assert event | {"reason": None} == {
        "actorKind": "identity_provider",
        "action": "user.provision",
        "targetKind": "user",
        "target": "grace@example.com",
        "outcome": "REFUSED",
        "reason": None,
    }
