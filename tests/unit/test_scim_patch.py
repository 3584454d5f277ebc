"""scim/patch.py, patch_document.py and group_patch.py: PatchOp parsing, applying to a User
document, and Group membership commands."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heap.services.teams import (
    AddMembers,
    Members,
    RemoveAllMembers,
    RemoveMembers,
    Rename,
    ReplaceMembers,
    SetExternalId,
    TeamChange,
)
from scim.attributes import GROUP_DOCUMENT, USER_DOCUMENT
from scim.constants import MAX_MEMBERS_PER_REQUEST
from scim.errors import ScimError
from scim.filters import AttrPath, Compare, Or, PathExpr
from scim.group_patch import group_changes
from scim.patch import PatchError, PatchOperation, parse_patch
from scim.patch_document import DocumentSchema, apply_to_document

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEAP = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"


def body(*operations: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def path(attr: str, sub: str | None = None, urn: str | None = None) -> PathExpr:
    return PathExpr(AttrPath(attr, sub, urn))


def eq(attr: str, value: Any) -> Compare:
    return Compare(AttrPath(attr), "eq", value)


# ---------------------------------------------------------------------------------------------
# parse_patch

PARSED: list[tuple[str, dict[str, Any], list[PatchOperation]]] = [
    (
        "Okta deactivate: no path, object value",
        body({"op": "replace", "value": {"active": False}}),
        [PatchOperation("replace", path("active"), False, 1)],
    ),
    (
        "Entra deactivate: capitalised op, string boolean",
        body({"op": "Replace", "path": "active", "value": "False"}),
        [PatchOperation("replace", path("active"), False, 1)],
    ),
    (
        "Entra reactivate with a string, keys in any case",
        {
            "SCHEMAS": [PATCH_OP.upper()],
            "operations": [{"OP": "REPLACE", "Path": "Active", "Value": "True"}],
        },
        [PatchOperation("replace", path("Active"), True, 1)],
    ),
    (
        "Entra aadOptscim062020: dotted and URN keys in a no-path value",
        body(
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    f"{ENT}:employeeNumber": "Aklq",
                },
            }
        ),
        [
            PatchOperation("replace", path("displayName"), "Bjfe", 1),
            PatchOperation("replace", path("name", "givenName"), "Kkom", 1),
            PatchOperation("replace", path("name", "familyName"), "Unua", 1),
            PatchOperation("replace", path("employeeNumber", urn=ENT), "Aklq", 1),
        ],
    ),
    (
        "an extension object in a no-path value",
        body({"op": "add", "value": {ENT: {"department": "Sales", "manager": "m-1"}}}),
        [
            PatchOperation("add", path("department", urn=ENT), "Sales", 1),
            PatchOperation("add", path("manager", urn=ENT), {"value": "m-1"}, 1),
        ],
    ),
    (
        "Entra manager as a bare id becomes {value}",
        body({"op": "Add", "path": f"{ENT}:manager", "value": "26118915-6090-4610-87a4"}),
        [PatchOperation("add", path("manager", urn=ENT), {"value": "26118915-6090-4610-87a4"}, 1)],
    ),
    (
        "Entra's filtered email path",
        body({"op": "Replace", "path": 'emails[type eq "work"].value', "value": "x@y.com"}),
        [
            PatchOperation(
                "replace", PathExpr(AttrPath("emails"), eq("type", "work"), "value"), "x@y.com", 1
            )
        ],
    ),
    (
        "Entra SingleAppRoleAssignment roles: primary strings become booleans",
        body({"op": "Add", "path": "roles", "value": [{"primary": "True", "value": "Admin"}]}),
        [PatchOperation("add", path("roles"), [{"primary": True, "value": "Admin"}], 1)],
    ),
    (
        "Okta group rename (no path, id inside the value)",
        body({"op": "replace", "value": {"id": "abf4dd94", "displayName": "Test SCIMv2"}}),
        [
            PatchOperation("replace", path("id"), "abf4dd94", 1),
            PatchOperation("replace", path("displayName"), "Test SCIMv2", 1),
        ],
    ),
    (
        "Okta membership push: remove by filter, add by list",
        body(
            {"op": "remove", "path": 'members[value eq "89bb1940"]'},
            {"op": "add", "path": "members", "value": [{"value": "23a35c27", "display": "t@o"}]},
        ),
        [
            PatchOperation(
                "remove", PathExpr(AttrPath("members"), eq("value", "89bb1940")), None, 1
            ),
            PatchOperation("add", path("members"), [{"value": "23a35c27", "display": "t@o"}], 2),
        ],
    ),
    ("Entra's validator: zero operations", body(), []),
    ("schemas may be missing", {"Operations": []}, []),
    ("a schemas string is tolerated", {"schemas": PATCH_OP, "Operations": []}, []),
    (
        "an empty path is no path",
        body({"op": "add", "path": " ", "value": {"title": "CTO"}}),
        [PatchOperation("add", path("title"), "CTO", 1)],
    ),
    (
        "replace with null",
        body({"op": "replace", "path": "nickName", "value": None}),
        [PatchOperation("replace", path("nickName"), None, 1)],
    ),
]


@pytest.mark.parametrize(("case", "raw", "expected"), PARSED, ids=[c[0] for c in PARSED])
def test_parse_patch(case: str, raw: dict[str, Any], expected: list[PatchOperation]) -> None:
    assert parse_patch(raw) == expected


REFUSED: list[tuple[Any, str, str]] = [
    ([], "invalidSyntax", 'the body must be a JSON object with "Operations"'),
    ({}, "invalidSyntax", '"Operations" must be a list of operations'),
    ({"Operations": {"op": "add"}}, "invalidSyntax", '"Operations" must be a list of operations'),
    ({"schemas": [USER], "Operations": []}, "invalidSyntax", f'"schemas" must be ["{PATCH_OP}"]'),
    ({"schemas": 7, "Operations": []}, "invalidSyntax", f'"schemas" must be ["{PATCH_OP}"]'),
    (
        body(*[{"op": "remove", "path": "title"}] * 1001),
        "invalidSyntax",
        "too many operations (1001); send at most 1000 per request",
    ),
    (body("add"), "invalidSyntax", 'operation 1 must be an object with "op"'),
    (
        body({"path": "title", "value": "x"}),
        "invalidSyntax",
        'operation 1: "op" must be add, remove or replace, not None',
    ),
    (
        body({"op": "merge", "value": {}}),
        "invalidSyntax",
        "operation 1: \"op\" must be add, remove or replace, not 'merge'",
    ),
    (
        body({"op": "add", "value": {}}, {"op": "Remove"}),
        "noTarget",
        'operation 2: remove needs a "path" naming what to remove',
    ),
    (
        body({"op": "replace", "value": False}),
        "invalidValue",
        'operation 1: without a "path", "value" must be an object of attributes to set',
    ),
    (body({"op": "add", "path": "title"}), "invalidValue", 'operation 1: add needs a "value"'),
    (
        body({"op": "add", "path": 7, "value": 1}),
        "invalidPath",
        'operation 1: "path" must be a string',
    ),
    (
        body({"op": "remove", "path": 'members[value eq "x"'}),
        "invalidPath",
        "operation 1: invalid path 'members[value eq \"x\"': expected ']' at character 21 to close"
        " the '[' at character 8, found 'end of filter'",
    ),
    (
        body({"op": "replace", "value": {"name givenName": "x"}}),
        "invalidPath",
        "operation 1: invalid path 'name givenName': unexpected 'givenName' at character 6:"
        " expected the end of the path",
    ),
    (
        body({"op": "replace", "value": {ENT: {f"{USER}:title": "x"}}}),
        "invalidPath",
        f"operation 1: invalid key '{USER}:title' inside '{ENT}'",
    ),
]


@pytest.mark.parametrize(("raw", "scim_type", "detail"), REFUSED)
def test_parse_patch_refuses(raw: Any, scim_type: str, detail: str) -> None:
    with pytest.raises(PatchError) as caught:
        parse_patch(raw)
    assert (caught.value.scim_type, caught.value.detail) == (scim_type, detail)


def test_a_thousand_operations_are_accepted() -> None:
    assert len(parse_patch(body(*[{"op": "remove", "path": "title"}] * 1000))) == 1000


# ---------------------------------------------------------------------------------------------
# apply_to_document (Users)

ALICE: dict[str, Any] = {
    "schemas": [USER],
    "id": "23a35c27",
    "userName": "alice@example.com",
    "name": {"givenName": "Alice", "familyName": "Smith"},
    "emails": [{"primary": True, "value": "alice@example.com", "type": "work"}],
    "active": True,
    "meta": {"resourceType": "User"},
}


def with_(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(ALICE)
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return doc


APPLIED: list[tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, Any]]] = [
    (
        "Okta deactivate",
        ALICE,
        [{"op": "replace", "value": {"active": False}}],
        with_(active=False),
    ),
    (
        "Entra deactivate",
        ALICE,
        [{"op": "Replace", "path": "active", "value": "False"}],
        with_(active=False),
    ),
    ("reactivate", with_(active=False), [{"op": "replace", "value": {"active": True}}], ALICE),
    (
        "Entra aadOptscim062020 multi-attribute replace",
        ALICE,
        [
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    f"{ENT}:employeeNumber": "Aklq",
                },
            }
        ],
        with_(
            name={"givenName": "Kkom", "familyName": "Unua"},
            displayName="Bjfe",
            **{ENT: {"employeeNumber": "Aklq"}},
        ),
    ),
    (
        "Entra sets the work email when there are no emails: the element is created",
        with_(emails=...),
        [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": "x@y.com"}],
        {**with_(emails=...), "emails": [{"type": "work", "value": "x@y.com"}]},
    ),
    (
        "a filtered sub-attribute replace updates only the matching element",
        with_(emails=[{"type": "home", "value": "h@x"}, {"type": "Work", "value": "old@x"}]),
        [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@x"}],
        with_(emails=[{"type": "home", "value": "h@x"}, {"type": "Work", "value": "new@x"}]),
    ),
    (
        "add appends to a multi-valued attribute and skips exact duplicates",
        ALICE,
        [
            {
                "op": "add",
                "path": "emails",
                "value": [
                    {"primary": True, "value": "alice@example.com", "type": "work"},
                    {"value": "a@home.org", "type": "home"},
                ],
            }
        ],
        with_(
            emails=[
                {"primary": True, "value": "alice@example.com", "type": "work"},
                {"value": "a@home.org", "type": "home"},
            ]
        ),
    ),
    (
        "a new primary element demotes the old one",
        ALICE,
        [
            {
                "op": "add",
                "path": "emails",
                "value": {"value": "n@x", "type": "other", "primary": "true"},
            }
        ],
        with_(
            emails=[
                {"primary": False, "value": "alice@example.com", "type": "work"},
                {"value": "n@x", "type": "other", "primary": True},
            ]
        ),
    ),
    (
        "replace without a filter replaces every value",
        ALICE,
        [{"op": "replace", "path": "emails", "value": [{"value": "z@x", "type": "work"}]}],
        with_(emails=[{"value": "z@x", "type": "work"}]),
    ),
    (
        "remove with a filter removes the matching elements; removing the last unassigns",
        ALICE,
        [{"op": "remove", "path": 'emails[type eq "WORK"]'}],
        with_(emails=...),
    ),
    (
        "remove with a filter matching nothing is a no-op",
        ALICE,
        [{"op": "remove", "path": 'emails[type eq "home"]'}],
        ALICE,
    ),
    (
        "remove with a value list removes only those values",
        with_(emails=[{"value": "a@x"}, {"value": "b@x"}, {"value": "c@x"}]),
        [{"op": "remove", "path": "emails", "value": [{"value": "b@x"}, {"value": "zz"}]}],
        with_(emails=[{"value": "a@x"}, {"value": "c@x"}]),
    ),
    ("remove a whole attribute", ALICE, [{"op": "remove", "path": "name"}], with_(name=...)),
    ("remove an absent attribute is a no-op", ALICE, [{"op": "remove", "path": "title"}], ALICE),
    (
        "a sub-attribute path sets and removes inside a complex attribute",
        ALICE,
        [
            {"op": "add", "path": "name.middleName", "value": "Jane"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "replace", "path": "NAME.FAMILYNAME", "value": "Jones"},
        ],
        with_(name={"familyName": "Jones", "middleName": "Jane"}),
    ),
    (
        "a complex value merges: unnamed sub-attributes stay",
        ALICE,
        [{"op": "replace", "path": "name", "value": {"familyName": "Jones", "formatted": "A J"}}],
        with_(name={"givenName": "Alice", "familyName": "Jones", "formatted": "A J"}),
    ),
    (
        "names are matched case-insensitively and written in canonical casing",
        with_(userName=..., NickName="al"),
        [{"op": "replace", "value": {"USERNAME": "ALICE@example.com", "nickname": "Al"}}],
        {**with_(userName=...), "userName": "ALICE@example.com", "nickName": "Al"},
    ),
    (
        "unknown attributes are kept as sent, reusing an existing key's casing",
        with_(favouriteColour="red"),
        [{"op": "replace", "value": {"FAVOURITECOLOUR": "blue", "shoeSize": 9}}],
        with_(favouriteColour="blue", shoeSize=9),
    ),
    (
        "read-only attributes are ignored, Okta's no-path value includes id",
        ALICE,
        [
            {"op": "replace", "value": {"id": "other", "meta": {}, "groups": [], "title": "CTO"}},
            {"op": "remove", "path": "id"},
        ],
        with_(title="CTO"),
    ),
    (
        "Entra's manager and employeeNumber under the enterprise URN",
        ALICE,
        [
            {"op": "Add", "path": f"{ENT}:manager", "value": "m-1"},
            {"op": "Add", "path": f"{ENT.upper()}:EMPLOYEENUMBER", "value": "7"},
        ],
        with_(**{ENT: {"manager": {"value": "m-1"}, "employeeNumber": "7"}}),
    ),
    (
        "the Heap role in its extension",
        ALICE,
        [{"op": "replace", "path": f"{HEAP}:heapRole", "value": "Analyst"}],
        with_(**{HEAP: {"heapRole": "Analyst"}}),
    ),
    (
        "Okta's top-level heapRole custom attribute",
        ALICE,
        [{"op": "replace", "value": {"heapRole": "Architect"}}],
        with_(heapRole="Architect"),
    ),
    (
        "removing from an absent extension is a no-op",
        ALICE,
        [{"op": "remove", "path": f"{ENT}:department"}],
        ALICE,
    ),
    (
        'Entra roles[primary eq "True"].value matches a boolean primary',
        with_(roles=[{"primary": False, "value": "Analyst"}, {"primary": True, "value": "Admin"}]),
        [{"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "Consumer"}],
        with_(
            roles=[{"primary": False, "value": "Analyst"}, {"primary": True, "value": "Consumer"}]
        ),
    ),
    (
        "a created element takes its fields from every eq term",
        ALICE,
        [
            {
                "op": "add",
                "path": 'roles[type eq "heap" and primary eq "true"].value',
                "value": "Admin",
            }
        ],
        with_(roles=[{"type": "heap", "primary": True, "value": "Admin"}]),
    ),
    (
        "a filtered path without a sub-attribute merges into the matching element",
        ALICE,
        [{"op": "replace", "path": 'emails[type eq "work"]', "value": {"display": "Alice"}}],
        with_(
            emails=[
                {"primary": True, "value": "alice@example.com", "type": "work", "display": "Alice"}
            ]
        ),
    ),
    (
        "replace with null unassigns",
        ALICE,
        [{"op": "replace", "path": "name", "value": None}],
        with_(name=...),
    ),
    ("add with null changes nothing", ALICE, [{"op": "add", "path": "name", "value": None}], ALICE),
    (
        "operations apply in order",
        ALICE,
        [
            {"op": "replace", "path": "title", "value": "A"},
            {"op": "replace", "path": "title", "value": "B"},
            {"op": "remove", "path": "emails"},
        ],
        with_(title="B", emails=...),
    ),
    ("zero operations", ALICE, [], ALICE),
]


@pytest.mark.parametrize(
    ("case", "doc", "operations", "expected"), APPLIED, ids=[c[0] for c in APPLIED]
)
def test_apply_to_document(
    case: str, doc: dict[str, Any], operations: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(doc)
    result = apply_to_document(doc, parse_patch(body(*operations)), schema=USER_DOCUMENT)
    assert result == expected
    assert list(result) == list(expected)  # key order too: the door returns it as is
    assert doc == before  # the input is never mutated


@pytest.mark.parametrize(
    ("operation", "scim_type", "detail"),
    [
        (
            {"op": "replace", "path": 'emails[value co "zz"].type', "value": "work"},
            "noTarget",
            "operation 1: no emails value matches the filter, and it has no 'eq' terms to create"
            " one from",
        ),
        (
            {"op": "add", "path": 'emails[type eq "a" or type eq "b"].value', "value": "v"},
            "noTarget",
            "operation 1: no emails value matches the filter, and it has no 'eq' terms"
            " to create one from",
        ),
        (
            {"op": "replace", "path": 'name[givenName eq "Alice"].givenName', "value": "A"},
            "invalidPath",
            "operation 1: name is single-valued; '[...]' can't apply",
        ),
        (
            {"op": "replace", "path": 'emails[type eq "work"]', "value": "x@y"},
            "invalidValue",
            "operation 1: the value for emails[...] must be an object",
        ),
    ],
)
def test_apply_to_document_refuses(operation: dict[str, Any], scim_type: str, detail: str) -> None:
    with pytest.raises(PatchError) as caught:
        apply_to_document(ALICE, parse_patch(body(operation)), schema=USER_DOCUMENT)
    assert (caught.value.scim_type, caught.value.detail) == (scim_type, detail)


def test_a_caller_schema_decides_casing_multi_valuedness_and_read_only() -> None:
    schema = DocumentSchema(
        core_urn="urn:example:Thing",
        attributes=("colour",),
        multi_valued=("tags",),
        read_only=("serial",),
    )
    ops = parse_patch(
        body(
            {"op": "add", "path": "TAGS", "value": "a"},
            {"op": "add", "path": "tags", "value": ["a", "b"]},
            {"op": "replace", "path": "urn:example:Thing:COLOUR", "value": "red"},
            {"op": "replace", "path": "Serial", "value": "x"},
        )
    )
    assert apply_to_document({"serial": "s1"}, ops, schema=schema) == {
        "serial": "s1",
        "tags": ["a", "b"],
        "colour": "red",
    }


# ---------------------------------------------------------------------------------------------
# group_changes (Groups)

GROUPS: list[tuple[str, list[dict[str, Any]], list[TeamChange]]] = [
    (
        "Okta rename, sent with every push: never touches members",
        [{"op": "replace", "value": {"id": "abf4dd94", "displayName": "Test SCIMv2"}}],
        [Rename("Test SCIMv2")],
    ),
    ("Entra rename", [{"op": "Replace", "path": "displayName", "value": "New"}], [Rename("New")]),
    (
        "Okta membership push",
        [
            {"op": "remove", "path": 'members[value eq "89bb1940"]'},
            {"op": "add", "path": "members", "value": [{"value": "23a35c27", "display": "t@o"}]},
        ],
        [
            RemoveMembers(Members(scim_ids=("89bb1940",))),
            AddMembers(Members(scim_ids=("23a35c27",))),
        ],
    ),
    (
        "Okta full replace",
        [
            {
                "op": "replace",
                "path": "members",
                "value": [{"value": "a", "display": "A"}, {"value": "b", "display": "B"}],
            }
        ],
        [ReplaceMembers(Members(scim_ids=("a", "b")))],
    ),
    (
        "Entra add",
        [{"op": "Add", "path": "members", "value": [{"$ref": None, "value": "f648"}]}],
        [AddMembers(Members(scim_ids=("f648",)))],
    ),
    (
        "Entra default removal form",
        [{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}],
        [RemoveMembers(Members(scim_ids=("u1091",)))],
    ),
    (
        "Entra aadOptscim062020 removal form",
        [{"op": "Remove", "path": 'members[value eq "u1091"]'}],
        [RemoveMembers(Members(scim_ids=("u1091",)))],
    ),
    (
        "several ids joined by or",
        [{"op": "remove", "path": 'members[value eq "a" or VALUE eq "b" or value eq "a"]'}],
        [RemoveMembers(Members(scim_ids=("a", "b")))],
    ),
    (
        "remove members without a value removes all",
        [{"op": "remove", "path": "members"}],
        [RemoveAllMembers()],
    ),
    (
        "an empty removal list removes nothing",
        [{"op": "remove", "path": "members", "value": []}],
        [],
    ),
    (
        "no-path add of members",
        [{"op": "add", "value": {"members": [{"value": "a"}]}}],
        [AddMembers(Members(scim_ids=("a",)))],
    ),
    (
        "no-path replace of members and name",
        [{"op": "replace", "value": {"displayName": "T", "members": [{"value": "a"}]}}],
        [Rename("T"), ReplaceMembers(Members(scim_ids=("a",)))],
    ),
    (
        "replace with an empty list empties the group",
        [{"op": "replace", "path": "members", "value": []}],
        [ReplaceMembers(Members(scim_ids=()))],
    ),
    (
        "ids are deduplicated, value keys matched in any case, extra keys ignored",
        [
            {
                "op": "add",
                "path": "members",
                "value": [
                    {"value": "a", "display": None, "$ref": None},
                    {"VALUE": "a"},
                    {"value": "b", "type": "User"},
                ],
            }
        ],
        [AddMembers(Members(scim_ids=("a", "b")))],
    ),
    (
        "an empty add is no change",
        [{"op": "add", "path": "members", "value": []}],
        [],
    ),
    (
        "externalId",
        [
            {"op": "replace", "path": "externalId", "value": "okta-1"},
            {"op": "remove", "path": "externalId"},
        ],
        [SetExternalId("okta-1"), SetExternalId(None)],
    ),
    (
        "core-URN-qualified names are the group's own",
        [
            {
                "op": "replace",
                "path": "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
                "value": "Q",
            }
        ],
        [Rename("Q")],
    ),
    (
        "meta and schemas are ignored",
        [{"op": "replace", "value": {"schemas": [], "meta": {"resourceType": "Group"}}}],
        [],
    ),
]


@pytest.mark.parametrize(("case", "operations", "expected"), GROUPS, ids=[c[0] for c in GROUPS])
def test_group_changes(
    case: str, operations: list[dict[str, Any]], expected: list[TeamChange]
) -> None:
    assert group_changes(parse_patch(body(*operations))) == expected


@pytest.mark.parametrize(
    ("operation", "scim_type", "detail"),
    [
        (
            {"op": "replace", "path": "description", "value": "x"},
            "invalidPath",
            "operation 1: a group has no attribute description; use displayName, externalId or"
            " members",
        ),
        (
            {"op": "replace", "value": {"urn:okta:custom:group:1.0": {"description": "x"}}},
            "invalidPath",
            "operation 1: a group has no attribute urn:okta:custom:group:1.0:"
            "description; use displayName, externalId or members",
        ),
        (
            {"op": "remove", "path": 'members[display eq "x"]'},
            "invalidPath",
            'operation 1: only remove takes a filter on members, as members[value eq "id"]',
        ),
        (
            {"op": "add", "path": 'members[value eq "x"]', "value": {}},
            "invalidPath",
            'operation 1: only remove takes a filter on members, as members[value eq "id"]',
        ),
        (
            {"op": "remove", "path": 'members[value eq "x"].display'},
            "invalidPath",
            "operation 1: send whole member objects, not sub-attributes",
        ),
        (
            {"op": "remove", "path": "displayName"},
            "invalidValue",
            "operation 1: displayName must be a non-empty string",
        ),
        (
            {"op": "replace", "path": "displayName", "value": "  "},
            "invalidValue",
            "operation 1: displayName must be a non-empty string",
        ),
        (
            {"op": "replace", "path": "externalId", "value": 5},
            "invalidValue",
            "operation 1: externalId must be a string",
        ),
    ],
)
def test_group_changes_refuse(operation: dict[str, Any], scim_type: str, detail: str) -> None:
    with pytest.raises(PatchError) as caught:
        group_changes(parse_patch(body(operation)))
    assert (caught.value.scim_type, caught.value.detail) == (scim_type, detail)


MEMBER_SHAPE = 'must be an object {"value": "<user id>"} naming a user by its SCIM id, not'


@pytest.mark.parametrize(
    ("operation", "detail"),
    [
        (
            {"op": "replace", "path": "members", "value": [{"value": 5}]},
            f'operation 1: members[0] {MEMBER_SHAPE} {{"value": 5}}. Nothing was changed.',
        ),
        (
            {"op": "add", "path": "members", "value": [{"value": "a"}, {"valu": "b"}]},
            f'operation 1: members[1] {MEMBER_SHAPE} {{"valu": "b"}}. Nothing was changed.',
        ),
        (
            {"op": "remove", "path": "members", "value": ["a"]},
            f'operation 1: members[0] {MEMBER_SHAPE} "a". Nothing was changed.',
        ),
        (
            {"op": "add", "path": "members", "value": [{"value": ""}]},
            f'operation 1: members[0] {MEMBER_SHAPE} {{"value": ""}}. Nothing was changed.',
        ),
        (
            {"op": "add", "path": "members", "value": {"value": "a"}},
            'operation 1: members must be a list of {"value": "<user id>"} objects, not'
            ' {"value": "a"}.',
        ),
        (
            {"op": "replace", "path": "members", "value": None},
            'operation 1: members must be a list of {"value": "<user id>"} objects, not null.',
        ),
        (
            {"op": "add", "value": {"members": [{"value": "a"}, None]}},
            f"operation 1: members[1] {MEMBER_SHAPE} null. Nothing was changed.",
        ),
        (
            {"op": "add", "path": "members", "value": [{"value": "x" * 200}, 7]},
            f"operation 1: members[1] {MEMBER_SHAPE} 7. Nothing was changed.",
        ),
    ],
)
def test_member_lists_are_strict(operation: dict[str, Any], detail: str) -> None:
    """A malformed member list is a 400 naming the entry, never a silent no-op or an emptied
    team (a replace read leniently would remove everyone)."""
    with pytest.raises(ScimError) as caught:
        group_changes(parse_patch(body(operation)))
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidValue")
    assert caught.value.detail == detail


def test_a_request_names_at_most_the_member_cap() -> None:
    half = [{"value": f"u{i}"} for i in range(MAX_MEMBERS_PER_REQUEST // 2 + 1)]
    operations = parse_patch(
        body(
            {"op": "add", "path": "members", "value": half},
            {"op": "remove", "path": "members", "value": half},
        )
    )
    with pytest.raises(ScimError) as caught:
        group_changes(operations)
    assert caught.value.detail.startswith(
        f"This request names {MAX_MEMBERS_PER_REQUEST + 2:,} members or more; send at most"
    )
    assert len(group_changes(operations[:1])) == 1


def test_group_patch_applies_to_a_group_document_too() -> None:
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g",
        "displayName": "T",
        "members": [{"value": "a"}, {"value": "b"}],
    }
    ops = parse_patch(
        body(
            {"op": "remove", "path": 'members[value eq "a" or value eq "b"]'},
            {"op": "add", "path": "members", "value": [{"value": "c"}]},
        )
    )
    assert ops[0].path.value_filter == Or(eq("value", "a"), eq("value", "b"))
    assert apply_to_document(group, ops, schema=GROUP_DOCUMENT)["members"] == [{"value": "c"}]


# ---------------------------------------------------------------------------------------------
# Properties: any input gets a PatchError or a result, never another exception

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=20,
)
OPS = st.sampled_from(["add", "Add", "REPLACE", "replace", "remove", "Remove", "delete", None])
PATHS = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "members",
            'members[value eq "a"]',
            'members[value eq "a" or value eq "b"]',
            'members[display co "x"]',
            "displayName",
            "externalId",
            "active",
            "emails",
            'emails[type eq "work"].value',
            'emails[type eq "work"]',
            'emails[value sw "a"].type',
            "name.familyName",
            "name",
            f"{ENT}:manager",
            f"{ENT}:employeeNumber",
            "id",
            "meta",
            'name[givenName eq "x"]',
            'roles[primary eq "True"].value',
            "urn:x:y:z",
            "groups",
        ]
    ),
)
KEYS = st.sampled_from(
    [
        "active",
        "name.givenName",
        "displayName",
        "members",
        "id",
        ENT,
        HEAP,
        f"{ENT}:manager",
        "emails",
        "urn:okta:custom:group:1.0",
        "Name",
    ]
)
OPERATION = st.fixed_dictionaries(
    {"op": OPS},
    optional={
        "path": PATHS,
        "value": st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=4)),
    },
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"Operations": st.lists(OPERATION, max_size=5)},
        optional={"schemas": st.sampled_from([[PATCH_OP], [], "x", None])},
    ),
)


@settings(max_examples=500)
@given(BODIES, JSON)
def test_patch_raises_only_patch_error(raw: Any, doc: Any) -> None:
    document = doc if isinstance(doc, dict) else copy.deepcopy(ALICE)
    before = copy.deepcopy(document)
    try:
        operations = parse_patch(raw)
    except PatchError as exc:
        assert exc.detail
        return
    assert all(isinstance(o, PatchOperation) for o in operations)
    for run in (
        lambda: apply_to_document(document, operations, schema=USER_DOCUMENT),
        lambda: apply_to_document(document, operations, schema=GROUP_DOCUMENT),
        lambda: group_changes(operations),
    ):
        try:
            run()
        except (PatchError, ScimError) as exc:
            assert exc.detail
    assert document == before


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        # add merges into the extension object
        ("add", {"department": "Sales"}, {"department": "Sales", "employeeNumber": "7"}),
        # replace makes it exactly what was sent
        ("Replace", {"department": "Sales"}, {"department": "Sales"}),
    ],
)
def test_a_whole_extension_as_path_is_addressed_as_one_key(
    op: str, value: dict[str, str], expected: dict[str, str]
) -> None:
    document = {"userName": "a@x.com", ENT: {"employeeNumber": "7"}}
    body = {"Operations": [{"op": op, "path": ENT.upper(), "value": value}]}

    result = apply_to_document(document, parse_patch(body), schema=USER_DOCUMENT)

    assert result == {"userName": "a@x.com", ENT: expected}


def test_removing_a_whole_extension_drops_it() -> None:
    document = {"userName": "a@x.com", ENT: {"employeeNumber": "7"}}
    body = {"Operations": [{"op": "remove", "path": ENT}]}

    assert apply_to_document(document, parse_patch(body), schema=USER_DOCUMENT) == {
        "userName": "a@x.com"
    }
