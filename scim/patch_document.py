"""PatchOp operations applied to a resource's JSON representation (RFC 7644 §3.5.2). Pure module.

The Users door PATCHes this way: the current User resource, patched in order on a copy, is saved
with PUT semantics. `DocumentSchema` tells the attributes' casing, which are multi-valued and which
are read-only, so the same code serves any resource type.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from scim.filter_match import lookup, matches
from scim.filters import And, Compare, Filter
from scim.patch import PatchError, PatchOperation, normalise_element

_ELEMENT_SUBS = ("value", "display", "type", "primary", "$ref")  # RFC 7643 §2.4


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
    # The most values a list attribute may hold, checked as each operation applies: a PATCH can't
    # grow a list (and the duplicate checks over it) without bound. None: no limit.
    max_values: int | None = None

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
        # An extension Heap doesn't model (Entra's "CustomExtensionName" attributes) is kept as
        # sent, like any unmodelled attribute, so the IdP reads back what it wrote.
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
    _check_size(op.value, key, op, schema)
    target = _Target(container, key, scope, schema, op, copy.deepcopy(op.value))
    if op.path.value_filter is not None:
        target.filtered(op.path.value_filter)
    elif attr.sub_attr is not None:
        target.sub(attr.sub_attr)
    else:
        target.whole()
    _check_size(container.get(key), key, op, schema)


def _check_size(value: Any, key: str, op: PatchOperation, schema: DocumentSchema) -> None:
    if schema.max_values is not None and isinstance(value, list) and len(value) > schema.max_values:
        raise PatchError(
            f"operation {op.index}: {key} would hold {len(value)} values; a resource keeps at"
            f" most {schema.max_values}",
            "invalidValue",
        )


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
            self.merge(hits[0], normalise_element(fields))
            self.container[self.key] = elements = [*elements, hits[0]]
        for hit in hits:
            if sub is None:
                self.merge(hit, value)
            else:
                self.write(hit, sub, value)
        _one_primary(elements, hits)
