"""Never a 5xx: query parameters on GET /Users and GET /Groups, and arbitrary JSON bodies on
/Groups, fuzzed on SQLite and PostgreSQL. (The /Users body fuzz is in test_users.py.)"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heap.models import Account
from tests.conftest import json_of
from tests.factories import scim_account

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
HEAP_URN = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"
FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Idp:
    client: FlaskClient
    account: Account
    token: str

    def call(
        self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None
    ) -> Any:
        return self.client.open(
            f"/scim/v2{path}",
            method=method,
            query_string=dict(query or {}),
            data=None if body is None else json.dumps(body),
            content_type="application/scim+json",
            headers={"Authorization": f"Bearer {self.token}"},
        )


@pytest.fixture
def idp(app: Flask, client: FlaskClient) -> Idp:
    account, token = scim_account()
    idp = Idp(client, account, token)
    user = {"userName": "fuzz@example.com", "name": {"givenName": "F", "familyName": "Z"}}
    assert idp.call("POST", "/Users", user).status_code == 201
    assert idp.call("POST", "/Groups", {"displayName": "Fuzzers"}).status_code == 201
    return idp


def assert_scim_answer(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        got = json_of(response)
        assert got["schemas"] == [ERROR_URN] and got["status"] == str(response.status_code)


# ---- query parameters -------------------------------------------------------------------------

_huge = st.sampled_from(
    [
        "99999999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "9223372036854775809",
        "-9223372036854775809",
        "2147483648",
        "1" * 5000,
    ]
)
_integers = _huge | st.integers().map(str) | st.text(max_size=8)
_attribute_names = st.sampled_from(
    [
        "userName",
        "displayName",
        "members",
        "members.value",
        "emails.value",
        "name.givenName",
        "groups",
        "schemas",
        "id",
        "meta.created",
        f"{HEAP_URN}:heapRole",
        HEAP_URN,
        "urn:foo:bar",
        "",
        ",",
        "x.y.z",
    ]
)
_attribute_lists = st.lists(_attribute_names | st.text(max_size=10), max_size=4).map(",".join)
_filters = st.text(max_size=40) | st.sampled_from(
    [
        'displayName eq "Fuzzers"',
        'userName sw "f"',
        'members[value eq "x"]',
        'meta.lastModified gt "2020-01-01T00:00:00Z"',
        'emails[type eq "work"].value co "@"',
        "active eq true",
        "(",
    ]
)
_query = st.fixed_dictionaries(
    {},
    optional={
        "startIndex": _integers,
        "count": _integers,
        "filter": _filters,
        "attributes": _attribute_lists,
        "excludedAttributes": _attribute_lists,
        "sortBy": _attribute_names | st.text(max_size=10),
        "sortOrder": st.sampled_from(["ascending", "descending", "sideways"]),
    },
)


@FUZZ
@given(path=st.sampled_from(["/Users", "/Groups"]), query=_query)
def test_no_query_parameters_cause_a_5xx(idp: Idp, path: str, query: dict[str, str]) -> None:
    response = idp.call("GET", path, query=query)
    assert_scim_answer(response)
    if response.status_code == 200:
        got = json_of(response)
        assert got["schemas"] == [LIST_URN]
        assert got["itemsPerPage"] == len(got["Resources"])


@pytest.mark.parametrize("path", ["/Users", "/Groups"])
@pytest.mark.parametrize(
    "start_index", ["99999999999999999999", "9223372036854775809", "2147483648", "1" * 5000]
)
def test_a_start_index_beyond_any_page_is_an_empty_page(
    idp: Idp, path: str, start_index: str
) -> None:
    got = json_of(idp.call("GET", path, query={"startIndex": start_index}))
    assert got == {
        "schemas": [LIST_URN],
        "totalResults": 1,
        "startIndex": 2**31 - 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


@pytest.mark.parametrize("path", ["/Users", "/Groups"])
def test_a_huge_count_is_the_page_size_cap(idp: Idp, path: str) -> None:
    got = json_of(idp.call("GET", path, query={"count": "99999999999999999999"}))
    assert (got["totalResults"], got["itemsPerPage"]) == (1, 1)


# ---- bodies -----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "displayName",
        "externalId",
        "members",
        "schemas",
        "id",
        "meta",
        "Operations",
        "op",
        "path",
        "value",
        GROUP_URN,
    ]
)
_operation = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "Add", "remove", "Remove", "replace", "Replace", "x"])
        | _json,
    },
    optional={
        "path": st.sampled_from(
            [
                "members",
                'members[value eq "x"]',
                "displayName",
                "externalId",
                f"{GROUP_URN}:displayName",
                "urn:foo:bar",
                "members.value",
                "[",
            ]
        )
        | _json,
        "value": _json,
    },
)
_group_like = st.dictionaries(_keys, _json, max_size=6) | st.fixed_dictionaries(
    {"Operations": st.lists(_operation, max_size=3)}
)


@FUZZ
@given(body=_json | _group_like, method=st.sampled_from(["POST", "PUT", "PATCH"]))
def test_no_group_body_causes_a_5xx(idp: Idp, body: Any, method: str) -> None:
    if not hasattr(idp, "target"):
        found = json_of(idp.call("GET", "/Groups", query={"filter": 'displayName eq "Fuzzers"'}))
        idp.target = found["Resources"][0]["id"]  # type: ignore[attr-defined]
    path = "/Groups" if method == "POST" else f"/Groups/{idp.target}"  # type: ignore[attr-defined]
    assert_scim_answer(idp.call(method, path, body))
