"""RFC 7644 §3.5.2 PatchOp for Users and Groups: parse leniently, apply strictly. Pure module.

`parse_patch` turns any body Okta or Entra sends into one shape: a list of `PatchOperation`, each
with a parsed `path`. A no-path add/replace is split into one operation per key of its `value`, so
`{"op":"replace","value":{"active":false}}` becomes `replace active false`.
Users: `apply_to_document` applies the operations to the resource's JSON representation (the door
then saves the result with PUT semantics). Groups: `group_commands` turns them into membership
commands, so a PATCH never needs the member list in memory.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from scim.constants import (
    ENTERPRISE_USER_URN,
    GROUP_URN,
    HEAP_USER_URN,
    MAX_PATCH_OPERATIONS,
    PATCH_OP_URN,
    USER_URN,
)
from scim.filters import (
    And,
    AttrPath,
    Compare,
    Filter,
    FilterError,
    Or,
    PathExpr,
    lookup,
    matches,
    parse_path,
)

ScimType = Literal["invalidSyntax", "invalidPath", "noTarget", "invalidValue", "mutability"]
Op = Literal["add", "remove", "replace"]
_OPS: dict[str, Op] = {"add": "add", "remove": "remove", "replace": "replace"}
KNOWN_SCHEMA_URNS = (USER_URN, GROUP_URN, ENTERPRISE_USER_URN, HEAP_USER_URN)
# Attributes whose string "True"/"False" become booleans: top-level `active`, and `primary` in the
# elements of any multi-valued attribute (Entra sends both as strings).
BOOLEAN_ATTRIBUTES = ("active",)
BOOLEAN_SUB_ATTRIBUTES = ("primary",)
_ELEMENT_SUBS = ("value", "display", "type", "primary", "$ref")  # RFC 7643 §2.4


class PatchError(ValueError):
    """A PATCH the server refuses; becomes a 400 with `scimType`."""

    def __init__(self, detail: str, scim_type: ScimType) -> None:
        super().__init__(detail)
        self.detail = detail
        self.scim_type: ScimType = scim_type


@dataclass(frozen=True)
class PatchOperation:
    op: Op
    path: PathExpr
    value: Any = None  # JSON null and "no value" are the same: nothing (RFC 7643 §2.5)
    index: int = 1  # 1-based position in "Operations", for error details


@dataclass(frozen=True)
class DocumentSchema:
    """What `apply_to_document` needs to know about a resource type.

    Names are canonical (`name.givenName`); sub-attributes are dotted. Matching is case-insensitive,
    writes use the canonical casing; attributes not listed are kept with the casing sent.
    """

    core_urn: str
    attributes: Collection[str] = ()
    multi_valued: Collection[str] = ()
    extensions: Mapping[str, Collection[str]] = field(default_factory=dict)  # URN -> names
    read_only: Collection[str] = ("id", "meta", "schemas")  # core names, ignored silently

    @cached_property
    def _names(self) -> dict[tuple[str, str], str]:
        scopes = [("", [*self.attributes, *self.multi_valued])]
        scopes += [(urn.lower(), list(names)) for urn, names in self.extensions.items()]
        return {(s, n.lower()): n.rsplit(".", 1)[-1] for s, names in scopes for n in names}

    def canonical_urn(self, urn: str) -> str | None:
        return next((u for u in self.extensions if u.lower() == urn.lower()), None)

    def canonical(self, scope: str | None, name: str, parent: str | None = None) -> str | None:
        dotted = name if parent is None else f"{parent}.{name}"
        found = self._names.get(((scope or "").lower(), dotted.lower()))
        if found is None and parent is not None and self.is_multi_valued(scope, parent):
            found = next((s for s in _ELEMENT_SUBS if s == name.lower()), None)
        return found

    def is_multi_valued(self, scope: str | None, name: str) -> bool:
        return scope is None and name.lower() in {n.lower() for n in self.multi_valued}

    def is_single_valued(self, scope: str | None, name: str) -> bool:
        return not self.is_multi_valued(scope, name) and self.canonical(scope, name) is not None


# fmt: off
USER_SCHEMA = DocumentSchema(
    core_urn=USER_URN,
    attributes=(
        "userName", "externalId", "displayName", "nickName", "profileUrl", "title", "userType",
        "preferredLanguage", "locale", "timezone", "active", "password", "heapRole", "name",
        "name.formatted", "name.familyName", "name.givenName", "name.middleName",
        "name.honorificPrefix", "name.honorificSuffix", "addresses.streetAddress",
        "addresses.postalCode", "addresses.formatted", "addresses.locality", "addresses.region",
        "addresses.country",
    ),
    multi_valued=(
        "emails", "phoneNumbers", "ims", "photos", "addresses", "groups", "entitlements", "roles",
        "x509Certificates",
    ),
    extensions={
        ENTERPRISE_USER_URN: (
            "employeeNumber", "costCenter", "organization", "division", "department", "manager",
            "manager.value", "manager.displayName", "manager.$ref",
        ),
        HEAP_USER_URN: ("heapRole",),
    },
    read_only=("id", "meta", "schemas", "groups"),  # `groups` is readOnly (RFC 7643 §4.1.2)
)
# fmt: on
GROUP_SCHEMA = DocumentSchema(
    core_urn=GROUP_URN, attributes=("displayName", "externalId"), multi_valued=("members",)
)


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_patch(
    body: Any, *, schema_urns: Collection[str] = KNOWN_SCHEMA_URNS
) -> list[PatchOperation]:
    """Validate a PatchOp body and normalise it; raises only PatchError.

    `schema_urns` tells a no-path key that is a whole extension object (`"urn:...:2.0:User": {...}`)
    from a URN-qualified attribute (`"urn:...:2.0:User:employeeNumber": "7"`).
    """
    if not isinstance(body, Mapping):
        raise PatchError('the body must be a JSON object with "Operations"', "invalidSyntax")
    schemas = lookup(body, "schemas")
    if schemas is not None:
        listed = [schemas] if isinstance(schemas, str) else schemas
        ok = isinstance(listed, list) and any(
            isinstance(s, str) and s.lower() == PATCH_OP_URN.lower() for s in listed
        )
        if not ok:
            raise PatchError(f'"schemas" must be ["{PATCH_OP_URN}"]', "invalidSyntax")
    operations = lookup(body, "Operations")
    if not isinstance(operations, list):
        raise PatchError('"Operations" must be a list of operations', "invalidSyntax")
    if len(operations) > MAX_PATCH_OPERATIONS:
        raise PatchError(
            f"too many operations ({len(operations)}); send at most {MAX_PATCH_OPERATIONS}"
            " per request",
            "invalidSyntax",
        )
    urns = {u.lower() for u in schema_urns}
    # Entra's validator sends an empty list: a no-op, not an error.
    return [o for i, raw in enumerate(operations, 1) for o in _parse_operation(raw, i, urns)]


def _parse_operation(raw: Any, index: int, urns: set[str]) -> list[PatchOperation]:
    where = f"operation {index}"
    if not isinstance(raw, Mapping):
        raise PatchError(f'{where} must be an object with "op"', "invalidSyntax")
    sent_op = lookup(raw, "op")
    op = _OPS.get(sent_op.lower()) if isinstance(sent_op, str) else None  # Entra: "Add", "Replace"
    if op is None:
        raise PatchError(
            f'{where}: "op" must be add, remove or replace, not {sent_op!r}', "invalidSyntax"
        )
    path_text = lookup(raw, "path")
    value = lookup(raw, "value")
    if path_text is not None and not isinstance(path_text, str):
        raise PatchError(f'{where}: "path" must be a string', "invalidPath")
    if path_text is None or not path_text.strip():
        if op == "remove":
            raise PatchError(f'{where}: remove needs a "path" naming what to remove', "noTarget")
        if not isinstance(value, Mapping):
            raise PatchError(
                f'{where}: without a "path", "value" must be an object of attributes to set',
                "invalidValue",
            )
        # Okta: {"active": false}; Entra (aadOptscim062020): dotted and URN-qualified keys.
        return [
            PatchOperation(op, path, _normalise(path, v), index)
            for path, v in _expand(value, where, urns)
        ]
    if path_text.strip().lower() in urns:
        return _whole_extension(op, path_text.strip(), value, index, where, urns)
    path = _path(path_text, where)
    if op != "remove" and not any(isinstance(k, str) and k.lower() == "value" for k in raw):
        raise PatchError(f'{where}: {op} needs a "value"', "invalidValue")
    return [PatchOperation(op, path, _normalise(path, value), index)]


def _whole_extension(
    op: Op, urn: str, value: Any, index: int, where: str, urns: set[str]
) -> list[PatchOperation]:
    """A path that names a whole extension (RFC 7644 §3.5.2.1; generic clients such as
    scim2-tester send it): ``parse_path`` alone would read ``urn:...:2.0:User`` as attribute
    ``User`` of ``urn:...:2.0``. The extension is a key of the document, so it is addressed as one.
    """
    whole = PathExpr(AttrPath(urn))
    if op == "remove":
        return [PatchOperation("remove", whole, None, index)]
    if not isinstance(value, Mapping):
        raise PatchError(f"{where}: the value of {urn} must be an object", "invalidValue")
    expanded = [
        PatchOperation("add", path, _normalise(path, v), index)
        for path, v in _expand({urn: value}, where, urns)
    ]
    # replace: the extension becomes exactly what was sent; add merges into it.
    return ([PatchOperation("remove", whole, None, index)] if op == "replace" else []) + expanded


def _path(text: str, where: str) -> PathExpr:
    try:
        return parse_path(text)
    except FilterError as exc:
        raise PatchError(f"{where}: invalid path {text!r}: {exc.detail}", "invalidPath") from None


def _expand(value: Mapping[str, Any], where: str, urns: set[str]) -> list[tuple[PathExpr, Any]]:
    out: list[tuple[PathExpr, Any]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise PatchError(f"{where}: attribute names must be strings", "invalidPath")
        if not _is_extension_object(key, item, urns):
            out.append((_path(key, where), item))
            continue
        # {"urn:...:enterprise:2.0:User": {"department": "x"}}: each key names an attribute in it.
        for inner_key, inner in item.items():
            inner_path = _path(inner_key, where)
            if inner_path.attr.urn is not None or inner_path.value_filter is not None:
                raise PatchError(
                    f"{where}: invalid key {inner_key!r} inside {key!r}", "invalidPath"
                )
            attr = inner_path.attr
            out.append((PathExpr(AttrPath(attr.attr, attr.sub_attr, key)), inner))
    return out


def _is_extension_object(key: str, item: Any, urns: set[str]) -> bool:
    if not key.lower().startswith("urn:") or not isinstance(item, Mapping):
        return False
    if key.lower() in urns:
        return True
    try:
        return parse_path(key).attr.urn_key not in urns  # `urn:...:User:manager` is a path
    except FilterError:
        return True  # e.g. Okta's SCIM 1.1 "urn:okta:custom:group:1.0": {...}


def _as_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _normalise_element(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {k: _as_bool(v) if k.lower() in BOOLEAN_SUB_ATTRIBUTES else v for k, v in item.items()}


def _normalise(path: PathExpr, value: Any) -> Any:
    attr = path.attr
    leaf = (path.sub_attr or attr.sub_attr or "").lower()
    whole = path.value_filter is None and attr.sub_attr is None
    if (whole and attr.attr_key in BOOLEAN_ATTRIBUTES) or leaf in BOOLEAN_SUB_ATTRIBUTES:
        return _as_bool(value)  # Entra: {"op":"Replace","path":"active","value":"False"}
    if whole and attr.attr_key == "manager" and attr.in_schema(ENTERPRISE_USER_URN):
        # Entra sends the enterprise manager as a bare id; RFC 7643 §4.3 makes it {"value": id}.
        return {"value": value} if isinstance(value, str) else value
    if isinstance(value, list):
        return [_normalise_element(i) for i in value]
    return _normalise_element(value) if not leaf else value


# ---------------------------------------------------------------------------------------------
# Applying to a resource representation (Users)


def apply_to_document(
    document: Mapping[str, Any], operations: list[PatchOperation], *, schema: DocumentSchema
) -> dict[str, Any]:
    """Apply `operations` in order to a copy of `document`; the input is never mutated."""
    doc: dict[str, Any] = copy.deepcopy(dict(document))
    for operation in operations:
        _apply(doc, operation, schema)
    return doc


def _key(obj: dict[str, Any], sent: str, canonical: str | None) -> str:
    """The key to write: the schema's casing if known, else an existing key's, else as sent."""
    existing = next((k for k in obj if k.lower() == sent.lower()), None)
    if canonical is None:
        return existing or sent
    if existing is not None and existing != canonical:
        obj[canonical] = obj.pop(existing)
    return canonical


def _set(obj: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == []:
        obj.pop(key, None)  # null and [] mean unassigned (RFC 7643 §2.5)
    else:
        obj[key] = value


def _apply(doc: dict[str, Any], op: PatchOperation, schema: DocumentSchema) -> None:
    attr = op.path.attr
    scope: str | None = None
    container = doc
    if attr.urn is not None and attr.urn_key != schema.core_urn.lower():
        # Extension attributes live under their URN: doc["urn:...:enterprise:2.0:User"][attr].
        scope = schema.canonical_urn(attr.urn) or attr.urn
        urn_key = _key(doc, attr.urn, scope)
        if not isinstance(doc.get(urn_key), dict):
            if op.op == "remove":
                return
            doc[urn_key] = {}
        container = doc[urn_key]
    key = _key(container, attr.attr, schema.canonical(scope, attr.attr))
    if scope is None and key.lower() in {n.lower() for n in schema.read_only}:
        return  # Okta's no-path values carry `id`; read-only attributes are ignored
    target = _Target(container, key, scope, schema, op, copy.deepcopy(op.value))
    if op.path.value_filter is not None:
        target.filtered(op.path.value_filter)
    elif attr.sub_attr is not None:
        target.sub(attr.sub_attr)
    else:
        target.whole()


def _same(element: Any, other: Any) -> bool:
    if isinstance(element, Mapping) and isinstance(other, Mapping):
        mine, theirs = lookup(element, "value"), lookup(other, "value")
        if mine is not None and theirs is not None:
            return bool(mine == theirs)
    return bool(element == other)


def _one_primary(elements: list[Any], winners: list[Any]) -> None:
    # RFC 7643 §2.4: at most one element may be primary; the one just written wins.
    if any(isinstance(w, Mapping) and lookup(w, "primary") is True for w in winners):
        for e in elements:
            if isinstance(e, dict) and all(e is not w for w in winners) and e.get("primary"):
                e["primary"] = False


def _eq_fields(filt: Filter) -> dict[str, Any] | None:
    """`type eq "work" and primary eq true` -> {"type": "work", "primary": True}; else None."""
    if isinstance(filt, Compare) and filt.op == "eq" and filt.path.sub_attr is None:
        return {filt.path.attr: filt.value}
    if isinstance(filt, And):
        left, right = _eq_fields(filt.left), _eq_fields(filt.right)
        return None if left is None or right is None else {**left, **right}
    return None


@dataclass
class _Target:
    """One operation's target attribute `container[key]`, in schema `scope` (None: core)."""

    container: dict[str, Any]
    key: str
    scope: str | None
    schema: DocumentSchema
    op: PatchOperation
    value: Any  # a private copy of op.value

    def write(self, obj: dict[str, Any], sub: str, value: Any) -> None:
        sub_key = _key(obj, sub, self.schema.canonical(self.scope, sub, self.key))
        _set(obj, sub_key, None if self.op.op == "remove" else value)

    def merge(self, obj: dict[str, Any], value: Mapping[str, Any]) -> None:
        for sub, item in value.items():  # sub-attributes not named stay (RFC 7644 §3.5.2.3)
            self.write(obj, sub, item)

    def whole(self) -> None:
        current, value = self.container.get(self.key), self.value
        multi = self.schema.is_multi_valued(self.scope, self.key)
        if self.op.op == "remove":
            if multi and isinstance(value, list) and isinstance(current, list):
                # Entra: {"op":"Remove","path":"members","value":[{"value":"u1"}]} removes u1 only.
                rest = [e for e in current if not any(_same(e, v) for v in value)]
                _set(self.container, self.key, rest)
            else:
                self.container.pop(self.key, None)
        elif multi and value is not None:
            kept = current if self.op.op == "add" and isinstance(current, list) else []
            new: list[Any] = []
            for item in value if isinstance(value, list) else [value]:
                if item not in kept and item not in new:  # add skips exact duplicates
                    new.append(item)
            _one_primary(kept, new)
            _set(self.container, self.key, kept + new)
        elif isinstance(value, Mapping) and isinstance(current, dict):
            self.merge(current, value)  # a complex attribute such as `name`
        elif value is not None or self.op.op == "replace":
            _set(self.container, self.key, value)

    def sub(self, sub: str) -> None:
        current, removing = self.container.get(self.key), self.op.op == "remove"
        if self.schema.is_multi_valued(self.scope, self.key):
            # `emails.type` without a filter targets every element.
            elements = (
                [e for e in current if isinstance(e, dict)] if isinstance(current, list) else []
            )
            if not elements and not removing and self.value is not None:
                self.container[self.key] = elements = [{}]
            for element in elements:
                self.write(element, sub, self.value)
            return
        if not isinstance(current, dict):
            if removing:
                return
            self.container[self.key] = current = {}
        self.write(current, sub, self.value)
        if not current:
            self.container.pop(self.key)

    def filtered(self, filt: Filter) -> None:
        where, sub, value = f"operation {self.op.index}", self.op.path.sub_attr, self.value
        if self.schema.is_single_valued(self.scope, self.key):
            raise PatchError(
                f"{where}: {self.key} is single-valued; '[...]' can't apply", "invalidPath"
            )
        current = self.container.get(self.key)
        elements: list[Any] = current if isinstance(current, list) else []
        hits = [e for e in elements if isinstance(e, dict) and matches(filt, e)]
        if self.op.op == "remove":
            if sub is None:
                rest = [e for e in elements if all(e is not h for h in hits)]
                _set(self.container, self.key, rest)
            else:
                for hit in hits:
                    self.write(hit, sub, None)
            return
        if sub is None and not isinstance(value, Mapping):
            raise PatchError(
                f"{where}: the value for {self.key}[...] must be an object", "invalidValue"
            )
        if not hits:
            fields = _eq_fields(filt)
            if fields is None:
                raise PatchError(
                    f"{where}: no {self.key} value matches the filter, and it has no 'eq' terms to"
                    " create one from",
                    "noTarget",
                )
            if value is None:
                return
            # Entra replaces emails[type eq "work"].value even when there are no emails: create it.
            hits = [{}]
            self.merge(hits[0], _normalise_element(fields))
            self.container[self.key] = elements = [*elements, hits[0]]
        for hit in hits:
            if sub is None:
                self.merge(hit, value)
            else:
                self.write(hit, sub, value)
        _one_primary(elements, hits)


# ---------------------------------------------------------------------------------------------
# Groups: commands, never a member list


@dataclass(frozen=True)
class Rename:
    display_name: str


@dataclass(frozen=True)
class AddMembers:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class RemoveMembers:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class RemoveAllMembers:
    pass


@dataclass(frozen=True)
class ReplaceMembers:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class SetExternalId:
    value: str | None


GroupCommand = (
    Rename | AddMembers | RemoveMembers | RemoveAllMembers | ReplaceMembers | SetExternalId
)


def _member_ids(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    ids = (lookup(i, "value") if isinstance(i, Mapping) else i for i in items)
    return tuple(dict.fromkeys(i for i in ids if isinstance(i, str) and i))  # ordered, unique


def _filter_ids(filt: Filter) -> list[str] | None:
    """`value eq "a" or value eq "b"` -> ["a", "b"]; anything else -> None."""
    if isinstance(filt, Or):
        left, right = _filter_ids(filt.left), _filter_ids(filt.right)
        return None if left is None or right is None else left + right
    if (
        isinstance(filt, Compare)
        and filt.op == "eq"
        and filt.path.key == "value"
        and isinstance(filt.value, str)
    ):
        return [filt.value]
    return None


def group_commands(operations: list[PatchOperation]) -> list[GroupCommand]:
    """Translate a Groups PATCH; raises PatchError for paths a group doesn't have."""
    commands: list[GroupCommand] = []
    for op in operations:
        path, where = op.path, f"operation {op.index}"
        attr = path.attr
        name = attr.attr_key if attr.in_schema(GROUP_URN) else ""
        if name in GROUP_SCHEMA.read_only:
            continue  # Okta's rename value carries the group's `id`
        simple = path.value_filter is None and attr.sub_attr is None
        if name == "displayname" and simple:
            if op.op == "remove" or not isinstance(op.value, str) or not op.value.strip():
                raise PatchError(f"{where}: displayName must be a non-empty string", "invalidValue")
            commands.append(Rename(op.value))  # Okta: no-path {"id","displayName"}; Entra: path
        elif name == "externalid" and simple:
            if op.value is not None and not isinstance(op.value, str):
                raise PatchError(f"{where}: externalId must be a string", "invalidValue")
            commands.append(SetExternalId(None if op.op == "remove" else op.value))
        elif name == "members" and (attr.sub_attr or path.sub_attr):
            raise PatchError(
                f"{where}: send whole member objects, not sub-attributes", "invalidPath"
            )
        elif name == "members":
            commands.extend(_member_command(op, where))
        else:
            raise PatchError(
                f"{where}: a group has no attribute {attr}; use displayName, externalId or members",
                "invalidPath",
            )
    return commands


def _member_command(op: PatchOperation, where: str) -> list[GroupCommand]:
    if op.path.value_filter is not None:
        ids = _filter_ids(op.path.value_filter)
        if op.op != "remove" or ids is None:
            raise PatchError(
                f'{where}: only remove takes a filter on members, as members[value eq "id"]',
                "invalidPath",
            )
        return [RemoveMembers(tuple(dict.fromkeys(ids)))]  # Okta, Entra with aadOptscim062020
    members = _member_ids(op.value)
    if op.op == "replace":
        return [ReplaceMembers(members)]
    if op.op == "add":
        return [AddMembers(members)] if members else []
    if op.value is None:
        return [RemoveAllMembers()]
    # Entra's default: {"op":"Remove","path":"members","value":[{"value":"u1"}]} removes only u1.
    return [RemoveMembers(members)] if members else []
