"""RFC 7644 §3.5.2 PatchOp for Users and Groups: parse leniently. Pure module.

`parse_patch` turns any body Okta or Entra sends into one shape: a list of `PatchOperation`, each
with a parsed `path`. A no-path add/replace is split into one operation per key of its `value`, so
`{"op":"replace","value":{"active":false}}` becomes `replace active false`.
Users: `scim.patch_document.apply_to_document` applies the operations to the resource's JSON
representation (the door then saves the result with PUT semantics). Groups:
`scim.group_patch.group_changes` turns them into Heap's team changes, so a PATCH never needs the
member list in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from scim import quirks
from scim.constants import (
    ENTERPRISE_USER_URN,
    GROUP_URN,
    HEAP_USER_URN,
    MAX_PATCH_OPERATIONS,
    PATCH_OP_URN,
    USER_URN,
)
from scim.filter_match import lookup
from scim.filters import AttrPath, FilterError, PathExpr, parse_path

ScimType = Literal["invalidSyntax", "invalidPath", "noTarget", "invalidValue", "mutability"]
Op = Literal["add", "remove", "replace"]
KNOWN_SCHEMA_URNS = (USER_URN, GROUP_URN, ENTERPRISE_USER_URN, HEAP_USER_URN)
# Attributes whose string "True"/"False" become booleans: top-level `active`, and `primary` in the
# elements of any multi-valued attribute (Entra sends both as strings).
BOOLEAN_ATTRIBUTES = ("active",)
BOOLEAN_SUB_ATTRIBUTES = ("primary",)


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
    op = cast(Op | None, quirks.operation(sent_op))
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


def normalise_element(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {
        k: quirks.as_boolean(v) if k.lower() in BOOLEAN_SUB_ATTRIBUTES else v
        for k, v in item.items()
    }


def _normalise(path: PathExpr, value: Any) -> Any:
    attr = path.attr
    leaf = (path.sub_attr or attr.sub_attr or "").lower()
    whole = path.value_filter is None and attr.sub_attr is None
    if (whole and attr.attr_key in BOOLEAN_ATTRIBUTES) or leaf in BOOLEAN_SUB_ATTRIBUTES:
        return quirks.as_boolean(value)
    if whole and attr.attr_key == "manager" and attr.in_schema(ENTERPRISE_USER_URN):
        return quirks.reference(value)
    if isinstance(value, list):
        return [normalise_element(i) for i in value]
    return normalise_element(value) if not leaf else value
