"""The attribute table (scim/attributes/) against RFC 7643, and what the door derives from it.

``rfc7643_schemas.json`` is RFC 7643 §8.7.1's published User and Group schemas and §8.7.2's
enterprise extension, as JSON. /Schemas must say the same of every attribute it lists, but for
the deliberate differences below, each of which states what Heap really does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from scim.attributes import (
    GROUP_DOCUMENT,
    USER_DOCUMENT,
    USER_NAMES,
    USERS,
    Attr,
)
from scim.attributes.model import Lives
from scim.constants import ENTERPRISE_USER_URN, GROUP_URN, HEAP_USER_URN, USER_URN
from scim.filters import AttrPath, FilterError
from tests.conftest import json_of
from tests.factories import scim_account

RFC = {s["id"]: s for s in json.loads(Path(__file__).with_name("rfc7643_schemas.json").read_text())}
# (schema, dotted attribute, characteristic) -> what Heap advertises instead, and why.
DEVIATIONS: dict[tuple[str, str, str], Any] = {
    # Heap signs people in by email: a user without any address can't be provisioned.
    (USER_URN, "emails", "required"): True,
    # Team names are unique in an account (a unique index); Okta links by displayName.
    (GROUP_URN, "displayName", "uniqueness"): "server",
}
COMPARED = (
    "type",
    "multiValued",
    "required",
    "canonicalValues",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "referenceTypes",
)


def _flat(attributes: list[dict[str, Any]], prefix: str = "") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for attribute in attributes:
        name = f"{prefix}{attribute['name']}"
        found[name] = attribute
        found.update(_flat(attribute.get("subAttributes", []), f"{name}."))
    return found


@pytest.fixture
def served(client: FlaskClient) -> dict[str, dict[str, Any]]:
    _, token = scim_account()
    response = client.get("/scim/v2/Schemas", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return {schema["id"]: schema for schema in json_of(response)["Resources"]}


@pytest.mark.parametrize("urn", [USER_URN, GROUP_URN, ENTERPRISE_USER_URN])
def test_schemas_say_what_rfc_7643_says(served: dict[str, dict[str, Any]], urn: str) -> None:
    ours, rfc = _flat(served[urn]["attributes"]), _flat(RFC[urn]["attributes"])
    assert list(ours) == list(rfc)  # every RFC attribute, in the RFC's order, and no other
    for name, published in rfc.items():
        for key in COMPARED:
            expected = DEVIATIONS.get((urn, name, key), published.get(key))
            if key == "canonicalValues" and name == "roles.value":
                continue  # filled with the account's role names, see test_discovery.py
            assert ours[name].get(key) == expected, (urn, name, key)
    assert (served[urn]["name"], served[urn]["description"]) == (
        RFC[urn]["name"],
        RFC[urn]["description"],
    )


def test_the_heap_extension_schema(served: dict[str, dict[str, Any]]) -> None:
    heap = served[HEAP_USER_URN]
    assert [a["name"] for a in heap["attributes"]] == ["heapRole"]
    role = heap["attributes"][0]
    assert {k: role[k] for k in COMPARED if k in role} == {
        "type": "string",
        "multiValued": False,
        "required": False,
        "canonicalValues": ["Admin", "Architect", "Analyst", "Consumer"],
        "caseExact": True,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }


def _walk(attributes: tuple[Attr, ...], prefix: str = "") -> dict[str, Attr]:
    found: dict[str, Attr] = {}
    for attr in attributes:
        found[f"{prefix}{attr.name}"] = attr
        found.update(_walk(attr.sub_attributes, f"{prefix}{attr.name}."))
    return found


def test_the_patch_engine_knows_what_the_table_says() -> None:
    table = _walk((*USERS.schema.attributes, *USERS.common))
    multi = {name for name, attr in table.items() if attr.multi_valued}
    assert set(USER_DOCUMENT.multi_valued) == multi
    assert {a.lower() for a in USER_DOCUMENT.attributes} == {n.lower() for n in table}
    assert set(USER_DOCUMENT.read_only) == {"schemas", "id", "meta", "groups"}
    assert set(USER_DOCUMENT.extensions) == {ENTERPRISE_USER_URN, HEAP_USER_URN}
    assert set(GROUP_DOCUMENT.multi_valued) == {"members"}
    for name in table:
        leaf = name.rsplit(".", 1)[-1]
        parent = name.rsplit(".", 1)[0] if "." in name else None
        assert USER_DOCUMENT.canonical(None, leaf.lower(), parent) == leaf


def test_the_loader_keeps_what_the_table_says_is_kept() -> None:
    assert USER_NAMES.dropped == {"schemas", "id", "meta", "groups", "password"}
    assert USER_NAMES.modelled == {
        "userName",
        "externalId",
        "displayName",
        "active",
        "heapRole",
        "name",
        HEAP_USER_URN,
    }
    assert USER_NAMES.modelled_parts["name"] == {"givenName", "familyName"}
    kept = {a.name for a in USERS.schema.attributes if a.lives is Lives.KEPT}
    assert not kept & (USER_NAMES.modelled | USER_NAMES.dropped)


def test_only_attributes_with_a_filter_are_filterable() -> None:
    from scim.attributes import USER_FILTERS

    table = _walk((*USERS.schema.attributes, *USERS.common))
    for name, attr in table.items():
        if "." in name and table[name.rsplit(".", 1)[0]].multi_valued:
            continue  # an element's sub-attribute filters through its parent
        path = AttrPath(*name.split(".", 1)) if "." in name else AttrPath(name)
        if attr.filter is None:
            with pytest.raises(FilterError):
                USER_FILTERS(path)
        else:
            USER_FILTERS(path)
