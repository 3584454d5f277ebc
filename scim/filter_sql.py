"""SCIM filters compiled to SQLAlchemy conditions (never SQL text) for /Users and /Groups searches.

The doors describe their attributes with `mapping_resolver({"userName": Attribute(column), ...})`,
so this module never learns the database schema; filter values only ever become bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import Boolean, ColumnElement, and_, false, func, not_, or_, true

from scim import quirks
from scim.filters import (
    ORDERING_OPERATORS,
    SUBSTRING_OPERATORS,
    And,
    AttrPath,
    Compare,
    Filter,
    FilterError,
    Not,
    Or,
    Present,
    Value,
    ValuePath,
    parse_filter,
)

Kind = Literal["string", "boolean", "datetime", "integer"]


@dataclass(frozen=True)
class Attribute:
    """A single-valued attribute stored in `column`."""

    column: ColumnElement[Any]
    kind: Kind = "string"
    case_exact: bool = False
    # A string value passes through this before it is compared: stored values that were
    # normalised on the way in (team names) are then found by what the client sent.
    normalise: Callable[[str], str] | None = None


@dataclass(frozen=True)
class MultiValued:
    """A multi-valued complex attribute stored as child rows (emails, members).

    `resolve` maps an element-relative path (`AttrPath("type")`) to a child column; `exists` wraps a
    predicate on child columns into a correlated `EXISTS (SELECT 1 FROM child WHERE fk = parent.id
    AND predicate)`. A bare `emails.value eq ...` compares `default_sub_attr` when no sub is given.
    """

    resolve: Resolver
    exists: Callable[[ColumnElement[bool]], ColumnElement[bool]]
    default_sub_attr: str = "value"


Resolved = Attribute | MultiValued
Resolver = Callable[[AttrPath], Resolved]


def mapping_resolver(
    table: Mapping[str, Resolved], *, default_urns: Collection[str] = ()
) -> Resolver:
    """Build a `resolve` from `{"userName": Attribute(...), "emails": MultiValued(...), ...}`.

    Keys are attribute names (`name.familyName`), URN-qualified names for extensions
    (`urn:...:enterprise:2.0:User:employeeNumber`), matched case-insensitively. Paths qualified with
    one of `default_urns` (the core schema) are looked up unqualified. A MultiValued entry answers
    for its sub-attributes too (`emails.value`).
    """
    lowered = {k.lower(): v for k, v in table.items()}
    urns = {u.lower() for u in default_urns}

    def resolve(path: AttrPath) -> Resolved:
        prefix = "" if path.urn_key is None or path.urn_key in urns else f"{path.urn_key}:"
        exact = lowered.get(prefix + path.key)
        if exact is not None:
            return exact
        parent = lowered.get(prefix + path.attr_key)
        if isinstance(parent, MultiValued):
            return parent
        known = ", ".join(sorted(table))
        raise FilterError(f"filtering on {path} is not supported; supported attributes: {known}")

    return resolve


def condition(text: str | None, resolve: Resolver) -> ColumnElement[bool] | None:
    """The `filter` query parameter as a WHERE condition (None: no filter); raises FilterError."""
    if text is None or not text.strip():
        return None
    return compile_filter(parse_filter(text), resolve)


def compile_filter(filt: Filter, resolve: Resolver) -> ColumnElement[bool]:
    """Compile to a SQLAlchemy boolean expression; values only ever become bound parameters."""
    if isinstance(filt, And):
        return and_(compile_filter(filt.left, resolve), compile_filter(filt.right, resolve))
    if isinstance(filt, Or):
        return or_(compile_filter(filt.left, resolve), compile_filter(filt.right, resolve))
    if isinstance(filt, Not):
        return _negate(compile_filter(filt.expr, resolve))
    if isinstance(filt, ValuePath):
        target = resolve(filt.attr)
        if not isinstance(target, MultiValued):
            raise FilterError(f"{filt.attr} is not multi-valued, so it takes no '[...]' filter")
        return target.exists(compile_filter(filt.filter, target.resolve))
    target = resolve(filt.path)
    if isinstance(target, MultiValued):
        # `emails.value eq "x"` / `members pr`: true when any element satisfies it.
        if isinstance(filt, Present) and filt.path.sub_attr is None:
            return target.exists(true())
        sub = AttrPath(filt.path.sub_attr or target.default_sub_attr)
        inner = Present(sub) if isinstance(filt, Present) else Compare(sub, filt.op, filt.value)
        return target.exists(compile_filter(inner, target.resolve))
    if isinstance(filt, Present):
        present = target.column.is_not(None)
        return and_(present, target.column != "") if target.kind == "string" else present
    return _compare(target, filt)


def _negate(expr: ColumnElement[bool]) -> ColumnElement[bool]:
    # NOT(NULL) is NULL: without COALESCE, `not (title eq "x")` would miss users with no title.
    return not_(func.coalesce(expr, false(), type_=Boolean))


def _compare(attr: Attribute, cmp: Compare) -> ColumnElement[bool]:
    col, op, value = attr.column, cmp.op, cmp.value
    if value is None:
        if op in ("eq", "ne"):
            return col.is_(None) if op == "eq" else col.is_not(None)
        raise FilterError(f"'{op} null' is not meaningful for {cmp.path}; use 'pr' or 'eq null'")
    if op == "ne":
        return _negate(_compare(attr, Compare(cmp.path, "eq", value)))
    if op in ("co", "sw", "ew") and attr.kind != "string":
        raise FilterError(f"'{op}' only applies to string attributes; {cmp.path} is {attr.kind}")
    bound = _coerce(attr, cmp)
    if attr.kind == "boolean" and op != "eq":
        raise FilterError(f"{cmp.path} is boolean: only eq, ne and pr apply")
    fold = attr.kind == "string" and not attr.case_exact
    if op in SUBSTRING_OPERATORS:
        # LIKE with %, _ and the escape character of the value escaped: `co "50%"` means 50%.
        method = getattr(col, ("i" if fold else "") + SUBSTRING_OPERATORS[op])
        return cast("ColumnElement[bool]", method(bound, autoescape=True))
    if fold:
        return cast(
            "ColumnElement[bool]", ORDERING_OPERATORS[op](func.lower(col), func.lower(bound))
        )
    return cast("ColumnElement[bool]", ORDERING_OPERATORS[op](col, bound))


def _coerce(attr: Attribute, cmp: Compare) -> Any:
    value, path = cmp.value, cmp.path
    if attr.kind == "boolean":
        found = quirks.boolean(value)
        if found is None:
            raise FilterError(f"{path} is boolean: compare it with true or false, not {value!r}")
        return found
    if isinstance(value, bool):
        raise FilterError(f"{path} is {attr.kind}, so it can't be compared with {value}")
    if attr.kind == "integer":
        if not isinstance(value, int | float):
            raise FilterError(f"{path} is a number, so it can't be compared with {value!r}")
        return value
    if attr.kind == "datetime":
        return _datetime(attr, path, value)
    if isinstance(value, int):
        value = str(value)  # Entra's unquoted legacy form: `externalId eq 12345`
    if not isinstance(value, str):
        raise FilterError(f"{path} is a string: quote the value {value!r}")
    return value if attr.normalise is None else attr.normalise(value)


def _datetime(attr: Attribute, path: AttrPath, value: Value) -> datetime:
    refusal = FilterError(
        f"{path} is a date-time: use an ISO 8601 string such as 2024-01-31T12:00:00Z"
    )
    # A number or null is the client's mistake, said before parsing: a TypeError caught below
    # would hide our own bugs in a 400.
    if not isinstance(value, str):
        raise refusal
    try:
        moment = datetime.fromisoformat(value)
        # astimezone overflows for the first and last hours of the calendar (year 1, year 9999).
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise refusal from None
    # Naive columns store UTC; comparing them with an aware value would be a driver error.
    return moment if getattr(attr.column.type, "timezone", False) else moment.replace(tzinfo=None)
