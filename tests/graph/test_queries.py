"""Reads: viewer, account, SCIM settings and activity, users, teams, roles, node, and their cost."""

from __future__ import annotations

from base64 import b64encode
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from heap.extensions import db
from heap.models import AuditOutcome, utcnow
from tests.factories import role, scim_account
from tests.graph.conftest import (
    add_member,
    counting_queries,
    gid,
    gql,
    make_account,
    make_audit_event,
    make_team,
    make_token,
    make_user,
    post,
    top_level_codes,
    viewer_token,
)

ACCOUNT = """
{ account { id name plan ssoConfigured
    scim { enabled active baseUrl defaultRole { name } viewerCannotEnableReasons }
    roles { name builtIn admin } } }
"""


def test_account_shows_plan_sso_scim_and_roles(client: FlaskClient) -> None:
    account, _ = scim_account(name="Acme")
    admin = make_user(account=account, admin=True)
    data = gql(client, ACCOUNT, as_=admin)["account"]
    assert data["id"] == gid("Account", account.id)
    assert (data["name"], data["plan"], data["ssoConfigured"]) == ("Acme", "PREMIER", True)
    assert data["scim"] == {
        "enabled": True,
        "active": True,
        "baseUrl": "http://localhost/scim/v2",
        "defaultRole": {"name": "Analyst"},
        "viewerCannotEnableReasons": ["SCIM_ALREADY_ENABLED"],
    }
    assert [r["name"] for r in data["roles"]] == ["Admin", "Architect", "Analyst", "Consumer"]
    assert [r["admin"] for r in data["roles"]] == [True, False, False, False]


def test_enable_reasons_name_the_missing_plan(client: FlaskClient) -> None:
    admin = make_user(account=make_account(plan="growth"), admin=True)
    data = gql(client, "{ account { scim { viewerCannotEnableReasons } } }", as_=admin)
    assert data["account"]["scim"]["viewerCannotEnableReasons"] == ["PLAN_REQUIRED"]


TOKENS = "{ account { scim { tokens { id prefix createdAt lastUsedAt revokedAt active } } } }"


def test_admins_see_tokens_without_their_secret(client: FlaskClient) -> None:
    account, raw = scim_account()
    admin = make_user(account=account, admin=True)
    body = post(client, TOKENS, token=viewer_token(client.application, admin))
    tokens = body["data"]["account"]["scim"]["tokens"]
    assert [t["prefix"] for t in tokens] == [raw[:15]]
    assert tokens[0]["active"] is True
    assert raw not in str(body)


def test_teammates_may_not_list_tokens(client: FlaskClient) -> None:
    account, _ = scim_account()
    teammate = make_user(account=account)
    body = post(client, TOKENS, token=viewer_token(client.application, teammate))
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["account", "scim", "tokens"]
    assert body["data"]["account"]["scim"]["tokens"] is None


ACTIVITY = """
query ($after: String) { account { scim { activity(first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  nodes { actor actorKind action target targetKind outcome reason } } } } }
"""


def test_activity_pages_newest_first(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    for action in ("one", "two", "three"):
        make_audit_event(account=account, action=action)
    make_audit_event(
        account=account,
        action="user.remove",
        actor_label="ada@example.com",
        actor_kind="member",
        target_kind="user",
        target_label="bob@example.com",
        outcome=AuditOutcome.REFUSED.value,
        reason="SCIM_MANAGED: ...",
    )
    first = gql(client, ACTIVITY, as_=admin)["account"]["scim"]["activity"]
    assert first["totalCount"] == 4
    assert first["nodes"][0] == {
        "actor": "ada@example.com",
        "actorKind": "member",
        "action": "user.remove",
        "target": "bob@example.com",
        "targetKind": "user",
        "outcome": "REFUSED",
        "reason": "SCIM_MANAGED: ...",
    }
    assert [n["action"] for n in first["nodes"]] == ["user.remove", "three"]
    after = first["pageInfo"]["endCursor"]
    second = gql(client, ACTIVITY, {"after": after}, as_=admin)["account"]["scim"]["activity"]
    assert [n["action"] for n in second["nodes"]] == ["two", "one"]
    assert second["pageInfo"]["hasNextPage"] is False


def test_teammates_may_not_read_activity(client: FlaskClient) -> None:
    teammate = make_user()
    body = post(client, ACTIVITY, token=viewer_token(client.application, teammate))
    assert top_level_codes(body) == ["FORBIDDEN"]


WHY = """
query ($target: String, $outcome: AuditOutcome, $first: Int, $after: String) {
  account { scim { activity(target: $target, outcome: $outcome, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { actorKind actor action targetKind targetId target outcome reason occurredAt } } } } }
"""


def test_activity_answers_why_a_user_is_not_in_heap(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    okta = {"actor_kind": "identity_provider", "actor_label": "SCIM token heapscim_ab…"}
    make_audit_event(
        account=account,
        action="user.provision",
        target_kind="user",
        target_label="ada@example.com",
        outcome=AuditOutcome.REFUSED.value,
        reason="EMAIL_IN_OTHER_ACCOUNT: ...",
        **okta,
    )
    make_audit_event(account=account, action="user.provision", target_label="adam@example.com")
    make_audit_event(
        account=account,
        action="user.deactivate",
        target_kind="user",
        target_id="1f0c-scim-id",
        target_label="ada@example.com",
        **okta,
    )
    make_audit_event(action="user.provision", target_label="ada@example.com")  # elsewhere

    def activity(**variables: Any) -> Any:
        return gql(client, WHY, variables, as_=admin)["account"]["scim"]["activity"]

    ada = activity(target=" ADA@Example.com ")
    assert ada["totalCount"] == 2
    assert [n["action"] for n in ada["nodes"]] == ["user.deactivate", "user.provision"]
    refused = ada["nodes"][1]
    assert refused.pop("occurredAt")
    assert refused == {
        "actorKind": "identity_provider",
        "actor": "SCIM token heapscim_ab…",
        "action": "user.provision",
        "targetKind": "user",
        "targetId": None,
        "target": "ada@example.com",
        "outcome": "REFUSED",
        "reason": "EMAIL_IN_OTHER_ACCOUNT: ...",
    }
    # Matched whole: "ada" is not Adam, and an id matches whatever its case.
    assert activity(target="ada")["totalCount"] == 0
    assert [n["action"] for n in activity(target="1F0C-SCIM-ID")["nodes"]] == ["user.deactivate"]
    assert activity(target="ada@example.com", outcome="REFUSED")["totalCount"] == 1
    assert activity(outcome="APPLIED")["totalCount"] == 2

    first = activity(target="ada@example.com", first=1)
    assert first["pageInfo"]["hasNextPage"] is True
    rest = activity(target="ada@example.com", first=1, after=first["pageInfo"]["endCursor"])
    assert [n["action"] for n in rest["nodes"]] == ["user.provision"]
    assert rest["pageInfo"]["hasNextPage"] is False


PAGE_ARGS = (
    "(first: $first, after: $after) { totalCount pageInfo { hasNextPage } edges { cursor } }"
)
PAGED = [
    f"{{ account {{ users{PAGE_ARGS} }} }}",
    f"{{ account {{ teams{PAGE_ARGS} }} }}",
    f"{{ account {{ teams {{ nodes {{ members{PAGE_ARGS} }} }} }} }}",
    f"{{ account {{ scim {{ activity{PAGE_ARGS} }} }} }}",
]


def _paged(query: str) -> str:
    return "query ($first: Int, $after: String) " + query


def _connection(data: Any) -> Any:
    """The one connection inside ``data``, however deep the query put it."""
    while "totalCount" not in data:
        [data] = data.values()
        if isinstance(data, list):
            [data] = data
    return data


@pytest.mark.parametrize("query", PAGED)
@pytest.mark.parametrize(
    "variables",
    [
        {"first": -1},
        {"after": "garbage"},
        {"after": ""},
        {"after": gid("User", 1)},  # a global id is not a cursor
        {"after": gid("cursor", 10**20)},  # no key is that large
        {"after": b64encode("cursor:٣".encode()).decode()},  # an Arabic-Indic three
    ],
)
def test_a_negative_page_size_or_a_foreign_cursor_is_bad_user_input(
    client: FlaskClient, query: str, variables: dict[str, Any]
) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    make_team(account=account)
    body = post(client, _paged(query), variables, token=viewer_token(client.application, admin))
    assert top_level_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("query", PAGED)
def test_a_page_of_zero_counts_without_listing(client: FlaskClient, query: str) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    add_member(make_team(account=account), admin)
    make_audit_event(account=account)
    body = post(client, _paged(query), {"first": 0}, token=viewer_token(client.application, admin))
    assert "errors" not in body, body["errors"]
    assert _connection(body["data"]) == {
        "totalCount": 1,
        "pageInfo": {"hasNextPage": True},
        "edges": [],
    }


USERS = """
query ($filter: UserFilter, $first: Int, $after: String) {
  account { users(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id email name status role { name } teams { name }
                          scimManaged viewerCanRemove viewerCannotRemoveReasons } } } } }
"""


def _emails(data: dict[str, Any]) -> list[str]:
    return [edge["node"]["email"] for edge in data["account"]["users"]["edges"]]


def test_users_filter_by_role_team_status_and_search(client: FlaskClient) -> None:
    account = make_account()
    # Fixed names: Faker's random ones ("Bradley", "Adams") would match the search below.
    names = {"given_name": "Kim", "family_name": "Lee"}
    admin = make_user(account=account, admin=True, email="admin@example.com", **names)
    ada = make_user(account=account, email="ada@example.com", given_name="Ada", family_name="L")
    make_user(account=account, email="bob@example.com", role=role(account, "Architect"), **names)
    gone = make_user(account=account, email="gone@example.com", **names)
    gone.deactivated_at, gone.role = utcnow(), None
    team = make_team(account=account, name="Data")
    add_member(team, ada)
    make_user(email="stranger@example.com")  # another account

    def emails(**filter: Any) -> list[str]:
        return _emails(gql(client, USERS, {"filter": filter}, as_=admin))

    db.session.commit()
    assert emails() == [
        "admin@example.com",
        "ada@example.com",
        "bob@example.com",
        "gone@example.com",
    ]
    assert emails(roleId=gid("Role", role(account, "Architect").id)) == ["bob@example.com"]
    assert emails(teamId=gid("Team", team.id)) == ["ada@example.com"]
    assert emails(status="DEACTIVATED") == ["gone@example.com"]
    assert emails(status="ACTIVE", search="AD") == ["admin@example.com", "ada@example.com"]
    assert emails(search="%") == []


def test_a_user_shows_role_teams_scim_flag_and_remove_reasons(client: FlaskClient) -> None:
    account, _ = scim_account()
    admin = make_user(account=account, admin=True, email="admin@example.com")
    ada = make_user(account=account, email="ada@example.com", identity__idp_managed=True)
    add_member(make_team(account=account, name="Data"), ada)
    edges = gql(client, USERS, as_=admin)["account"]["users"]["edges"]
    nodes = {edge["node"]["email"]: edge["node"] for edge in edges}
    assert nodes["ada@example.com"] | {"id": None} == {
        "id": None,
        "email": "ada@example.com",
        "name": ada.full_name,
        "status": "ACTIVE",
        "role": {"name": "Analyst"},
        "teams": [{"name": "Data"}],
        "scimManaged": True,
        "viewerCanRemove": False,
        "viewerCannotRemoveReasons": ["SCIM_MANAGED"],
    }
    # The only Admin: removing them is refused twice over.
    assert nodes["admin@example.com"]["viewerCannotRemoveReasons"] == [
        "SCIM_MANAGED",
        "LAST_ADMIN",
    ]
    assert nodes["admin@example.com"]["scimManaged"] is False


def test_a_teammate_reads_users_but_may_remove_nobody(client: FlaskClient) -> None:
    account = make_account(scim_enabled=False)
    teammate = make_user(account=account)
    make_user(account=account, admin=True)
    nodes = [e["node"] for e in gql(client, USERS, as_=teammate)["account"]["users"]["edges"]]
    assert [n["viewerCannotRemoveReasons"] for n in nodes] == [
        ["FORBIDDEN"],
        ["FORBIDDEN", "LAST_ADMIN"],
    ]


def test_an_admin_without_scim_may_remove_teammates(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    make_user(account=account)
    nodes = [e["node"] for e in gql(client, USERS, as_=admin)["account"]["users"]["edges"]]
    assert [n["viewerCanRemove"] for n in nodes] == [False, True]  # the last Admin, then Ada


def test_users_paginate_with_cursors_and_cap_at_100(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    for _ in range(104):
        make_user(account=account)
    first = gql(client, USERS, {"first": 1000}, as_=admin)["account"]["users"]
    assert len(first["edges"]) == 100
    assert first["totalCount"] == 105
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = gql(client, USERS, {"first": 50, "after": after}, as_=admin)["account"]["users"]
    assert len(rest["edges"]) == 5
    assert rest["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": rest["edges"][-1]["cursor"],
    }
    seen = {e["node"]["id"] for e in first["edges"]} | {e["node"]["id"] for e in rest["edges"]}
    assert len(seen) == 105


TEAMS = """
{ account { teams { totalCount nodes { id name scimManaged memberCount
    viewerCanManageMembers viewerCannotManageMembersReasons
    members(first: 1) { totalCount pageInfo { hasNextPage } nodes { email } } } } } }
"""


def test_teams_show_members_scim_flag_and_manage_reasons(client: FlaskClient) -> None:
    account, _ = scim_account()
    admin = make_user(account=account, admin=True)
    pushed = make_team(account=account, name="Okta group", scim_managed=True)
    local = make_team(account=account, name="Local")
    for email in ("a@example.com", "b@example.com"):
        add_member(pushed, make_user(account=account, email=email))
    nodes = gql(client, TEAMS, as_=admin)["account"]["teams"]["nodes"]
    assert nodes == [
        {
            "id": gid("Team", pushed.id),
            "name": "Okta group",
            "scimManaged": True,
            "memberCount": 2,
            "viewerCanManageMembers": False,
            "viewerCannotManageMembersReasons": ["TEAM_SCIM_MANAGED"],
            "members": {
                "totalCount": 2,
                "pageInfo": {"hasNextPage": True},
                "nodes": [{"email": "a@example.com"}],
            },
        },
        {
            "id": gid("Team", local.id),
            "name": "Local",
            "scimManaged": False,
            "memberCount": 0,
            "viewerCanManageMembers": True,
            "viewerCannotManageMembersReasons": [],
            "members": {"totalCount": 0, "pageInfo": {"hasNextPage": False}, "nodes": []},
        },
    ]


NODE = "query ($id: ID!) { node(id: $id) { __typename id ... on User { email } } }"


def test_node_refetches_own_objects_and_hides_other_accounts(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    team = make_team(account=account)
    token = make_token(account=account)
    stranger = make_user()
    foreign_team = make_team()
    foreign_token = make_token()

    def node(type_name: str, key: int) -> Any:
        return gql(client, NODE, {"id": gid(type_name, key)}, as_=admin)["node"]

    assert node("User", admin.id) == {
        "__typename": "User",
        "id": gid("User", admin.id),
        "email": admin.email,
    }
    assert node("Team", team.id)["__typename"] == "Team"
    assert node("Role", role(account, "Admin").id)["__typename"] == "Role"
    assert node("ScimToken", token.id)["__typename"] == "ScimToken"
    assert node("Account", account.id)["__typename"] == "Account"
    assert node("User", stranger.id) is None
    assert node("Team", foreign_team.id) is None
    assert node("Role", role(stranger.account, "Admin").id) is None
    assert node("ScimToken", foreign_token.id) is None
    assert node("Account", stranger.account_id) is None
    assert gql(client, NODE, {"id": "not-a-global-id"}, as_=admin)["node"] is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "!!!",
        "User:1",  # not base64
        "User",
        "User:",
        "User:1:2",
        "User:-1",
        "User:0",
        "User:٣",  # isdigit() says yes, no key is written so
        f"User:{10**20}",  # overflowed SQLite's parameter binding: a masked 500
        "Nothing:1",
        "ScimToken:x",
    ],
)
def test_node_answers_null_for_anything_not_an_id(client: FlaskClient, raw: str) -> None:
    admin = make_user(admin=True)
    value = raw if raw in {"", "!!!", "User:1"} else b64encode(raw.encode()).decode()
    body = post(client, NODE, {"id": value}, token=viewer_token(client.application, admin))
    assert body == {"data": {"node": None}}


# Two pages a screen could show, each within the cost budget: wide (100 users with their roles
# and teams, 100 teams with a few members each) and deep (members of each user's teams, with
# those members' own teams).
WIDE_PAGE = """
{ account { users(first: 100) { totalCount edges { node {
    email role { name } teams { name memberCount } scimManaged viewerCannotRemoveReasons } } }
  teams(first: 100) { nodes { name memberCount
    members(first: 5) { nodes { email role { name } } } } } } }
"""
DEEP_PAGE = """
{ account { users(first: 2) { totalCount nodes { email
    teams { name members(first: 2) { nodes { email role { name } teams { name } } } } } } } }
"""


def _queries_for_page(app: Flask, client: FlaskClient, users: int, page: str) -> int:
    account = make_account()
    admin = make_user(account=account, admin=True)
    teams = [make_team(account=account) for _ in range(2)]
    for n in range(users):
        user = make_user(account=account, role=role(account, ("Analyst", "Architect")[n % 2]))
        for team in teams:
            add_member(team, user)
    token = viewer_token(app, admin)
    with counting_queries(app) as statements:
        body = post(client, page, token=token)
    assert "errors" not in body, body["errors"]
    assert body["data"]["account"]["users"]["totalCount"] == users + 1
    return len(statements)


@pytest.mark.parametrize("page", [WIDE_PAGE, DEEP_PAGE])
def test_a_page_costs_the_same_queries_for_1_and_100_users(
    app: Flask, client: FlaskClient, page: str
) -> None:
    one = _queries_for_page(app, client, 1, page)
    hundred = _queries_for_page(app, client, 99, page)
    assert one == hundred
