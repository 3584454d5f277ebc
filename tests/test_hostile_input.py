"""Hostile input, generated: garbage to every SCIM route and to /graphql, on SQLite and PostgreSQL.

Hypothesis builds arbitrary JSON (unicode with lone surrogates and NULs, huge and deeply nested
values), PatchOp bodies with real and broken paths, filters from the grammar's parts, query
parameters and raw bytes. For every request: no 5xx (but the 501s that RFC 7644 prescribes for
/Me, /Bulk and /.search), an error body in the door's own shape and of bounded size, and the
tenant still lists every one of its users and teams afterwards.

Runs in CI with a bounded number of examples (HOSTILE_EXAMPLES, 30 per test by default),
derandomised there so a red run can be reproduced; locally each run explores new examples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from heap import tokens
from heap.extensions import db
from heap.models import Account, ScimIdentity, Team, User
from tests.conftest import IN_CI, json_of
from tests.factories import UserFactory, role, scim_account

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEAP_URN = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# RFC 7644 §3.11, §3.7, §3.4.3: a server without /Me, /Bulk or root searches answers 501.
UNIMPLEMENTED = ("/Me", "/Bulk", "/.search")
# Every error names a few problems and counts the rest: it never grows with the input.
MAX_ERROR_BYTES = 4096

HOSTILE = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "30")),
    deadline=None,
    derandomize=IN_CI,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# ---- what a hostile sender sends ---------------------------------------------------------------

_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
_texts = st.text(
    alphabet=st.characters(exclude_categories=()) | _surrogates, max_size=24
) | st.sampled_from(
    [
        "",
        "\x00",
        "\ud800",
        "a\udc00b",
        "\U0001f600",
        '"',
        "\\",
        "%_",
        "True",
        "False",
        "null",
        " Admin ",
        USER_URN,
        ENTERPRISE_URN,
        HEAP_URN,
    ]
)
_names = st.sampled_from(
    [
        "userName",
        "USERNAME",
        "name",
        "name.givenName",
        "displayName",
        "emails",
        "emails.value",
        "phoneNumbers",
        "active",
        "heapRole",
        "roles",
        "members",
        "externalId",
        "groups",
        "id",
        "meta",
        "schemas",
        "password",
        "manager",
        f"{ENTERPRISE_URN}:manager",
        ENTERPRISE_URN,
        HEAP_URN,
        f"{HEAP_URN}:heapRole",
        "urn:okta:custom:group:1.0",
    ]
)
_keys = _names | _texts
_numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
_scalars = st.none() | st.booleans() | _numbers | _texts
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for level in range(depth):
        value = [value] if level % 2 else {"value": value}
    return value


# The sizes the probe used, shrunk to what a test run can afford but still past every cap.
_huge = st.sampled_from(
    [
        _nested(150),
        [1] * 12_000,
        "x" * 300_000,
        [{"value": 1}] * 150,
        {f"k{i}": "v" * 2000 for i in range(40)},
    ]
)
_values = _json | _huge


def _element(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {}, optional={"value": value, "display": _texts, "type": _texts, "primary": _scalars}
    )


_user_body = st.fixed_dictionaries(
    {},
    optional={
        "schemas": st.lists(_texts | _names, max_size=3) | _json,
        "userName": _texts | st.just("hostile@example.com") | _json,
        "name": st.fixed_dictionaries({}, optional={"givenName": _texts, "familyName": _values}),
        "emails": st.lists(_element(_texts | _json), max_size=4) | _values,
        "active": _scalars,
        "heapRole": _scalars,
        "roles": st.lists(_element(_texts), max_size=3) | _json,
        "externalId": _scalars,
        ENTERPRISE_URN: st.dictionaries(_keys, _values, max_size=3) | _json,
        HEAP_URN: st.dictionaries(_keys, _scalars, max_size=2),
        "urn:ietf:params:scim:schemas:extension:acme:2.0:User": _values,
    },
)
_group_body = st.fixed_dictionaries(
    {},
    optional={
        "schemas": st.lists(_texts, max_size=2),
        "displayName": _texts | _json,
        "externalId": _scalars,
        "members": st.lists(_element(_texts | _json), max_size=5) | _values,
    },
)
_filter_values = (
    _texts.map(json.dumps)
    | _texts
    | st.sampled_from(
        ["true", "false", "null", "12", "-3.5e400", '"\\ud800"', '"\\u0000"', '"\\uZZZZ"']
    )
)
_comparisons = st.builds(
    "{} {} {}".format,
    _names | _texts,
    st.sampled_from(["eq", "NE", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "xx"]),
    _filter_values,
)
_filters = st.recursive(
    _comparisons | _texts,
    lambda inner: (
        st.builds("({})".format, inner)
        | st.builds("not ({})".format, inner)
        | st.builds("{} and {}".format, inner, inner)
        | st.builds("{} or {}".format, inner, inner)
        | st.builds("emails[{}].value eq {}".format, inner, _filter_values)
        | st.builds("members[{}]".format, inner)
    ),
    max_leaves=6,
)
_paths = (
    _filters
    | _names
    | st.sampled_from(
        [
            'members[value eq "{uid}"]',
            'emails[type eq "work"].value',
            'roles[primary eq "True"].value',
            "name.familyName",
            f"{ENTERPRISE_URN}:manager",
            f"{ENTERPRISE_URN}:department",
            ENTERPRISE_URN,
            "members.value",
            "[",
            'members[value eq "x"].display',
        ]
    )
)
_operation = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Add", "remove", "Remove", "replace", "REPLACE"]) | _json},
    optional={"path": _paths | _json, "value": _values},
)
_patch_body = st.fixed_dictionaries(
    {"Operations": st.lists(_operation, max_size=4) | _json},
    optional={"schemas": st.just([PATCH_URN]) | _json},
)
_query = st.dictionaries(
    st.sampled_from(
        ["filter", "startIndex", "count", "attributes", "excludedAttributes", "sortBy", "FILTER"]
    ),
    _filters | _texts | st.integers().map(str),
    max_size=4,
)
_raw = st.binary(max_size=64) | st.sampled_from(
    [b"\xff\xfe\x00", b'{"a": "\xed\xa0\x80"}', b"[" * 5000, b"NaN", b'"x"', b"null", b"123"]
)
_bodies = _values | _user_body | _group_body | _patch_body

_ROUTES = [
    ("GET", "/Users"),
    ("POST", "/Users"),
    ("POST", "/Users/.search"),
    ("GET", "/Users/{uid}"),
    ("PUT", "/Users/{uid}"),
    ("PATCH", "/Users/{uid}"),
    ("DELETE", "/Users/{uid}"),
    ("GET", "/Groups"),
    ("POST", "/Groups"),
    ("POST", "/Groups/.search"),
    ("GET", "/Groups/{gid}"),
    ("PUT", "/Groups/{gid}"),
    ("PATCH", "/Groups/{gid}"),
    ("DELETE", "/Groups/{gid}"),
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/ResourceTypes"),
    ("GET", "/ResourceTypes/{name}"),
    ("GET", "/Schemas"),
    ("GET", "/Schemas/{name}"),
    ("POST", "/.search"),
    ("GET", "/Me"),
    ("POST", "/Bulk"),
]


# ---- the tenant under attack -------------------------------------------------------------------


@dataclass
class Tenant:
    client: FlaskClient
    account: Account
    token: str
    viewer_token: str
    member_token: str
    user_ids: list[str] = field(default_factory=list)
    team_ids: list[str] = field(default_factory=list)

    def scim(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        return self.client.open(
            f"/scim/v2{path}",
            method=method,
            query_string=_url_encoded(query or {}),
            data=data,
            content_type="application/scim+json",
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def path(self, template: str, ref: str | None) -> str:
        sent = None if ref is None else quote(_bytes(ref), safe="")
        return template.format(
            uid=sent if sent is not None else self.user_ids[0],
            gid=sent if sent is not None else self.team_ids[0],
            name=sent if sent is not None else "User",
        )

    def still_whole(self) -> None:
        """The tenant lists every user and team it holds: one row can't break a listing."""
        db.session.expire_all()
        users = self.scim("GET", "/Users", query={"count": "500"})
        groups = self.scim("GET", "/Groups", query={"count": "500"})
        assert users.status_code == 200, users.get_data(as_text=True)
        assert groups.status_code == 200, groups.get_data(as_text=True)
        held_users = set(
            db.session.scalars(
                select(ScimIdentity.id).where(ScimIdentity.account_id == self.account.id)
            )
        )
        held_teams = set(
            db.session.scalars(select(Team.scim_id).where(Team.account_id == self.account.id))
        )
        assert {r["id"] for r in json_of(users)["Resources"]} == held_users
        assert {r["id"] for r in json_of(groups)["Resources"]} == held_teams


@pytest.fixture
def tenant(app: Flask, client: FlaskClient) -> Tenant:
    account, token = scim_account()
    admin = cast(User, UserFactory.create(account=account, role=role(account, "Admin")))
    member = cast(User, UserFactory.create(account=account))
    secret = str(app.config["SECRET_KEY"])
    tenant = Tenant(
        client,
        account,
        token,
        viewer_token=tokens.sign_viewer_token(secret, admin.id, admin.session_generation),
        member_token=tokens.sign_viewer_token(secret, member.id, member.session_generation),
    )
    ada = {"userName": "ada@example.com", "name": {"givenName": "Ada", "familyName": "L"}}
    created = tenant.scim("POST", "/Users", json.dumps(ada).encode())
    assert created.status_code == 201
    tenant.user_ids = [json_of(created)["id"], admin.scim_identity.id, member.scim_identity.id]
    team = {"displayName": "Targets", "members": [{"value": tenant.user_ids[0]}]}
    made = tenant.scim("POST", "/Groups", json.dumps(team).encode())
    assert made.status_code == 201
    tenant.team_ids = [json_of(made)["id"]]
    return tenant


def _bytes(text: str) -> bytes:
    # What a client that cuts strings in UTF-16 puts on the wire: a lone surrogate as the three
    # bytes UTF-8 would give it, which no UTF-8 decoder accepts.
    return text.encode("utf-8", "surrogatepass")


def _url_encoded(query: Mapping[str, str]) -> str:
    return urlencode({_bytes(k): _bytes(v) for k, v in query.items()})


def assert_scim_answer(response: Any, path: str) -> None:
    raw = response.get_data()
    if path in UNIMPLEMENTED:
        assert response.status_code in (401, 403, 404, 405, 501), raw
    else:
        assert response.status_code < 500, raw
    if response.status_code >= 400:
        body = json_of(response)
        assert body["schemas"] == [ERROR_URN], body
        assert body["status"] == str(response.status_code)
        assert isinstance(body["detail"], str) and body["detail"]
        assert len(raw) <= MAX_ERROR_BYTES, len(raw)


def _encoded(body: Any) -> bytes:
    # ensure_ascii: a lone surrogate leaves as the JSON escape an IdP would send.
    return body if isinstance(body, bytes) else json.dumps(body).encode()


_refs = st.none() | _texts | st.just("00000000-0000-4000-8000-000000000000")


# ---- SCIM ---------------------------------------------------------------------------------------


@HOSTILE
@given(
    route=st.sampled_from(_ROUTES),
    ref=_refs,
    body=st.none() | _bodies | _raw,
    query=_query,
)
def test_no_scim_request_is_a_5xx_or_breaks_the_tenant(
    tenant: Tenant, route: tuple[str, str], ref: str | None, body: Any, query: dict[str, str]
) -> None:
    method, template = route
    path = tenant.path(template, ref)
    data = None if body is None else _encoded(body)
    response = tenant.scim(method, path, data, query)
    assert_scim_answer(response, template)
    tenant.still_whole()


@HOSTILE
@given(body=_patch_body, target=st.sampled_from(["/Users/{uid}", "/Groups/{gid}"]))
def test_no_patch_is_a_5xx_or_breaks_the_tenant(tenant: Tenant, body: Any, target: str) -> None:
    path = tenant.path(target, None)
    text = json.dumps(body).replace("{uid}", tenant.user_ids[1])
    response = tenant.scim("PATCH", path, text.encode())
    assert_scim_answer(response, target)
    tenant.still_whole()


@HOSTILE
@given(
    resource=st.sampled_from(["/Users", "/Groups"]),
    filter_text=_filters,
    as_search=st.booleans(),
)
def test_no_filter_is_a_5xx(
    tenant: Tenant, resource: str, filter_text: str, as_search: bool
) -> None:
    if as_search:
        body = json.dumps({"filter": filter_text}).encode()
        response = tenant.scim("POST", f"{resource}/.search", body)
    else:
        response = tenant.scim("GET", resource, query={"filter": filter_text})
    assert_scim_answer(response, resource)
    if response.status_code == 400:
        assert json_of(response)["scimType"] in ("invalidFilter", "invalidValue", "invalidSyntax")


@HOSTILE
@given(body=_user_body, method=st.sampled_from(["POST", "PUT"]))
def test_no_user_body_is_a_5xx_or_breaks_the_tenant(tenant: Tenant, body: Any, method: str) -> None:
    path = "/Users" if method == "POST" else f"/Users/{tenant.user_ids[0]}"
    response = tenant.scim(method, path, _encoded(body))
    assert_scim_answer(response, path)
    tenant.still_whole()


# ---- GraphQL -------------------------------------------------------------------------------------

_queries = (
    st.sampled_from(
        [
            "{ viewer { email } }",
            "{ account { users(first: 100) { nodes { email role { name } teams { name } } } } }",
            '{ account { users(first: 5, filter: {search: "$s"}) { totalCount } } }',
            '{ account { scim { activity(target: "$s") { totalCount } } } }',
            '{ node(id: "$s") { id } }',
            'mutation { inviteUser(input: {email: "$s"}) { userErrors { code } } }',
            'mutation { createTeam(input: {name: "$s"}) { userErrors { code } } }',
            'mutation { createRole(input: {name: "$s"}) { userErrors { code } } }',
            "query($x: String) { viewer { email } }",
            "{ account { teams(first: 100) { nodes { members(first: 100) { nodes { teams { "
            "members(first: 100) { nodes { email } } } } } } } } }",
        ]
    )
    | _texts
)
_graphql_bodies = (
    st.fixed_dictionaries(
        {"query": _queries | _json},
        optional={"variables": _json, "operationName": _scalars},
    )
    | _values
    | _raw
)


def _graphql_text(query: Any, fill: str) -> Any:
    # "$s" is where a query takes a string argument: filled with hostile text, JSON-escaped.
    return query.replace('"$s"', json.dumps(fill)) if isinstance(query, str) else query


@HOSTILE
@given(body=_graphql_bodies, fill=_texts, who=st.sampled_from(["admin", "member", "nobody"]))
def test_no_graphql_request_is_a_5xx_or_breaks_the_tenant(
    tenant: Tenant, body: Any, fill: str, who: str
) -> None:
    if isinstance(body, dict) and "query" in body:
        body = {**body, "query": _graphql_text(body["query"], fill)}
    # A forged token as the server sees it: header bytes arrive decoded as Latin-1, and a header
    # can't hold a line break.
    forged = _bytes(fill).decode("latin-1").replace("\r", " ").replace("\n", " ")
    token = {"admin": tenant.viewer_token, "member": tenant.member_token, "nobody": forged}[who]
    response = tenant.client.post(
        "/graphql",
        data=_encoded(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    raw = response.get_data()
    assert response.status_code < 500, raw
    assert response.mimetype == "application/json", raw
    answer = json_of(response)
    assert isinstance(answer, dict) and ("data" in answer or "errors" in answer), answer
    for error in answer.get("errors") or []:
        assert isinstance(error.get("message"), str)
    tenant.still_whole()
