"""SCIM filters evaluated against JSON documents: PATCH value filters such as
`members[value eq "id"]` and `emails[type eq "work"]`, and case-insensitive attribute lookup."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from scim import quirks
from scim.filters import (
    ORDERING_OPERATORS,
    SUBSTRING_OPERATORS,
    And,
    AttrPath,
    Filter,
    Not,
    Or,
    Present,
    Value,
    ValuePath,
)


def lookup(obj: Mapping[str, Any], name: str) -> Any:
    """`obj[name]` with the key matched case-insensitively (SCIM names are); None if absent."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    return next((v for k, v in obj.items() if isinstance(k, str) and k.lower() == lowered), None)


def _candidates(element: Mapping[str, Any], path: AttrPath) -> list[Any]:
    scope = element
    if path.urn is not None and isinstance(ext := lookup(element, path.urn), Mapping):
        scope = ext
    found = lookup(scope, path.attr)
    items = found if isinstance(found, list) else [found]
    sub = path.sub_attr
    if sub is None:  # a complex multi-valued attribute compares its "value" (RFC 7643 §2.4)
        out = [lookup(i, "value") if isinstance(i, Mapping) else i for i in items]
    else:
        out = [lookup(i, sub) for i in items if isinstance(i, Mapping)]
    return out or [None]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _match_value(actual: Any, op: str, expected: Value, case_exact: bool) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        # Entra writes `"primary": "false"` and filters `roles[primary eq "True"]`.
        actual, expected = quirks.as_boolean(actual), quirks.as_boolean(expected)
    if op == "ne":
        return not _match_value(actual, "eq", expected, case_exact)
    if actual is None or expected is None:
        return op == "eq" and actual is expected
    if _kind(actual) != _kind(expected):
        return False  # different types are never equal nor ordered
    if isinstance(actual, str) and isinstance(expected, str):
        if not case_exact:
            actual, expected = actual.casefold(), expected.casefold()
        if op == "co":
            return expected in actual
        if op in SUBSTRING_OPERATORS:
            return bool(getattr(actual, SUBSTRING_OPERATORS[op])(expected))
    elif op in SUBSTRING_OPERATORS or (isinstance(actual, bool) and op != "eq"):
        return False
    return bool(ORDERING_OPERATORS[op](actual, expected))


def matches(filt: Filter, element: Mapping[str, Any], *, case_exact: Collection[str] = ()) -> bool:
    """Evaluate `filt` against a JSON-like dict; keys match case-insensitively.

    String values compare case-insensitively unless the attribute's lowercase name is in
    `case_exact`. A multi-valued attribute matches when any of its values does.
    """
    exact = {k.lower() for k in case_exact}

    def test(f: Filter, obj: Mapping[str, Any] = element) -> bool:
        return matches(f, obj, case_exact=exact)

    if isinstance(filt, And):
        return test(filt.left) and test(filt.right)
    if isinstance(filt, Or):
        return test(filt.left) or test(filt.right)
    if isinstance(filt, Not):
        return not test(filt.expr)
    if isinstance(filt, ValuePath):
        items = lookup(element, filt.attr.attr)
        items = items if isinstance(items, list) else []
        return any(test(filt.filter, i) for i in items if isinstance(i, Mapping))
    values = _candidates(element, filt.path)
    if isinstance(filt, Present):
        return any(v not in (None, "", [], {}) for v in values)
    is_exact = filt.path.key in exact or filt.path.attr_key in exact
    return any(_match_value(v, filt.op, filt.value, is_exact) for v in values)
