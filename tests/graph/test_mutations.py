"""Every mutation through POST /graphql, with each refusal asserted by ``code`` and ``field``."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from heap.extensions import db
from heap.models import Account, Team, TeamMembership, User
from tests.factories import role, scim_account
from tests.graph.conftest import (
    add_member,
    gid,
    gql,
    make_account,
    make_role,
    make_team,
    make_token,
    make_user,
    post,
    refusal,
    top_level_codes,
    viewer_token,
)

ERRORS = "userErrors { code field message }"


def _mutation(name: str, fields: str) -> str:
    input_type = f"{name[0].upper()}{name[1:]}Input"
    return f"mutation ($input: {input_type}!) {{ {name}(input: $input) {{ {fields} }} }}"


def run(client: FlaskClient, name: str, input: dict[str, Any], fields: str, as_: User) -> Any:
    """The payload of mutation ``name``, selecting ``fields`` and the user errors."""
    query = _mutation(name, f"{fields} {ERRORS}")
    return gql(client, query, {"input": input}, as_=as_)[name]


def forbidden(client: FlaskClient, name: str, input: dict[str, Any], as_: User) -> None:
    """A teammate's attempt: a top-level FORBIDDEN and a null payload."""
    query = _mutation(name, ERRORS)
    body = post(client, query, {"input": input}, token=viewer_token(client.application, as_))
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {name: None}


# ---- Admins only -------------------------------------------------------------------------------

# Every mutation, with input that would be refused in ``userErrors`` if the admin check came
# later: ids that decode to nothing, ``confirm: false``, blank names, a malformed email.
GARBAGE = "zzz"
NON_ADMIN_ATTEMPTS: dict[str, dict[str, Any]] = {
    "enableScim": {"defaultRoleId": GARBAGE},
    "disableScim": {"confirm": False},
    "setScimDefaultRole": {"roleId": GARBAGE},
    "rotateScimToken": {"confirm": False},
    "revokeScimToken": {"tokenId": GARBAGE},
    "inviteUser": {"email": "not an email", "roleId": GARBAGE},
    "removeUser": {"userId": GARBAGE},
    "updateUserRole": {"userId": GARBAGE, "roleId": GARBAGE},
    "createTeam": {"name": "", "userIds": [GARBAGE]},
    "renameTeam": {"teamId": GARBAGE, "name": ""},
    "deleteTeam": {"teamId": GARBAGE},
    "unlinkTeam": {"teamId": GARBAGE},
    "addTeamMembers": {"teamId": GARBAGE, "userIds": [GARBAGE]},
    "removeTeamMembers": {"teamId": GARBAGE, "userIds": [GARBAGE]},
    "createRole": {"name": ""},
    "renameRole": {"roleId": GARBAGE, "name": ""},
    "deleteRole": {"roleId": GARBAGE},
}


def test_the_admin_table_covers_every_mutation(client: FlaskClient) -> None:
    query = "{ __schema { mutationType { fields { name } } } }"
    data = gql(client, query, as_=make_user())
    names = {f["name"] for f in data["__schema"]["mutationType"]["fields"]}
    assert names == set(NON_ADMIN_ATTEMPTS)


@pytest.mark.parametrize(("name", "input"), NON_ADMIN_ATTEMPTS.items(), ids=NON_ADMIN_ATTEMPTS)
def test_an_analyst_is_forbidden_before_any_input_is_read(
    client: FlaskClient, name: str, input: dict[str, Any]
) -> None:
    """SPEC §5: the admin check comes first, so a non-Admin learns nothing about their input."""
    forbidden(client, name, input, make_user())


# ---- SCIM settings -----------------------------------------------------------------------------


def test_enable_scim_returns_the_token_once(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    payload = run(
        client,
        "enableScim",
        {"defaultRoleId": gid("Role", role(account, "Consumer").id)},
        "plaintextToken scim { enabled defaultRole { name } tokens { prefix } }",
        admin,
    )
    assert payload["userErrors"] == []
    assert payload["plaintextToken"].startswith("heapscim_")
    assert payload["scim"]["enabled"] is True
    assert payload["scim"]["defaultRole"] == {"name": "Consumer"}
    assert payload["scim"]["tokens"] == [{"prefix": payload["plaintextToken"][:15]}]
    again = gql(client, "{ account { scim { tokens { prefix } } } }", as_=admin)
    assert payload["plaintextToken"] not in str(again)


@pytest.mark.parametrize(
    ("plan", "sso", "code"),
    [("growth", True, "PLAN_REQUIRED"), ("premier", False, "SSO_REQUIRED")],
)
def test_enable_scim_needs_premier_and_sso(
    client: FlaskClient, plan: str, sso: bool, code: str
) -> None:
    account = make_account(plan=plan, sso_configured=sso)
    admin = make_user(account=account, admin=True)
    input = {"defaultRoleId": gid("Role", role(account, "Analyst").id)}
    payload = run(client, "enableScim", input, "plaintextToken scim { enabled }", admin)
    assert refusal(payload) == (code, None)
    assert payload["plaintextToken"] is None


def test_enable_scim_refuses_an_unknown_role_and_non_admins(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    foreign_role = role(make_account(), "Analyst")
    input = {"defaultRoleId": gid("Role", foreign_role.id)}
    payload = run(client, "enableScim", input, "plaintextToken", admin)
    assert refusal(payload) == ("NOT_FOUND", ["defaultRoleId"])
    own = {"defaultRoleId": gid("Role", role(account, "Analyst").id)}
    forbidden(client, "enableScim", own, make_user(account=account))


def test_disable_scim_needs_confirm_then_revokes_and_unlinks(client: FlaskClient) -> None:
    account, _ = scim_account()
    admin = make_user(account=account, admin=True)
    make_team(account=account, scim_managed=True)
    fields = "scim { enabled tokens { active } }"
    assert refusal(run(client, "disableScim", {"confirm": False}, fields, admin)) == (
        "INVALID",
        ["confirm"],
    )
    payload = run(client, "disableScim", {"confirm": True}, fields, admin)
    assert payload["scim"] == {"enabled": False, "tokens": [{"active": False}]}
    teams = gql(client, "{ account { teams { nodes { scimManaged } } } }", as_=admin)
    assert teams["account"]["teams"]["nodes"] == [{"scimManaged": False}]
    assert refusal(run(client, "disableScim", {"confirm": True}, fields, admin)) == (
        "SCIM_NOT_ENABLED",
        None,
    )
    forbidden(client, "disableScim", {"confirm": True}, make_user(account=account))


def test_set_scim_default_role(client: FlaskClient) -> None:
    account, _ = scim_account()
    admin = make_user(account=account, admin=True)
    architect = gid("Role", role(account, "Architect").id)
    payload = run(
        client, "setScimDefaultRole", {"roleId": architect}, "scim { defaultRole { name } }", admin
    )
    assert payload["scim"]["defaultRole"] == {"name": "Architect"}
    bad = run(client, "setScimDefaultRole", {"roleId": "nope"}, "scim { enabled }", admin)
    assert refusal(bad) == ("NOT_FOUND", ["roleId"])
    forbidden(client, "setScimDefaultRole", {"roleId": architect}, make_user(account=account))


def test_rotate_then_revoke_a_token(client: FlaskClient) -> None:
    account, raw = scim_account()
    admin = make_user(account=account, admin=True)
    fields = "plaintextToken scimToken { id prefix active }"
    rotated = run(client, "rotateScimToken", {"confirm": True}, fields, admin)
    assert rotated["plaintextToken"] != raw
    assert rotated["scimToken"]["active"] is True
    tokens = gql(client, "{ account { scim { tokens { id active } } } }", as_=admin)
    old_id = next(
        t["id"]
        for t in tokens["account"]["scim"]["tokens"]
        if t["id"] != rotated["scimToken"]["id"]
    )
    revoked = run(client, "revokeScimToken", {"tokenId": old_id}, "scimToken { active }", admin)
    assert revoked == {"scimToken": {"active": False}, "userErrors": []}
    again = run(client, "revokeScimToken", {"tokenId": old_id}, "scimToken { active }", admin)
    assert refusal(again) == ("TOKEN_REVOKED", ["tokenId"])
    foreign = gid("ScimToken", make_token().id)
    other = run(client, "revokeScimToken", {"tokenId": foreign}, "scimToken { active }", admin)
    assert refusal(other) == ("NOT_FOUND", ["tokenId"])
    forbidden(client, "rotateScimToken", {"confirm": True}, make_user(account=account))
    forbidden(client, "revokeScimToken", {"tokenId": old_id}, make_user(account=account))


# ---- users -------------------------------------------------------------------------------------


def test_invite_user(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    input = {"email": "new@example.com", "roleId": gid("Role", role(account, "Architect").id)}
    payload = run(client, "inviteUser", input, "user { email role { name } scimManaged }", admin)
    assert payload["user"] == {
        "email": "new@example.com",
        "role": {"name": "Architect"},
        "scimManaged": False,
    }
    assert refusal(run(client, "inviteUser", input, "user { id }", admin)) == (
        "ALREADY_EXISTS",
        ["email"],
    )
    bad = run(client, "inviteUser", {"email": "not an email"}, "user { id }", admin)
    assert refusal(bad) == ("INVALID", ["email"])
    forbidden(client, "inviteUser", {"email": "x@example.com"}, make_user(account=account))


def test_scim_mode_blocks_invite_and_remove_but_not_role_changes(client: FlaskClient) -> None:
    account, _ = scim_account()
    admin = make_user(account=account, admin=True)
    ada = make_user(account=account)
    invite = run(client, "inviteUser", {"email": "new@example.com"}, "user { id }", admin)
    assert refusal(invite) == ("SCIM_MANAGED", None)
    removed = run(client, "removeUser", {"userId": gid("User", ada.id)}, "removedUserId", admin)
    assert refusal(removed) == ("SCIM_MANAGED", None)
    assert removed["removedUserId"] is None
    input = {"userId": gid("User", ada.id), "roleId": gid("Role", role(account, "Consumer").id)}
    changed = run(client, "updateUserRole", input, "user { role { name } }", admin)
    assert changed == {"user": {"role": {"name": "Consumer"}}, "userErrors": []}


def test_remove_user(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    ada_id = gid("User", make_user(account=account).id)
    payload = run(client, "removeUser", {"userId": ada_id}, "removedUserId", admin)
    assert payload == {"removedUserId": ada_id, "userErrors": []}
    again = run(client, "removeUser", {"userId": ada_id}, "removedUserId", admin)
    assert refusal(again) == ("NOT_FOUND", ["userId"])
    # Larger than any key: once a masked 500 (SQLite cannot bind it), now an unknown user.
    huge = run(client, "removeUser", {"userId": gid("User", 10**20)}, "removedUserId", admin)
    assert refusal(huge) == ("NOT_FOUND", ["userId"])
    last = run(client, "removeUser", {"userId": gid("User", admin.id)}, "removedUserId", admin)
    assert refusal(last) == ("LAST_ADMIN", None)
    forbidden(client, "removeUser", {"userId": gid("User", admin.id)}, make_user(account=account))


def test_update_user_role_keeps_the_last_admin(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    analyst = gid("Role", role(account, "Analyst").id)
    input = {"userId": gid("User", admin.id), "roleId": analyst}
    assert refusal(run(client, "updateUserRole", input, "user { id }", admin)) == (
        "LAST_ADMIN",
        None,
    )
    stranger = {"userId": gid("User", make_user().id), "roleId": analyst}
    assert refusal(run(client, "updateUserRole", stranger, "user { id }", admin)) == (
        "NOT_FOUND",
        ["userId"],
    )
    forbidden(client, "updateUserRole", input, make_user(account=account))


# ---- teams -------------------------------------------------------------------------------------


def _members(team: Team) -> int:
    query = select(func.count()).where(TeamMembership.team_id == team.id)
    return db.session.scalar(query) or 0


def test_team_lifecycle(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    ada, bob = make_user(account=account), make_user(account=account)
    created = run(
        client,
        "createTeam",
        {"name": "Data", "userIds": [gid("User", ada.id)]},
        "team { id name memberCount }",
        admin,
    )
    team_id = created["team"]["id"]
    assert created["team"] | {"id": None} == {"id": None, "name": "Data", "memberCount": 1}
    dup = run(client, "createTeam", {"name": "data"}, "team { id }", admin)
    assert refusal(dup) == ("ALREADY_EXISTS", ["name"])
    renamed = run(
        client, "renameTeam", {"teamId": team_id, "name": "Analytics"}, "team { name }", admin
    )
    assert renamed == {"team": {"name": "Analytics"}, "userErrors": []}
    add = {"teamId": team_id, "userIds": [gid("User", bob.id)]}
    added = run(client, "addTeamMembers", add, "team { members { nodes { email } } }", admin)
    assert [n["email"] for n in added["team"]["members"]["nodes"]] == [ada.email, bob.email]
    bad = {"teamId": team_id, "userIds": [gid("Team", 1)]}
    assert refusal(run(client, "addTeamMembers", bad, "team { id }", admin)) == (
        "NOT_FOUND",
        ["userIds", "0"],
    )
    removed = run(client, "removeTeamMembers", add, "team { memberCount }", admin)
    assert removed == {"team": {"memberCount": 1}, "userErrors": []}
    deleted = run(client, "deleteTeam", {"teamId": team_id}, "deletedTeamId", admin)
    assert deleted == {"deletedTeamId": team_id, "userErrors": []}
    gone = run(client, "deleteTeam", {"teamId": team_id}, "deletedTeamId", admin)
    assert refusal(gone) == ("NOT_FOUND", ["teamId"])
    teammate = make_user(account=account)
    forbidden(client, "createTeam", {"name": "Mine"}, teammate)


def test_scim_managed_teams_refuse_membership_rename_and_delete(client: FlaskClient) -> None:
    account, _ = scim_account()
    admin = make_user(account=account, admin=True)
    ada = make_user(account=account)
    team = make_team(account=account, scim_managed=True, name="Okta group")
    add_member(team, ada)
    team_id = gid("Team", team.id)
    members = {"teamId": team_id, "userIds": [gid("User", admin.id)]}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("addTeamMembers", members, "team { id }"),
        ("removeTeamMembers", {"teamId": team_id, "userIds": [gid("User", ada.id)]}, "team { id }"),
        ("renameTeam", {"teamId": team_id, "name": "Mine now"}, "team { id }"),
        ("deleteTeam", {"teamId": team_id}, "deletedTeamId"),
    ]
    for name, input, fields in cases:
        assert refusal(run(client, name, input, fields, admin)) == ("TEAM_SCIM_MANAGED", None)
    assert _members(team) == 1
    local = make_team(account=account)
    added = run(
        client,
        "addTeamMembers",
        {"teamId": gid("Team", local.id), **{"userIds": members["userIds"]}},
        "team { memberCount }",
        admin,
    )
    assert added == {"team": {"memberCount": 1}, "userErrors": []}
    forbidden(client, "renameTeam", {"teamId": gid("Team", local.id), "name": "x"}, ada)


# ---- roles -------------------------------------------------------------------------------------


def test_role_lifecycle(client: FlaskClient) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    created = run(client, "createRole", {"name": "Auditor"}, "role { id name builtIn }", admin)
    role_id = created["role"]["id"]
    assert created["role"]["builtIn"] is False
    dup = run(client, "createRole", {"name": "Auditor"}, "role { id }", admin)
    assert refusal(dup) == ("ALREADY_EXISTS", ["name"])
    renamed = run(
        client, "renameRole", {"roleId": role_id, "name": "Reviewer"}, "role { name }", admin
    )
    assert renamed == {"role": {"name": "Reviewer"}, "userErrors": []}
    builtin = gid("Role", role(account, "Admin").id)
    assert refusal(
        run(client, "renameRole", {"roleId": builtin, "name": "Boss"}, "role { id }", admin)
    ) == ("ROLE_BUILT_IN", None)
    assert refusal(run(client, "deleteRole", {"roleId": builtin}, "deletedRoleId", admin)) == (
        "ROLE_BUILT_IN",
        None,
    )
    deleted = run(client, "deleteRole", {"roleId": role_id}, "deletedRoleId", admin)
    assert deleted == {"deletedRoleId": role_id, "userErrors": []}
    forbidden(client, "createRole", {"name": "Mine"}, make_user(account=account))


def test_a_role_in_use_or_scim_default_is_not_deleted(client: FlaskClient) -> None:
    account: Account
    account, _ = scim_account()
    admin = make_user(account=account, admin=True)
    used = make_role(account=account)
    make_user(account=account, role=used)
    in_use = run(client, "deleteRole", {"roleId": gid("Role", used.id)}, "deletedRoleId", admin)
    assert refusal(in_use) == ("ROLE_IN_USE", None)
    default = make_role(account=account)
    account.scim_default_role_id = default.id
    from heap.extensions import db

    db.session.commit()
    is_default = run(
        client, "deleteRole", {"roleId": gid("Role", default.id)}, "deletedRoleId", admin
    )
    assert refusal(is_default) == ("ROLE_IS_SCIM_DEFAULT", None)
