"""/Users as Okta and Entra ID drive it: whole SCIM bodies, on SQLite and PostgreSQL."""

# factory-boy factories are untyped (see the tests.factories override in pyproject.toml).
# mypy: disable-error-code="no-untyped-call,attr-defined"

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from heap.actors import Operator
from heap.extensions import db
from heap.models import Account, AuditEvent, ScimIdentity, TeamMembership, User
from heap.services import lifecycle
from heap.services.records import UserRecord
from scim.constants import MAX_COUNT
from scim.user_resource import dump_user
from tests.conftest import json_of
from tests.factories import (
    AccountFactory,
    RoleFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
    role,
    role_name,
    scim_account,
)

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
HEAP_URN = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BASE = "http://localhost/scim/v2"

# Okta's create body, exactly as its SCIM 2.0 reference shows it (idp-behaviour.md §1.2).
OKTA_CREATE: dict[str, Any] = {
    "schemas": [USER_URN],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}
OKTA_DEACTIVATE = {
    "schemas": [PATCH_URN],
    "Operations": [{"op": "replace", "value": {"active": False}}],
}
OKTA_ACTIVATE = {
    "schemas": [PATCH_URN],
    "Operations": [{"op": "replace", "value": {"active": True}}],
}


@dataclass
class Idp:
    client: FlaskClient
    account: Account
    token: str

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/scim+json; charset=utf-8"
            kwargs["json"] = body
        return self.client.open(f"/scim/v2{path}", method=method, headers=headers, **kwargs)


@pytest.fixture
def idp(client: FlaskClient) -> Idp:
    account, token = scim_account()
    return Idp(client, account, token)


def okta_user(user_name: str = "test.user@okta.local", **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(OKTA_CREATE)
    body["userName"] = user_name
    body["emails"][0]["value"] = user_name
    body.update(changes)
    return body


def expected_user(
    got: dict[str, Any],
    *,
    user_name: str = "test.user@okta.local",
    email: str | None = None,
    given: str = "Test",
    family: str = "User",
    role_name: str | None = "Analyst",
    active: bool = True,
    external_id: str | None = "00ujl29u0le5T6Aj10h7",
    display_name: str | None = "Test User",
    extra: dict[str, Any] | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole User resource; id and meta timestamps are taken from the response."""
    body: dict[str, Any] = {"schemas": [USER_URN], "id": got["id"]}
    if external_id is not None:
        body["externalId"] = external_id
    body["userName"] = user_name
    body["name"] = {"givenName": given, "familyName": family}
    if display_name is not None:
        body["displayName"] = display_name
    body["emails"] = [{"value": email or user_name, "type": "work", "primary": True}]
    body["active"] = active
    body.update({"locale": "en-US"} if extra is None else extra)
    for urn, value in (extensions or {}).items():
        body[urn] = value
        body["schemas"].append(urn)
    if role_name is not None:
        body[HEAP_URN] = {"heapRole": role_name}
        body["schemas"].append(HEAP_URN)
    body["meta"] = {
        "resourceType": "User",
        "created": got["meta"]["created"],
        "lastModified": got["meta"]["lastModified"],
        "location": f"{BASE}/Users/{got['id']}",
    }
    return body


def error(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return body


def listing(resources: list[dict[str, Any]], total: int, start: int = 1) -> dict[str, Any]:
    return {
        "schemas": [LIST_URN],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def identity_of(scim_id: str) -> ScimIdentity:
    db.session.expire_all()
    found = db.session.get(ScimIdentity, scim_id)
    assert found is not None
    return found


# ---- create -------------------------------------------------------------------------------------


def test_okta_create_returns_201_location_and_whole_user_without_password(idp: Idp) -> None:
    response = idp.call("POST", "/Users", OKTA_CREATE)
    got = json_of(response)
    assert response.status_code == 201
    assert response.headers["Location"] == f"{BASE}/Users/{got['id']}"
    assert response.headers["Content-Type"] == "application/scim+json"
    assert got == expected_user(got)
    identity = identity_of(got["id"])
    assert "password" not in identity.extra and "1mz050nq" not in str(identity.extra)
    assert identity.user.email == "test.user@okta.local"
    assert role_name(identity.user) == "Analyst"


def test_create_then_get_returns_the_same_resource(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    response = idp.call("GET", f"/Users/{created['id']}")
    assert response.status_code == 200
    assert json_of(response) == created


def test_entra_non_email_username_takes_the_work_email(idp: Idp) -> None:
    body = {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "userName": "OMalley",
        "active": True,
        "displayName": "Ryan Leenay",
        "emails": [{"primary": "True", "type": "work", "value": "Ryan@contoso.com"}],
        "name": {"familyName": "Leenay", "givenName": "Ryan"},
        ENTERPRISE_URN: {"department": "Sales", "manager": "a-manager-id"},
        "roles": [
            {"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Consumer"}
        ],
    }
    response = idp.call("POST", "/Users", body)
    got = json_of(response)
    assert response.status_code == 201
    assert got == expected_user(
        got,
        user_name="OMalley",
        email="Ryan@contoso.com",
        given="Ryan",
        family="Leenay",
        display_name="Ryan Leenay",
        external_id="8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        role_name="Consumer",
        extra={
            "roles": [
                {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Consumer"}
            ]
        },
        extensions={ENTERPRISE_URN: {"department": "Sales", "manager": {"value": "a-manager-id"}}},
    )
    assert identity_of(got["id"]).user.email == "Ryan@contoso.com"


def test_no_email_anywhere_is_400_invalid_value(idp: Idp) -> None:
    response = idp.call("POST", "/Users", {"schemas": [USER_URN], "userName": "OMalley"})
    assert response.status_code == 400
    assert json_of(response) == error(
        400,
        "userName 'OMalley' is not an email address and no email was sent. Heap signs people in "
        "by email: in Okta, set the Heap app's Application username format to Email (Sign On "
        "tab), or send a primary email.",
        "invalidValue",
    )


def test_unmodelled_attributes_round_trip(idp: Idp) -> None:
    extra: dict[str, Any] = {
        "nickName": "Testy",
        "title": "Analyst",
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "addresses": [{"locality": "SF", "type": "work", "primary": True}],
    }
    body = okta_user(**extra, name={"givenName": "Test", "familyName": "User", "middleName": "X"})
    got = json_of(idp.call("POST", "/Users", body))
    want = expected_user(got, extra={"locale": "en-US", **extra})
    want["name"] = {"middleName": "X", "givenName": "Test", "familyName": "User"}
    assert got == want


def test_attributes_kept_as_sent_come_back_in_the_order_sent(idp: Idp) -> None:
    # Twelve names in an order no hash would give by chance (1 in 12!): kept attributes once
    # followed the process's hash seed, so two gunicorn workers stored one body two ways.
    kept = ["zulu", "yankee", "xray", "whiskey", "victor", "uniform", "tango", "sierra", "romeo"]
    kept += ["quebec", "papa", "oscar"]
    name = {"honorificSuffix": "III", "middleName": "X", "honorificPrefix": "Ms."}
    body = okta_user(**{key: key.upper() for key in kept}, name={**OKTA_CREATE["name"], **name})
    # Sent as bytes: the test client's json= would sort the keys, as Okta and Entra never do.
    sent = idp.client.post(
        "/scim/v2/Users",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {idp.token}", "Content-Type": "application/scim+json"},
    )
    got = json.loads(sent.get_data())
    assert [key for key in got if key in kept] == kept
    assert [key for key in got["name"] if key in name] == list(name)
    again = json.loads(idp.call("GET", f"/Users/{got['id']}").get_data())
    assert [key for key in again if key in kept] == kept


@pytest.mark.parametrize(
    ("placement", "body_changes"),
    [
        ("top-level (Okta core namespace)", {"heapRole": "Architect"}),
        ("Heap extension", {HEAP_URN: {"heapRole": "Architect"}}),
        ("Entra primary role", {"roles": [{"primary": "True", "value": "Architect"}]}),
    ],
)
def test_heap_role_is_read_from_each_placement(
    idp: Idp, placement: str, body_changes: dict[str, Any]
) -> None:
    got = json_of(idp.call("POST", "/Users", okta_user(**body_changes)))
    assert got[HEAP_URN] == {"heapRole": "Architect"}, placement
    assert role_name(identity_of(got["id"]).user) == "Architect"


def test_top_level_heap_role_wins_over_the_echoed_extension(idp: Idp) -> None:
    body = okta_user(heapRole="Consumer")
    body[HEAP_URN] = {"heapRole": "Admin"}
    got = json_of(idp.call("POST", "/Users", body))
    assert got[HEAP_URN] == {"heapRole": "Consumer"}


def test_empty_heap_role_gives_the_default_role(idp: Idp) -> None:
    got = json_of(idp.call("POST", "/Users", okta_user(heapRole="")))
    assert got[HEAP_URN] == {"heapRole": "Analyst"}


def test_unknown_heap_role_is_400_listing_roles_and_creates_nothing(idp: Idp) -> None:
    RoleFactory(account=idp.account, name="Marketing")
    response = idp.call("POST", "/Users", okta_user(heapRole="admin"))
    assert response.status_code == 400
    assert json_of(response) == error(
        400,
        "Heap Role 'admin' does not match a role in this Heap account. Valid roles: Admin, "
        "Architect, Analyst, Consumer, Marketing. Set the Heap Role attribute in your identity "
        "provider to one of these names exactly, or leave it empty for the default.",
        "invalidValue",
    )
    assert db.session.scalars(select(User).where(User.account_id == idp.account.id)).all() == []


def test_second_post_for_an_active_user_is_409_uniqueness(idp: Idp) -> None:
    first = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    response = idp.call("POST", "/Users", okta_user("TEST.USER@okta.local"))
    assert response.status_code == 409
    assert json_of(response) == error(
        409,
        f"TEST.USER@okta.local is already a user of this Heap account (id {first['id']}). Okta "
        "links to existing users found by userName; re-run the import to link it.",
        "uniqueness",
    )


@pytest.mark.parametrize(
    "refusal",
    [{"heapRole": "No Such Role"}, {"externalId": "x" * 256}, {"active": False}],
    ids=["unknown role", "overlong externalId", "inactive"],
)
def test_a_taken_user_name_is_409_whatever_else_is_wrong(idp: Idp, refusal: dict[str, Any]) -> None:
    """A create first tries to insert with no read (nearly every POST is a new person); when the
    userName is taken, the answer is the one a read first would give, and nothing is written
    but the refusal's audit event."""
    first = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    events = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    response = idp.call("POST", "/Users", okta_user("TEST.USER@okta.local", **refusal))
    assert response.status_code == 409, json_of(response)
    assert json_of(response)["detail"].startswith(
        f"TEST.USER@okta.local is already a user of this Heap account (id {first['id']})."
    )
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    refused = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert refused is not None and refused.outcome == "refused"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events + 1


def test_email_held_in_another_organisation_is_409_with_what_to_do(idp: Idp) -> None:
    UserFactory(account=AccountFactory(), email="Test.User@okta.local")
    response = idp.call("POST", "/Users", OKTA_CREATE)
    assert response.status_code == 409
    assert json_of(response) == error(
        409,
        "test.user@okta.local already has a Heap account in another organization. That person "
        "must delete that account (or ask its Admin to remove them) before they can be "
        "provisioned here.",
        "uniqueness",
    )


def test_re_post_restores_the_deactivated_identity_with_the_same_id(idp: Idp) -> None:
    first = json_of(idp.call("POST", "/Users", okta_user(heapRole="Admin")))
    assert idp.call("PATCH", f"/Users/{first['id']}", OKTA_DEACTIVATE).status_code == 200
    response = idp.call("POST", "/Users", OKTA_CREATE)
    got = json_of(response)
    assert response.status_code == 201
    assert got["id"] == first["id"]
    assert got == expected_user(got)  # no role sent this time: the default role


def test_pre_existing_heap_user_is_found_by_username_filter(idp: Idp) -> None:
    user = UserFactory(account=idp.account, email="Jane@Example.com", given_name="", family_name="")
    response = idp.call("GET", "/Users", query_string={"filter": 'userName eq "jane@example.com"'})
    got = json_of(response)
    resource = got["Resources"][0]
    # Names Heap never had: stand-ins so Okta's required name checks pass.
    assert got == listing(
        [
            {
                "schemas": [USER_URN, HEAP_URN],
                "id": user.scim_identity.id,
                "userName": "Jane@Example.com",
                "name": {"givenName": "Jane", "familyName": "-"},
                "emails": [{"value": "Jane@Example.com", "type": "work", "primary": True}],
                "active": True,
                HEAP_URN: {"heapRole": "Analyst"},
                "meta": {
                    "resourceType": "User",
                    "created": resource["meta"]["created"],
                    "lastModified": resource["meta"]["lastModified"],
                    "location": f"{BASE}/Users/{user.scim_identity.id}",
                },
            }
        ],
        total=1,
    )


# ---- list and filter ----------------------------------------------------------------------------


def test_list_pages_in_a_stable_order_with_integer_counts(idp: Idp) -> None:
    ids = [
        json_of(idp.call("POST", "/Users", okta_user(f"u{n}@example.com")))["id"] for n in range(3)
    ]
    first = json_of(idp.call("GET", "/Users", query_string={"startIndex": 1, "count": 2}))
    second = json_of(idp.call("GET", "/Users", query_string={"startIndex": 3, "count": 2}))
    assert [r["id"] for r in first["Resources"] + second["Resources"]] == ids
    assert (first["totalResults"], first["startIndex"], first["itemsPerPage"]) == (3, 1, 2)
    assert (second["totalResults"], second["startIndex"], second["itemsPerPage"]) == (3, 3, 1)
    beyond = json_of(idp.call("GET", "/Users", query_string={"startIndex": 101, "count": 100}))
    assert beyond == listing([], total=3, start=101)
    zero = json_of(idp.call("GET", "/Users", query_string={"startIndex": 0, "count": 0}))
    assert zero == listing([], total=3)


def test_page_size_is_capped_at_the_documented_maximum(idp: Idp) -> None:
    analyst = role(idp.account, "Analyst")
    total = MAX_COUNT + 7
    for n in range(total):  # one commit: the factories would commit once per user
        user = User(account=idp.account, email=f"bulk{n:04}@example.com", role=analyst)
        user.scim_identity = ScimIdentity(account_id=idp.account.id, user_name=user.email)
        db.session.add(user)
    db.session.commit()
    got = json_of(idp.call("GET", "/Users", query_string={"count": 100000}))
    # Accepted, not an error; MAX_COUNT is advertised in discovery as filter.maxResults.
    assert (got["totalResults"], got["startIndex"], got["itemsPerPage"]) == (total, 1, MAX_COUNT)
    assert len(got["Resources"]) == MAX_COUNT
    rest = json_of(
        idp.call("GET", "/Users", query_string={"count": 100000, "startIndex": MAX_COUNT + 1})
    )
    assert (rest["totalResults"], rest["itemsPerPage"]) == (total, 7)
    emails = [r["userName"] for r in got["Resources"] + rest["Resources"]]
    assert emails == [f"bulk{n:04}@example.com" for n in range(total)]


@pytest.mark.parametrize(
    ("filter_text", "matches"),
    [
        ('userName eq "TEST.USER@OKTA.LOCAL"', True),
        ('UserName EQ "test.user@okta.local"', True),
        ('externalId eq "00ujl29u0le5T6Aj10h7"', True),
        ('externalId eq "00UJL29U0LE5T6AJ10H7"', False),  # ids are case-exact
        ('emails[type eq "work"].value eq "Test.User@okta.local"', True),
        ('emails.value eq "test.user@okta.local"', True),
        ('emails eq "test.user@okta.local"', True),
        ('userName eq "test.user@okta.local" and active eq true', True),
        ("active eq false", False),
        ('name.givenName eq "test" and name.familyName sw "Us"', True),
        ('name.formatted eq "Test User"', True),
        ('displayName co "st Us"', True),
        ('meta.created gt "2000-01-01T00:00:00Z"', True),
        ('meta.lastModified lt "2000-01-01T00:00:00Z"', False),
        (f'{HEAP_URN}:heapRole eq "Analyst"', True),
        ('heapRole eq "analyst"', False),  # role names are exact
        ('userName eq "6b8a4c4e-1f7e-4a1e-9d67-fd62b25ad7c1"', False),
        ('not (userName eq "x@y.com") or displayName pr', True),
        ("externalId eq 00ujl29u0le5T6Aj10h7", True),  # Entra's documented unquoted form
    ],
)
def test_filters(idp: Idp, filter_text: str, matches: bool) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    response = idp.call("GET", "/Users", query_string={"filter": filter_text})
    assert response.status_code == 200
    assert json_of(response) == listing([created] if matches else [], total=int(matches))


@pytest.mark.parametrize(
    ("filter_text", "matches"),
    [
        ('title eq "vice president"', True),
        ('title sw "Vice"', True),
        ('title co "%"', False),
        ("title pr", True),
        ('title ew "president" and not (title eq "Intern")', True),
    ],
)
def test_title_filters_as_okta_and_entra_send_it(idp: Idp, filter_text: str, matches: bool) -> None:
    created = json_of(idp.call("POST", "/Users", {**OKTA_CREATE, "title": "Vice President"}))
    untitled = idp.call("POST", "/Users", okta_user("plain@example.com"))
    response = idp.call("GET", "/Users", query_string={"filter": filter_text})
    assert response.status_code == 200
    assert json_of(response) == listing([created] if matches else [], total=int(matches))
    assert json_of(untitled)["id"] not in {r["id"] for r in json_of(response)["Resources"]}


def test_filter_by_id(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    got = json_of(idp.call("GET", "/Users", query_string={"filter": f'id eq "{created["id"]}"'}))
    assert got == listing([created], total=1)


@pytest.mark.parametrize(
    ("filter_text", "detail"),
    [
        (
            'nickName eq "x"',
            "Invalid filter: filtering on nickName is not supported; supported attributes: "
            "active, displayName, emails, externalId, heapRole, id, meta.created, "
            "meta.lastModified, name.familyName, name.formatted, name.givenName, title, "
            f"{HEAP_URN}:heapRole, userName.",
        ),
        (
            'userName xx "a"',
            "Invalid filter: expected an operator (co, eq, ew, ge, gt, le, lt, ne, pr, sw) after "
            "'userName' at character 10, found 'xx'.",
        ),
        ('userName eq "a', "Invalid filter: unterminated string starting at character 13."),
        (
            'userName eq "\\u0000"',
            "Invalid filter: the value at character 13 contains a NUL character or an unpaired"
            " UTF-16 surrogate; send valid Unicode text.",
        ),
    ],
)
def test_bad_filters_are_400_invalid_filter(idp: Idp, filter_text: str, detail: str) -> None:
    response = idp.call("GET", "/Users", query_string={"filter": filter_text})
    assert response.status_code == 400
    assert json_of(response) == error(400, detail, "invalidFilter")


def test_attributes_and_excluded_attributes(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    only = json_of(
        idp.call("GET", "/Users", query_string={"attributes": "userName,name.givenName"})
    )
    # `schemas` lists only the extensions whose object is in the response (RFC 7643 §3).
    assert only["Resources"] == [
        {
            "schemas": [USER_URN],
            "id": created["id"],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test"},
        }
    ]
    role_only = json_of(
        idp.call("GET", f"/Users/{created['id']}", query_string={"attributes": HEAP_URN})
    )
    assert role_only == {
        "schemas": [USER_URN, HEAP_URN],
        "id": created["id"],
        HEAP_URN: {"heapRole": "Analyst"},
    }
    without = json_of(
        idp.call(
            "GET",
            f"/Users/{created['id']}",
            query_string={"excludedAttributes": f"emails,meta,{HEAP_URN}:heapRole"},
        )
    )
    want = {k: v for k, v in created.items() if k not in ("emails", "meta", HEAP_URN)}
    want["schemas"] = [USER_URN]
    assert without == want
    no_extension = json_of(
        idp.call("GET", "/Users", query_string={"excludedAttributes": HEAP_URN.upper()})
    )
    assert no_extension["Resources"][0]["schemas"] == [USER_URN]
    assert HEAP_URN not in no_extension["Resources"][0]


def test_teams_are_returned_as_read_only_groups(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    team = TeamFactory(account=idp.account, name="Data")
    TeamMembershipFactory(team=team, user=identity_of(created["id"]).user)
    got = json_of(idp.call("GET", f"/Users/{created['id']}"))
    assert got["groups"] == [
        {"value": team.scim_id, "display": "Data", "$ref": f"{BASE}/Groups/{team.scim_id}"}
    ]
    # Okta's read-modify-write PUT sends groups back; it never changes membership.
    put = json_of(idp.call("PUT", f"/Users/{created['id']}", {**got, "groups": []}))
    assert put["groups"] == got["groups"]


def test_a_single_user_read_shows_what_every_other_read_shows(idp: Idp) -> None:
    """Reads show users from plain columns (GET /Users/{id}, the list); a write that loaded
    objects answers from them. One document either way, for every kind of user."""
    entra = {
        **okta_user("ada@okta.local", heapRole="Admin"),
        ENTERPRISE_URN: {"department": "Data", "manager": {"value": "m-1"}},
        "nickName": "Ada",
    }
    answers = [json_of(idp.call("POST", "/Users", body)) for body in (entra, okta_user())]
    ada = identity_of(answers[0]["id"])
    for team in ("b team", "A team", "c team"):
        TeamMembershipFactory(team=TeamFactory(account=idp.account, name=team), user=ada.user)
    # A tombstone shows the IdP's last Heap Role; a teammate added in Heap with no names, the
    # stand-in names Okta requires.
    gone = json_of(idp.call("POST", "/Users", okta_user("gone@okta.local", heapRole="Analyst")))
    idp.call("PATCH", f"/Users/{gone['id']}", OKTA_DEACTIVATE)
    invited = lifecycle.create_user(
        account=idp.account,
        actor=Operator(),
        action="user.invite",
        email="grace@okta.local",
        role=role(idp.account, "Analyst"),
        user_name="grace@okta.local",
    ).identity_columns
    db.session.commit()
    listed = json_of(idp.call("GET", "/Users", query_string={"count": 10}))["Resources"]
    assert len(listed) == 4
    projections: list[dict[str, str]] = [
        {},
        {"excludedAttributes": "groups"},
        {"attributes": "userName,groups,meta"},
    ]
    for resource in listed:
        identity = identity_of(resource["id"])
        assert resource == dump_user(UserRecord.of(identity, identity.user.teams))
        for projection in projections:
            single = json_of(idp.call("GET", f"/Users/{resource['id']}", query_string=projection))
            found = idp.call(
                "GET", "/Users", query_string={"filter": f'id eq "{resource["id"]}"', **projection}
            )
            assert single == json_of(found)["Resources"][0], projection
    by_id = {resource["id"]: resource for resource in listed}
    assert [g["display"] for g in by_id[ada.id]["groups"]] == ["A team", "b team", "c team"]
    assert by_id[ada.id][HEAP_URN] == {"heapRole": "Admin"}
    assert by_id[ada.id][ENTERPRISE_URN]["department"] == "Data"
    assert by_id[gone["id"]]["active"] is False
    assert by_id[gone["id"]][HEAP_URN] == {"heapRole": "Analyst"}
    assert by_id[invited["id"]]["name"] == {"givenName": "grace", "familyName": "-"}


def test_a_create_answers_with_what_the_next_read_shows(idp: Idp) -> None:
    """Okta's create answers from the values it inserted, with no object loaded and no read
    back; a restore answers from the objects it changed. Either way, the document the next GET
    reads: the role shown (the default, one named, a tombstone's), extensions and timestamps."""
    entra = {
        **okta_user("ada@okta.local", heapRole="Admin"),
        ENTERPRISE_URN: {"department": "Data", "manager": {"value": "m-1"}},
        "nickName": "Ada",
    }
    bare = {"schemas": [USER_URN], "userName": "bo@okta.local"}
    restored = okta_user("gone@okta.local", heapRole="Architect")
    gone = json_of(idp.call("POST", "/Users", okta_user("gone@okta.local")))
    idp.call("PATCH", f"/Users/{gone['id']}", OKTA_DEACTIVATE)
    bodies = [
        okta_user(),
        entra,
        bare,
        okta_user("off@okta.local", heapRole="Consumer", active=False),
        okta_user("off-too@okta.local", active=False),
        restored,
    ]
    answers = []
    for body in bodies:
        created = idp.call("POST", "/Users", body)
        assert created.status_code == 201, created.get_data(as_text=True)
        answers.append(json_of(created))
        assert answers[-1] == json_of(idp.call("GET", f"/Users/{answers[-1]['id']}"))
    by_user_name = {answer["userName"]: answer for answer in answers}
    assert by_user_name["gone@okta.local"]["id"] == gone["id"]
    assert by_user_name["gone@okta.local"][HEAP_URN] == {"heapRole": "Architect"}
    assert by_user_name["off@okta.local"][HEAP_URN] == {"heapRole": "Consumer"}


# ---- replace ------------------------------------------------------------------------------------


def test_okta_put_updates_names_and_returns_the_whole_user(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    body = {
        "schemas": [USER_URN],
        "id": created["id"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
        "emails": [
            {
                "primary": True,
                "value": "test.user@okta.local",
                "type": "work",
                "display": "test.user@okta.local",
            }
        ],
        "active": True,
        "groups": [],
        "meta": {"resourceType": "User"},
    }
    response = idp.call("PUT", f"/Users/{created['id']}", body)
    got = json_of(response)
    assert response.status_code == 200
    want = expected_user(got, given="Another", external_id=None, display_name=None, extra={})
    want["name"] = {"middleName": "Excited", "givenName": "Another", "familyName": "User"}
    want["emails"][0]["display"] = "test.user@okta.local"
    want["emails"][0] = {
        "primary": True,
        "value": "test.user@okta.local",
        "type": "work",
        "display": "test.user@okta.local",
    }
    assert got == want
    assert json_of(idp.call("GET", f"/Users/{created['id']}")) == got


def test_put_active_false_deactivates_and_removes_from_heap(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    user = identity_of(created["id"]).user
    TeamMembershipFactory(team=TeamFactory(account=idp.account), user=user)
    got = json_of(idp.call("PUT", f"/Users/{created['id']}", {**created, "active": False}))
    # The echoed extension is the IdP's word now: the role a reactivation would restore.
    assert got == expected_user(got, active=False, role_name="Analyst")
    db.session.expire_all()
    assert not user.is_active
    assert (
        db.session.scalars(select(TeamMembership).where(TeamMembership.user_id == user.id)).all()
        == []
    )


def test_role_follows_the_idp_only_when_its_value_changes(idp: Idp) -> None:
    UserFactory(account=idp.account, admin=True)  # so the user below is never the last Admin
    created = json_of(idp.call("POST", "/Users", okta_user(heapRole="Architect")))
    user = identity_of(created["id"]).user
    user.role = role(idp.account, "Admin")  # changed in Heap
    db.session.commit()
    same = json_of(idp.call("PUT", f"/Users/{created['id']}", okta_user(heapRole="Architect")))
    assert same[HEAP_URN] == {"heapRole": "Admin"}  # Heap's change survives
    changed = json_of(idp.call("PUT", f"/Users/{created['id']}", okta_user(heapRole="Consumer")))
    assert changed[HEAP_URN] == {"heapRole": "Consumer"}
    emptied = json_of(idp.call("PUT", f"/Users/{created['id']}", okta_user(heapRole="")))
    assert emptied[HEAP_URN] == {"heapRole": "Analyst"}


def test_okta_echoing_the_current_role_in_the_extension_changes_nothing(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    echoed = json_of(idp.call("PUT", f"/Users/{created['id']}", created))
    assert echoed[HEAP_URN] == {"heapRole": "Analyst"}
    assert echoed == {**created, "meta": echoed["meta"]}


def test_username_change_updates_the_email_in_place(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    user_id = identity_of(created["id"]).user.id
    got = json_of(idp.call("PUT", f"/Users/{created['id']}", okta_user("new.name@okta.local")))
    assert got == expected_user(got, user_name="new.name@okta.local")
    assert got["id"] == created["id"]
    identity = identity_of(created["id"])
    assert (identity.user.id, identity.user.email) == (user_id, "new.name@okta.local")


def test_username_change_to_an_address_another_user_holds_is_409(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    UserFactory(account=AccountFactory(), email="taken@okta.local")
    response = idp.call("PUT", f"/Users/{created['id']}", okta_user("taken@okta.local"))
    assert response.status_code == 409
    assert json_of(response)["scimType"] == "uniqueness"
    assert identity_of(created["id"]).user_name == "test.user@okta.local"


def test_put_without_active_keeps_the_current_state(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    body = {k: v for k, v in created.items() if k != "active"}
    kept = json_of(idp.call("PUT", f"/Users/{created['id']}", body))
    assert kept["active"] is True
    idp.call("PATCH", f"/Users/{created['id']}", OKTA_DEACTIVATE)
    # Not sent is not "true": a PUT of other attributes must not reactivate a tombstone.
    still = json_of(idp.call("PUT", f"/Users/{created['id']}", {**body, "displayName": "New"}))
    assert (still["active"], still["displayName"]) == (False, "New")
    assert not identity_of(created["id"]).user.is_active
    null = json_of(idp.call("PUT", f"/Users/{created['id']}", {**body, "active": None}))
    assert null["active"] is False


@pytest.mark.parametrize(("sent", "active"), [("TRUE", True), ("false", False), ("True", True)])
def test_active_as_text_true_or_false_in_any_case(idp: Idp, sent: str, active: bool) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user(active=sent)))
    assert created["active"] is active
    again = json_of(idp.call("PUT", f"/Users/{created['id']}", {**created, "active": sent}))
    assert again["active"] is active


def test_post_without_active_creates_an_active_user(idp: Idp) -> None:
    body = {k: v for k, v in OKTA_CREATE.items() if k != "active"}
    created = json_of(idp.call("POST", "/Users", body))
    assert created["active"] is True
    assert identity_of(created["id"]).user.is_active


@pytest.mark.parametrize("sent", ["yes", "1", "on", 1, 0, "", "no", {"value": True}])
def test_active_that_is_not_true_or_false_is_400(idp: Idp, sent: Any) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user("kept@example.com")))
    detail = f"active: must be true or false, not {sent!r}."
    posted = idp.call("POST", "/Users", okta_user(active=sent))
    assert json_of(posted) == error(400, detail, "invalidValue")
    put = idp.call("PUT", f"/Users/{created['id']}", {**created, "active": sent})
    assert json_of(put) == error(400, detail, "invalidValue")
    operation = {"op": "replace", "path": "active", "value": sent}
    patched = idp.call(
        "PATCH", f"/Users/{created['id']}", {"schemas": [PATCH_URN], "Operations": [operation]}
    )
    assert json_of(patched) == error(400, detail, "invalidValue")
    assert identity_of(created["id"]).user.is_active
    assert json_of(idp.call("GET", "/Users"))["totalResults"] == 1


# ---- patch --------------------------------------------------------------------------------------


def test_okta_patch_deactivates_then_reactivates(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user(heapRole="Architect")))
    off = idp.call("PATCH", f"/Users/{created['id']}", OKTA_DEACTIVATE)
    got = json_of(off)
    assert off.status_code == 200
    # The tombstone shows the role the IdP last sent, the one a reactivation restores.
    assert got == expected_user(got, active=False, role_name="Architect")
    assert json_of(idp.call("GET", f"/Users/{created['id']}")) == got
    listed = json_of(idp.call("GET", "/Users", query_string={"filter": "active eq false"}))
    assert listed == listing([got], total=1)
    on = json_of(idp.call("PATCH", f"/Users/{created['id']}", OKTA_ACTIVATE))
    assert on == expected_user(on, role_name="Architect")
    assert identity_of(created["id"]).user.is_active


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "path": "active", "value": False},
    ],
)
def test_entra_patch_deactivates(idp: Idp, operation: dict[str, Any]) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    got = json_of(
        idp.call(
            "PATCH", f"/Users/{created['id']}", {"schemas": [PATCH_URN], "Operations": [operation]}
        )
    )
    assert got == expected_user(got, active=False, role_name=None)


def test_entra_patch_reactivates_a_tombstone_with_a_string_boolean(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user(heapRole="Architect")))
    idp.call("PATCH", f"/Users/{created['id']}", OKTA_DEACTIVATE)
    # Entra: capitalised op, path "active", the boolean as the string "True" (checklist 32).
    operation = {"op": "Replace", "path": "active", "value": "True"}
    response = idp.call(
        "PATCH", f"/Users/{created['id']}", {"schemas": [PATCH_URN], "Operations": [operation]}
    )
    got = json_of(response)
    assert response.status_code == 200
    assert got == expected_user(got, role_name="Architect")
    assert got["id"] == created["id"]
    assert identity_of(created["id"]).user.is_active


def test_entra_patches_emails_names_and_enterprise_attributes(idp: Idp) -> None:
    body = okta_user(
        "OMalley", emails=[{"value": "ryan@contoso.com", "type": "work", "primary": True}]
    )
    created = json_of(idp.call("POST", "/Users", body))
    operations = [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ryan2@contoso.com"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0101"},
        {"op": "Replace", "path": "name.familyName", "value": "Leenay"},
        {"op": "Add", "path": f"{ENTERPRISE_URN}:employeeNumber", "value": "42"},
        {"op": "Add", "path": f"{ENTERPRISE_URN}:manager", "value": "boss-id"},
        {
            "op": "replace",
            "value": {
                "displayName": "Ryan L",
                "name.givenName": "Ryan",
                f"{ENTERPRISE_URN}:department": "Sales",
            },
        },
    ]
    response = idp.call(
        "PATCH", f"/Users/{created['id']}", {"schemas": [PATCH_URN], "Operations": operations}
    )
    got = json_of(response)
    assert response.status_code == 200
    want = expected_user(
        got,
        user_name="OMalley",
        email="ryan2@contoso.com",
        given="Ryan",
        family="Leenay",
        display_name="Ryan L",
        extra={"locale": "en-US", "phoneNumbers": [{"type": "mobile", "value": "+1 555 0101"}]},
        extensions={
            ENTERPRISE_URN: {
                "employeeNumber": "42",
                "manager": {"value": "boss-id"},
                "department": "Sales",
            }
        },
    )
    assert got == want
    assert identity_of(created["id"]).user.email == "ryan2@contoso.com"


def test_entra_work_email_patch_creates_the_element_when_there_is_none(idp: Idp) -> None:
    user = UserFactory(account=idp.account, email="old@contoso.com")
    operation = {
        "op": "Replace",
        "path": 'emails[type eq "work"].value',
        "value": "new@contoso.com",
    }
    got = json_of(
        idp.call(
            "PATCH",
            f"/Users/{user.scim_identity.id}",
            {"schemas": [PATCH_URN], "Operations": [operation]},
        )
    )
    # userName (an email) stays the Heap email; the sent address is kept as sent.
    assert got["emails"] == [{"value": "new@contoso.com", "type": "work", "primary": True}]


def test_patch_of_the_heap_role_in_the_extension(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    operation = {"op": "replace", "path": f"{HEAP_URN}:heapRole", "value": "Consumer"}
    got = json_of(idp.call("PATCH", f"/Users/{created['id']}", {"Operations": [operation]}))
    assert got[HEAP_URN] == {"heapRole": "Consumer"}


# Entra's app role shapes (idp-behaviour.md §2.1), bodies as Entra sends them.
ENTRA_SINGLE_ROLE_POST: dict[str, Any] = {
    "roles": [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Architect"}]
}


def entra_role_patch(*values: str, op: str = "Add") -> dict[str, Any]:
    """SingleAppRoleAssignment's PATCH: each app role as stringified JSON in ``value``."""
    app_roles = [
        {
            "value": json.dumps(
                {"id": "06b07648-ecfe-589f-9d2f-6325724a46ee", "value": v, "displayName": v}
            )
        }
        for v in values
    ]
    return {
        "schemas": [PATCH_URN],
        "Operations": [{"op": op, "path": "roles", "value": app_roles}],
    }


def test_an_entra_role_removal_never_grants_back_an_earlier_role(idp: Idp) -> None:
    """Entra removes app roles by their JSON string, which never matches the element it first
    POSTed: were adds appended, the POSTed primary role would win again at the next remove."""
    created = json_of(idp.call("POST", "/Users", okta_user(**ENTRA_SINGLE_ROLE_POST)))
    assert created[HEAP_URN] == {"heapRole": "Architect"}
    user_url = f"/Users/{created['id']}"
    idp.call("PATCH", user_url, entra_role_patch("Analyst"))

    got = json_of(idp.call("PATCH", user_url, entra_role_patch("Consumer", op="Remove")))

    assert got[HEAP_URN] == {"heapRole": "Analyst"}
    both = entra_role_patch("Consumer")
    both["Operations"] += entra_role_patch("Architect", op="Remove")["Operations"]
    assert json_of(idp.call("PATCH", user_url, both))[HEAP_URN] == {"heapRole": "Consumer"}
    assert role_name(identity_of(created["id"]).user) == "Consumer"


def test_an_inactive_post_for_a_teammate_heap_has_is_refused_up_front(idp: Idp) -> None:
    existing = json_of(idp.call("POST", "/Users", okta_user("ada@example.com")))
    entra = okta_user(
        "ada-upn",
        emails=[{"primary": True, "value": "ada@example.com", "type": "work"}],
        active=False,
    )

    refused = json_of(idp.call("POST", "/Users", entra))

    assert (refused["status"], refused["scimType"]) == ("409", "uniqueness")
    assert existing["id"] in refused["detail"]
    assert json_of(idp.call("GET", "/Users"))["totalResults"] == 1


def test_entra_single_app_role_assignment_post_then_patch_with_stringified_json(
    idp: Idp,
) -> None:
    UserFactory(account=idp.account, admin=True)  # so the user below is never the last Admin
    created = json_of(idp.call("POST", "/Users", okta_user(**ENTRA_SINGLE_ROLE_POST)))
    assert created[HEAP_URN] == {"heapRole": "Architect"}
    got = json_of(idp.call("PATCH", f"/Users/{created['id']}", entra_role_patch("Admin")))
    assert got[HEAP_URN] == {"heapRole": "Admin"}
    assert role_name(identity_of(created["id"]).user) == "Admin"
    # The exact body from the research notes: displayName differs from value, value wins.
    body = {
        "schemas": [PATCH_URN],
        "Operations": [
            {
                "op": "Add",
                "path": "roles",
                "value": [
                    {
                        "value": '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"Consumer",'
                        '"displayName":"Heap consumer"}'
                    }
                ],
            }
        ],
    }
    again = json_of(idp.call("PATCH", f"/Users/{created['id']}", body))
    assert again[HEAP_URN] == {"heapRole": "Consumer"}


def test_entra_stringified_role_without_value_uses_its_display_name(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    app_role = json.dumps({"id": "06b0", "displayName": "Architect"})
    body = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "Add", "path": "roles", "value": [{"value": app_role}]}],
    }
    got = json_of(idp.call("PATCH", f"/Users/{created['id']}", body))
    assert got[HEAP_URN] == {"heapRole": "Architect"}


def test_entra_complex_assignment_with_one_non_primary_role_uses_it(idp: Idp) -> None:
    # AppRoleAssignmentsComplex: every role primary "false", PATCH without `type`.
    roles = [{"primary": "false", "type": "WindowsAzureActiveDirectoryRole", "value": "Consumer"}]
    created = json_of(idp.call("POST", "/Users", okta_user(roles=roles)))
    assert created[HEAP_URN] == {"heapRole": "Consumer"}
    body = {
        "schemas": [PATCH_URN],
        "Operations": [
            {"op": "Replace", "path": "roles", "value": [{"primary": "false", "value": "Admin"}]}
        ],
    }
    got = json_of(idp.call("PATCH", f"/Users/{created['id']}", body))
    assert got[HEAP_URN] == {"heapRole": "Admin"}


MANY_ROLES = (
    "roles: 2 roles were sent and none is primary, but a Heap user has one role. In the identity"
    " provider, assign a single app role to the user, or mark one role primary (Entra: map"
    ' roles[primary eq "True"].value).'
)


def test_entra_complex_assignment_with_several_roles_and_none_primary_is_400(idp: Idp) -> None:
    roles = [
        {"primary": "false", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"},
        {"primary": "false", "type": "WindowsAzureActiveDirectoryRole", "value": "Consumer"},
    ]
    refused = idp.call("POST", "/Users", okta_user(roles=roles))
    assert json_of(refused) == error(400, MANY_ROLES, "invalidValue")
    assert json_of(idp.call("GET", "/Users"))["totalResults"] == 0
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    patch = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "Add", "path": "roles", "value": roles}],
    }
    response = idp.call("PATCH", f"/Users/{created['id']}", patch)
    assert json_of(response) == error(400, MANY_ROLES, "invalidValue")
    assert json_of(
        idp.call("PATCH", f"/Users/{created['id']}", entra_role_patch("Admin", "Consumer"))
    ) == error(400, MANY_ROLES, "invalidValue")
    # One of them primary: that one.
    roles[1]["primary"] = "True"
    ok = json_of(idp.call("POST", "/Users", okta_user("two@example.com", roles=roles)))
    assert ok[HEAP_URN] == {"heapRole": "Consumer"}


# ---- malformed element values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"emails": [{"value": 5}]}, "emails[0].value: must be a string, not 5."),
        (
            {"emails": [{"value": "a@example.com", "type": "work"}, {"value": ["x"]}]},
            "emails[1].value: must be a string, not ['x'].",
        ),
        ({"roles": [{"primary": True, "value": 5}]}, "roles[0].value: must be a string, not 5."),
    ],
)
def test_email_and_role_values_must_be_strings(
    idp: Idp, changes: dict[str, Any], detail: str
) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user("kept@example.com")))
    posted = idp.call("POST", "/Users", okta_user(**changes))
    assert json_of(posted) == error(400, detail, "invalidValue")
    put = idp.call("PUT", f"/Users/{created['id']}", {**created, **changes})
    assert json_of(put) == error(400, detail, "invalidValue")
    assert json_of(idp.call("GET", f"/Users/{created['id']}")) == created


@pytest.mark.parametrize(
    ("operation", "detail"),
    [
        (
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": 5},
            "emails[0].value: must be a string, not 5.",
        ),
        (
            {"op": "add", "path": "emails", "value": [{"value": 5, "type": "home"}]},
            "emails[1].value: must be a string, not 5.",
        ),
        (
            {"op": "Replace", "path": 'roles[primary eq "True"].value', "value": 5},
            "roles[0].value: must be a string, not 5.",
        ),
    ],
)
def test_patched_email_and_role_values_must_be_strings(
    idp: Idp, operation: dict[str, Any], detail: str
) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user(**ENTRA_SINGLE_ROLE_POST)))
    response = idp.call(
        "PATCH", f"/Users/{created['id']}", {"schemas": [PATCH_URN], "Operations": [operation]}
    )
    assert json_of(response) == error(400, detail, "invalidValue")
    assert json_of(idp.call("GET", f"/Users/{created['id']}")) == created
    assert role_name(identity_of(created["id"]).user) == "Architect"


def test_patch_of_other_attributes_keeps_a_role_changed_in_heap(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", okta_user(heapRole="Architect")))
    user = identity_of(created["id"]).user
    user.role = role(idp.account, "Admin")
    db.session.commit()
    operation = {"op": "replace", "path": "title", "value": "Boss"}
    got = json_of(idp.call("PATCH", f"/Users/{created['id']}", {"Operations": [operation]}))
    assert (got["title"], got[HEAP_URN]) == ("Boss", {"heapRole": "Admin"})


def test_patch_is_atomic(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    operations = [
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "replace", "path": f"{HEAP_URN}:heapRole", "value": "Nope"},
    ]
    response = idp.call("PATCH", f"/Users/{created['id']}", {"Operations": operations})
    assert response.status_code == 400
    assert json_of(response)["scimType"] == "invalidValue"
    assert json_of(idp.call("GET", f"/Users/{created['id']}")) == created


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (
            {"schemas": [PATCH_URN]},
            error(
                400, 'Invalid PATCH: "Operations" must be a list of operations.', "invalidSyntax"
            ),
        ),
        (
            {"Operations": [{"op": "remove"}]},
            error(
                400,
                'Invalid PATCH: operation 1: remove needs a "path" naming what to remove.',
                "noTarget",
            ),
        ),
        (
            {"Operations": [{"op": "move", "path": "title", "value": "x"}]},
            error(
                400,
                "Invalid PATCH: operation 1: \"op\" must be add, remove or replace, not 'move'.",
                "invalidSyntax",
            ),
        ),
    ],
)
def test_malformed_patches_are_400_with_their_scim_type(
    idp: Idp, body: dict[str, Any], want: dict[str, Any]
) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    response = idp.call("PATCH", f"/Users/{created['id']}", body)
    assert (response.status_code, json_of(response)) == (400, want)


CUSTOM_URN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"


def test_a_custom_extension_is_kept_and_returned_as_sent(idp: Idp) -> None:
    """Entra maps custom attributes as ``urn:...:CustomExtensionName:2.0:User:attr``; Heap has
    no use for them but keeps them, so the IdP reads back what it wrote (SPEC §4 Users)."""
    body: dict[str, Any] = {**okta_user(), CUSTOM_URN: {"costCode": "7"}}
    created = json_of(idp.call("POST", "/Users", body))
    assert created[CUSTOM_URN] == {"costCode": "7"}
    assert CUSTOM_URN in created["schemas"]

    patch = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "Replace", "path": f"{CUSTOM_URN}:costCode", "value": "8"}],
    }
    patched = json_of(idp.call("PATCH", f"/Users/{created['id']}", patch))
    assert patched[CUSTOM_URN] == {"costCode": "8"}

    put = json_of(idp.call("PUT", f"/Users/{created['id']}", {**patched, "title": "CFO"}))
    assert (put[CUSTOM_URN], put["title"]) == ({"costCode": "8"}, "CFO")
    assert json_of(idp.call("GET", f"/Users/{created['id']}")) == put


def test_urns_listed_in_schemas_without_an_object_are_not_stored(idp: Idp) -> None:
    # Entra lists its extension URNs in `schemas` whether or not it sends their objects.
    created = json_of(
        idp.call("POST", "/Users", okta_user(schemas=[USER_URN, ENTERPRISE_URN, CUSTOM_URN]))
    )
    assert created["schemas"] == [USER_URN, HEAP_URN]


def test_entra_validator_empty_patch_is_a_no_op(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    response = idp.call(
        "PATCH", f"/Users/{created['id']}", {"schemas": [PATCH_URN], "Operations": []}
    )
    got = json_of(response)
    assert response.status_code == 200
    assert got == {**created, "meta": got["meta"]}
    assert json_of(idp.call("GET", f"/Users/{created['id']}")) == got


# ---- delete -------------------------------------------------------------------------------------


def test_delete_is_204_then_404(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    first = idp.call("DELETE", f"/Users/{created['id']}")
    assert (first.status_code, first.get_data()) == (204, b"")
    second = idp.call("DELETE", f"/Users/{created['id']}")
    assert second.status_code == 404
    assert json_of(second) == error(404, f"No user with id {created['id']!r}.")
    assert db.session.get(ScimIdentity, created["id"]) is None


def test_unknown_id_is_404(idp: Idp) -> None:
    response = idp.call("GET", "/Users/010101001010101011001010101011")
    assert response.status_code == 404
    assert json_of(response) == error(404, "No user with id '010101001010101011001010101011'.")


def test_actions_are_audited(idp: Idp) -> None:
    created = json_of(idp.call("POST", "/Users", OKTA_CREATE))
    idp.call("PATCH", f"/Users/{created['id']}", OKTA_DEACTIVATE)
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.account_id == idp.account.id)
        .order_by(AuditEvent.id)
    ).all()
    assert actions[-2:] == ["user.provision", "user.deactivate"]


# ---- tenant isolation ---------------------------------------------------------------------------


def test_another_accounts_users_are_invisible_and_untouchable(
    idp: Idp, client: FlaskClient
) -> None:
    other_account, other_token = scim_account()
    other = Idp(client, other_account, other_token)
    theirs = json_of(other.call("POST", "/Users", OKTA_CREATE))
    path = f"/Users/{theirs['id']}"
    for method, body in (
        ("GET", None),
        ("PUT", OKTA_CREATE),
        ("PATCH", OKTA_DEACTIVATE),
        ("DELETE", None),
    ):
        response = idp.call(method, path, body)
        assert response.status_code == 404, method
        assert json_of(response) == error(404, f"No user with id {theirs['id']!r}."), method
    assert json_of(idp.call("GET", "/Users")) == listing([], total=0)
    found = idp.call("GET", "/Users", query_string={"filter": f'id eq "{theirs["id"]}"'})
    assert json_of(found) == listing([], total=0)
    assert json_of(other.call("GET", path)) == theirs


# ---- never a 5xx --------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "userName",
        "emails",
        "name",
        "active",
        "heapRole",
        "roles",
        "externalId",
        "displayName",
        HEAP_URN,
        ENTERPRISE_URN,
        "Operations",
        "op",
        "path",
        "value",
        "schemas",
    ]
)
_user_like = st.dictionaries(_keys, _json, max_size=8)
_filters = st.text(max_size=60) | st.builds(
    lambda attr, op, value: f"{attr} {op} {value}",
    st.sampled_from(
        [
            "userName",
            'emails[type eq "work"].value',
            "active",
            "meta.created",
            "x",
            "name.givenName",
        ]
    ),
    st.sampled_from(["eq", "ne", "co", "sw", "gt", "pr", "zz"]),
    st.sampled_from(['"a"', "true", "1", "null", '"2020-01-01"', "(", '"\\u0000"', ""]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_json | _user_like, method=st.sampled_from(["POST", "PUT", "PATCH"]))
def test_no_body_causes_a_5xx(idp: Idp, body: Any, method: str) -> None:
    if not hasattr(idp, "target"):
        idp.target = json_of(idp.call("POST", "/Users", okta_user("fuzz@example.com")))["id"]
    path = "/Users" if method == "POST" else f"/Users/{idp.target}"
    response = idp.call(method, path, body)
    assert response.status_code < 500, json_of(response)
    if response.status_code >= 400:
        got = json_of(response)
        assert got["schemas"] == [ERROR_URN] and got["status"] == str(response.status_code)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(filter_text=_filters)
def test_no_filter_causes_a_5xx(idp: Idp, filter_text: str) -> None:
    response = idp.call("GET", "/Users", query_string={"filter": filter_text})
    assert response.status_code in (200, 400), json_of(response)
    if response.status_code == 400:
        assert json_of(response)["scimType"] == "invalidFilter"
