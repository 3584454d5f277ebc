"""Issue 8's findings 3 to 5, through HTTP on SQLite and PostgreSQL: a malformed, unstorable or
oversized request is a small SCIM 400 and changes nothing; a row stored before these checks
existed can't break a listing, and `flask data repair-text` mends it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from heap.extensions import db
from heap.models import AuditEvent, ScimIdentity, Team, TeamMembership
from scim.constants import (
    MAX_ATTRIBUTE_PATHS,
    MAX_MEMBERS_PER_REQUEST,
    MAX_MULTI_VALUES,
    MAX_OBJECT_KEYS,
)
from tests.conftest import json_of
from tests.factories import scim_account
from tests.scim.test_groups import GROUP_URN, Idp, patch, sid

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CUSTOM_URN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
UNSTORABLE = (
    "the text contains a NUL character or an unpaired UTF-16 surrogate (a value cut in the"
    " middle of a character). Send valid Unicode text."
)


@pytest.fixture
def idp(app: Flask, client: FlaskClient) -> Idp:
    account, token = scim_account()
    return Idp(client, account, token)


def state(idp: Idp) -> dict[str, Any]:
    """What a refused request must leave as it was: memberships, teams, users as the IdP reads
    them, and the number of audit rows."""
    db.session.expire_all()
    memberships = db.session.execute(
        select(TeamMembership.team_id, TeamMembership.user_id).order_by(
            TeamMembership.team_id, TeamMembership.user_id
        )
    ).all()
    users = idp.call("GET", "/Users")
    assert users.status_code == 200
    return {
        "memberships": [tuple(row) for row in memberships],
        "teams": sorted(db.session.scalars(select(Team.name))),
        "users": json_of(users),
        "audit": db.session.scalar(select(func.count()).select_from(AuditEvent)),
    }


def refused(response: Any, detail: str, scim_type: str = "invalidValue") -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "400",
        "scimType": scim_type,
        "detail": detail,
    }


def okta_user(user_name: str = "ada@example.com", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER_URN],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "active": True,
    }
    body.update(changes)
    return body


# ---------------------------------------------------------------------------------------------
# Finding 3: a malformed group PATCH emptied a team and answered 204

SHAPE = 'must be an object {"value": "<user id>"} naming a user by its SCIM id, not'


@pytest.mark.parametrize(
    ("method", "build", "detail"),
    [
        (
            "PATCH",
            lambda ids: patch({"op": "replace", "path": "members", "value": [{"value": 5}]}),
            f'operation 1: members[0] {SHAPE} {{"value": 5}}. Nothing was changed.',
        ),
        (
            "PATCH",
            lambda ids: patch({"op": "add", "path": "members", "value": [{"valu": ids[0]}]}),
            f"operation 1: members[0] {SHAPE} {{{{VALU}}}}. Nothing was changed.",
        ),
        (
            "PATCH",
            lambda ids: patch({"op": "Remove", "path": "members", "value": [ids[0]]}),
            f"operation 1: members[0] {SHAPE} {{{{ID}}}}. Nothing was changed.",
        ),
        (
            "PATCH",
            lambda ids: patch({"op": "replace", "path": "members", "value": {"value": ids[0]}}),
            'operation 1: members must be a list of {"value": "<user id>"} objects, not {{VALUE}}.',
        ),
        (
            "PATCH",
            lambda ids: patch(
                {"op": "replace", "value": {"displayName": "Renamed", "members": [None]}}
            ),
            f"operation 1: members[0] {SHAPE} null. Nothing was changed.",
        ),
        (
            "PUT",
            lambda ids: {"schemas": [GROUP_URN], "displayName": "Renamed", "members": [{"v": 1}]},
            f'members[0] {SHAPE} {{"v": 1}}. Nothing was changed.',
        ),
    ],
)
def test_a_malformed_member_list_is_400_and_changes_nothing(
    idp: Idp, method: str, build: Any, detail: str
) -> None:
    ada, bob = idp.user(), idp.user()
    team = idp.team([ada, bob], name="Data", scim_managed=True)
    before = state(idp)

    response = idp.call(method, f"/Groups/{team.scim_id}", build([sid(ada)]))

    expected = (
        detail.replace("{{VALU}}", json.dumps({"valu": sid(ada)}))
        .replace("{{ID}}", json.dumps(sid(ada)))
        .replace("{{VALUE}}", json.dumps({"value": sid(ada)}))
    )
    refused(response, expected)
    assert state(idp) == before


def test_a_post_with_a_malformed_member_list_creates_no_team(idp: Idp) -> None:
    ada = idp.user()
    before = state(idp)
    response = idp.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP_URN], "displayName": "New", "members": [{"valu": sid(ada)}]},
    )
    refused(response, f"members[0] {SHAPE} {json.dumps({'valu': sid(ada)})}. Nothing was changed.")
    assert state(idp) == before


# ---------------------------------------------------------------------------------------------
# Finding 4: one lone UTF-16 surrogate poisoned a tenant


@pytest.mark.parametrize(
    ("method", "path", "body", "detail", "scim_type"),
    [
        (
            "PATCH",
            "/Users/{id}",
            patch({"op": "replace", "path": 'emails[value eq "\ud800"].value', "value": "a@b.co"}),
            f"Operations[0].path: {UNSTORABLE}",
            "invalidValue",
        ),
        (
            "PATCH",
            "/Users/{id}",
            patch({"op": "replace", "path": "displayName", "value": "Ada \ud800"}),
            f"Operations[0].value: {UNSTORABLE}",
            "invalidValue",
        ),
        (
            "PATCH",
            "/Users/{id}",
            patch({"op": "add", "value": {"nick\udc00Name": "x"}}),
            f"Operations[0].value.(a key): {UNSTORABLE}",
            "invalidValue",
        ),
        (
            "PUT",
            "/Users/{id}",
            okta_user(name={"givenName": "\udbff", "familyName": "L"}),
            f"name.givenName: {UNSTORABLE}",
            "invalidValue",
        ),
        (
            "POST",
            "/Users",
            okta_user(
                "new@example.com",
                schemas=[USER_URN, CUSTOM_URN],
                **{CUSTOM_URN: {"badge": "\udc00"}},
            ),
            f"{CUSTOM_URN}.badge: {UNSTORABLE}",
            "invalidValue",
        ),
        (
            "POST",
            "/Groups",
            {"schemas": [GROUP_URN], "displayName": "Team \ud83d"},
            f"displayName: {UNSTORABLE}",
            "invalidValue",
        ),
    ],
)
def test_a_lone_surrogate_is_400_and_stores_nothing(
    idp: Idp, method: str, path: str, body: Mapping[str, Any], detail: str, scim_type: str
) -> None:
    ada = idp.user(email="ada@example.com")
    before = state(idp)

    response = idp.call(method, path.replace("{id}", sid(ada)), body)

    refused(response, detail, scim_type)
    assert state(idp) == before


@pytest.mark.parametrize("resource", ["/Users", "/Groups"])
def test_a_lone_surrogate_in_a_filter_is_400_invalid_filter(idp: Idp, resource: str) -> None:
    attribute = "userName" if resource == "/Users" else "displayName"
    response = idp.call("GET", resource, filter=f'{attribute} eq "a\\ud800"')
    refused(
        response,
        f"Invalid filter: the value at character {len(attribute) + 5} contains a NUL character"
        " or an unpaired UTF-16 surrogate; send valid Unicode text.",
        "invalidFilter",
    )


def test_a_surrogate_stored_before_the_fix_cannot_break_a_listing(app: Flask, idp: Idp) -> None:
    ada, bob = idp.user(), idp.user()
    # As an earlier version stored it: JSON escapes in the JSON column, which both databases take.
    db.session.execute(
        text("UPDATE scim_identities SET extra = :extra WHERE id = :id"),
        {"extra": '{"nickName": "A\\ud800da"}', "id": sid(ada)},
    )
    db.session.commit()

    response = idp.call("GET", "/Users")

    assert response.status_code == 200
    listed = {user["id"]: user for user in json_of(response)["Resources"]}
    assert set(listed) == {sid(ada), sid(bob)}
    assert listed[sid(ada)]["nickName"] == "A\ufffdda"


def test_repair_text_mends_stored_surrogates_and_audits_it(app: Flask, idp: Idp) -> None:
    ada, bob = idp.user(), idp.user()
    poisoned = '{"nickName": "A\\ud800da", "x\\udc00": ["\\udbff", "ok"]}'
    db.session.execute(
        text("UPDATE scim_identities SET extra = :extra WHERE id = :id"),
        {"extra": poisoned, "id": sid(ada)},
    )
    db.session.commit()
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["data", "repair-text", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        "scim_identities.extra: 1 row(s) in 1 account(s) would be repaired",
        "audit_events.details: 0 row(s) in 0 account(s) would be repaired",
    ]
    db.session.expire_all()
    assert db.session.get(ScimIdentity, sid(ada)).extra == json.loads(poisoned)  # type: ignore[union-attr]

    done = runner.invoke(args=["data", "repair-text"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0] == "scim_identities.extra: 1 row(s) in 1 account(s) repaired"
    db.session.expire_all()
    assert db.session.get(ScimIdentity, sid(ada)).extra == {  # type: ignore[union-attr]
        "nickName": "A\ufffdda",
        "x\ufffd": ["\ufffd", "ok"],
    }
    assert db.session.get(ScimIdentity, sid(bob)).extra == {}  # type: ignore[union-attr]
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "data.repair_text")
    ).all()
    assert [(e.account_id, e.details) for e in events] == [
        (idp.account.id, {"column": "scim_identities.extra", "rows": 1})
    ]
    again = runner.invoke(args=["data", "repair-text"])
    assert (
        again.output.splitlines()[0] == "scim_identities.extra: 0 row(s) in 0 account(s) repaired"
    )


# ---------------------------------------------------------------------------------------------
# Finding 5: errors and writes grew with the input


def test_a_huge_list_is_refused_with_a_small_error(idp: Idp) -> None:
    before = state(idp)
    response = idp.call("POST", "/Users", okta_user(emails=[1] * 100_000))
    refused(
        response,
        "emails: a list of 100,000 entries; at most "
        f"{MAX_MEMBERS_PER_REQUEST:,} are accepted in one request.",
    )
    assert len(response.get_data()) < 400
    assert state(idp) == before


def test_a_multi_valued_attribute_keeps_at_most_the_cap(idp: Idp) -> None:
    ada = idp.user(email="ada@example.com")
    before = state(idp)
    many = [{"value": f"p{i}@example.com", "type": "other"} for i in range(MAX_MULTI_VALUES + 1)]

    posted = idp.call("POST", "/Users", okta_user("new@example.com", emails=many))
    # 1,000 operations of 2 phone numbers each: refused at the 51st, not after a quadratic walk.
    pairs = [[{"value": f"+1 555 {i:04}"}, {"value": f"+1 666 {i:04}"}] for i in range(1000)]
    patched = idp.call(
        "PATCH",
        f"/Users/{sid(ada)}",
        patch(*({"op": "add", "path": "phoneNumbers", "value": pair} for pair in pairs)),
    )

    refused(
        posted,
        f"emails holds {MAX_MULTI_VALUES + 1} values; a user keeps at most {MAX_MULTI_VALUES}"
        " per attribute.",
    )
    refused(
        patched,
        f"Invalid PATCH: operation 51: phoneNumbers would hold 102 values; a resource keeps at"
        f" most {MAX_MULTI_VALUES}.",
    )
    assert state(idp) == before


def test_many_wrong_values_give_the_first_five_and_a_count(idp: Idp) -> None:
    before = state(idp)
    emails = [{"value": i} for i in range(40)]
    response = idp.call("POST", "/Users", okta_user(emails=emails))
    assert response.status_code == 400
    detail = json_of(response)["detail"]
    assert detail.count("must be a string") == 5
    assert detail.endswith("(35 more problems not shown.)")
    assert state(idp) == before


def test_kept_attributes_are_capped_per_user(idp: Idp) -> None:
    before = state(idp)
    # 3.5 MB of custom extension data, as the probe sent.
    blob = {f"attr{i}": "x" * 50_000 for i in range(70)}
    body = okta_user("new@example.com", schemas=[USER_URN, CUSTOM_URN], **{CUSTOM_URN: blob})
    response = idp.call("POST", "/Users", body)
    # What is kept: the emails (Heap keeps the IdP's list as sent) and the extension.
    kept = {"emails": body["emails"], CUSTOM_URN: blob}
    size = len(json.dumps(kept, separators=(",", ":")))
    refused(
        response,
        "The attributes Heap keeps as sent (those it has no column for, custom extensions "
        f"included) take {size:,} bytes for this user; at most 65,536 are kept. Map fewer or"
        " shorter attributes to Heap in your identity provider.",
    )
    # Refused by the service, so the refusal is in the activity log; nothing else changed.
    after = state(idp)
    assert after == {**before, "audit": before["audit"] + 1}
    last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last is not None
    assert (last.action, last.outcome, last.target_label) == (
        "user.provision",
        "refused",
        "new@example.com",
    )


def test_more_members_than_the_cap_is_400_and_changes_nothing(idp: Idp) -> None:
    ada = idp.user()
    team = idp.team([ada], name="Data", scim_managed=True)
    before = state(idp)
    half = [{"value": f"{i:08}-0000-4000-8000-000000000000"} for i in range(6000)]
    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch(
            {"op": "add", "path": "members", "value": half},
            {"op": "add", "path": "members", "value": half},
        ),
    )
    refused(
        response,
        f"This request names 12,000 members or more; send at most {MAX_MEMBERS_PER_REQUEST:,}"
        " per request (PATCH the rest in further requests).",
    )
    assert state(idp) == before


def test_unknown_members_are_audited_once_per_request(idp: Idp) -> None:
    ada = idp.user()
    team = idp.team(name="Data", scim_managed=True)
    # Two adds that overlap by 10 ids, a removal between them: 9,992 ids named, 9,980 unknown.
    unknown = [f"{i:08}-0000-4000-8000-000000000000" for i in range(MAX_MEMBERS_PER_REQUEST - 20)]
    before = state(idp)["audit"]

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch(
            {"op": "add", "path": "members", "value": [{"value": i} for i in unknown[:5000]]},
            {"op": "remove", "path": 'members[value eq "nobody"]'},
            {
                "op": "add",
                "path": "members",
                "value": [{"value": i} for i in (*unknown[4990:], sid(ada))],
            },
        ),
    )

    assert response.status_code == 204
    db.session.expire_all()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.id > 0).order_by(AuditEvent.id)
    ).all()[before:]
    assert [(e.action, e.outcome) for e in events] == [
        ("team.add_members", "applied"),
        ("team.add_member", "skipped"),
    ]
    assert events[1].details == {"skipped": len(unknown), "first": sorted(unknown)[:10]}
    assert db.session.scalars(
        select(TeamMembership.user_id).where(TeamMembership.team_id == team.id)
    ).all() == [ada.id]


# ---------------------------------------------------------------------------------------------
# Found in review: what still got through


def test_an_object_wider_than_the_cap_is_refused_before_any_work(idp: Idp) -> None:
    """Applying a PATCH looks names up case-insensitively: 20,000 attributes in one `add`
    took 7.6 s inside the write transaction (40,000: 171 s)."""
    ada = idp.user()
    before = state(idp)
    wide = {f"x{i}": 0 for i in range(MAX_OBJECT_KEYS + 1)}
    response = idp.call("PATCH", f"/Users/{sid(ada)}", patch({"op": "add", "value": wide}))
    refused(
        response,
        f"Operations[0].value: an object of {MAX_OBJECT_KEYS + 1:,} attributes; at most "
        f"{MAX_OBJECT_KEYS:,} are accepted in one object.",
    )
    assert state(idp) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/Users", okta_user()),
        ("PATCH", "/Users/{ada}", patch({"op": "replace", "value": {"active": False}})),
        ("PUT", "/Users/{ada}", okta_user("ada.l@example.com")),
        ("POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "New"}),
        ("PATCH", "/Groups/{team}", patch({"op": "replace", "value": {"displayName": "Re"}})),
    ],
)
def test_a_projection_over_the_cap_refuses_the_write_too(
    idp: Idp, method: str, path: str, body: dict[str, Any]
) -> None:
    """It was read after the service committed: a 400 for a change already made."""
    ada = idp.user(email="ada@example.com")
    team = idp.team([ada], name="Data", scim_managed=True)
    before = state(idp)
    too_many = ",".join(f"a{i}" for i in range(MAX_ATTRIBUTE_PATHS + 1))
    target = path.format(ada=sid(ada), team=team.scim_id)
    response = idp.call(method, target, body, excludedAttributes=too_many)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert json_of(response)["scimType"] == "invalidValue"
    assert state(idp) == before


def test_a_patch_writes_text_stored_before_the_doors_refused_it_back_repaired(idp: Idp) -> None:
    """Deprovisioning must work for a user whose stored row holds a lone surrogate."""
    ada = idp.user()
    db.session.execute(
        text("UPDATE scim_identities SET extra = :extra WHERE id = :id"),
        {"extra": '{"nickName": "A\\ud800da"}', "id": sid(ada)},
    )
    db.session.commit()

    response = idp.call(
        "PATCH", f"/Users/{sid(ada)}", patch({"op": "replace", "value": {"active": False}})
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert json_of(response)["active"] is False
    db.session.expire_all()
    stored = db.session.get_one(ScimIdentity, sid(ada))
    assert stored.extra["nickName"] == "A\ufffdda"


def test_a_role_nested_past_the_recursion_limit_is_a_plain_unknown_role(idp: Idp) -> None:
    before = state(idp)
    nested = '{"value": ' + "[" * 1_500 + "]" * 1_500 + "}"
    response = idp.call("POST", "/Users", okta_user(roles=[{"primary": True, "value": nested}]))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert json_of(response)["scimType"] == "invalidValue"
    after = state(idp)
    assert after["users"] == before["users"]
    refusal = db.session.scalars(select(AuditEvent)).one()
    assert (refusal.action, refusal.outcome) == ("user.provision", "refused")
