"""SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2, §3.10): parse, compile, match.

Pure module: no Flask, no session, no Heap models. The SCIM doors supply a `resolve` callable that
maps an `AttrPath` to columns, so this module never learns the schema of the database.

AST shape. `emails[type eq "work"]` is `ValuePath(emails, <inner filter>)`: "some element of emails
matches". Entra's `emails[type eq "work"].value eq "x"` is not RFC filter grammar; it is read as the
equivalent `ValuePath(emails, And(type eq "work", value eq "x"))`, i.e. the trailing sub-attribute
comparison joins the inner filter, so callers handle one shape. Chains of `and`/`or` are built as
balanced trees (`a and b and c` is `And(a, And(b, c))`) to keep recursion shallow on long filters.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import Boolean, ColumnElement, and_, false, func, not_, or_, true

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32  # parentheses, `not` and brackets together: bounds recursion everywhere below
OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le"})

Value = str | int | float | bool | None


class FilterError(ValueError):
    """A filter or attribute path the server can't accept; `detail` is meant for an admin."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class AttrPath:
    """`[urn:]attr[.subAttr]` as written; the `*_key` properties give case-insensitive keys."""

    attr: str
    sub_attr: str | None = None
    urn: str | None = None

    @property
    def attr_key(self) -> str:
        return self.attr.lower()

    @property
    def sub_key(self) -> str | None:
        return None if self.sub_attr is None else self.sub_attr.lower()

    @property
    def urn_key(self) -> str | None:
        return None if self.urn is None else self.urn.lower()

    @property
    def key(self) -> str:
        """Lowercase dotted name without the URN: `name.familyname`."""
        return self.attr_key if self.sub_key is None else f"{self.attr_key}.{self.sub_key}"

    def in_schema(self, urn: str) -> bool:
        """True when unqualified or qualified by `urn` (compared case-insensitively)."""
        return self.urn is None or self.urn.lower() == urn.lower()

    def __str__(self) -> str:
        name = self.attr if self.sub_attr is None else f"{self.attr}.{self.sub_attr}"
        return name if self.urn is None else f"{self.urn}:{name}"


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str  # lowercase, one of OPERATORS except "pr"
    value: Value


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    expr: Filter


@dataclass(frozen=True)
class ValuePath:
    """Some element of multi-valued `attr` matches `filter` (whose paths are element-relative)."""

    attr: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PathExpr:
    """A PATCH target: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`."""

    attr: AttrPath
    value_filter: Filter | None = None
    sub_attr: str | None = None  # only after a value filter; `name.familyName` lives in `attr`


# ---------------------------------------------------------------------------------------------
# Parsing


class _Tok(NamedTuple):
    kind: str  # "(", ")", "[", "]", "str", "word" or "end"
    text: str
    pos: int  # 0-based offset; messages say 1-based "character N"
    end: int


_WORD = re.compile(r'[^\s()\[\]"]+')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NAME = r"[A-Za-z$][A-Za-z0-9_$-]*"
_PATH = re.compile(rf"(?:(?P<urn>(?i:urn):.+):)?(?P<attr>{_NAME})(?:\.(?P<sub>{_NAME}))?")
_SUB = re.compile(rf"\.(?P<sub>{_NAME})")


def _at(pos: int) -> str:
    return f"at character {pos + 1}"


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()[]":
            toks.append(_Tok(ch, ch, i, i + 1))
            i += 1
            continue
        m = _STRING.match(text, i) if ch == '"' else _WORD.match(text, i)
        if m is None:
            raise FilterError(f"unterminated string starting {_at(i)}")
        toks.append(_Tok("str" if ch == '"' else "word", m.group(), i, m.end()))
        i = m.end()
    toks.append(_Tok("end", "", len(text), len(text)))
    return toks


def _attr_path(tok: _Tok) -> AttrPath:
    m = _PATH.fullmatch(tok.text) if tok.kind == "word" else None
    if m is None:
        shown = tok.text or "end of filter"
        raise FilterError(f"expected an attribute name {_at(tok.pos)}, found {shown!r}")
    return AttrPath(m["attr"], m["sub"], m["urn"])


def _balanced(cls: type[And] | type[Or], items: list[Filter]) -> Filter:
    if len(items) == 1:
        return items[0]
    mid = len(items) // 2
    return cls(_balanced(cls, items[:mid]), _balanced(cls, items[mid:]))


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise FilterError("the filter must be a string")
        if len(text) > MAX_FILTER_LENGTH:
            raise FilterError(
                f"the filter is {len(text)} characters; the limit is {MAX_FILTER_LENGTH}"
            )
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def close(self, opening: _Tok) -> _Tok:
        tok = self.take()
        kind = ")" if opening.kind == "(" else "]"
        if tok.kind != kind:
            raise FilterError(
                f"expected '{kind}' {_at(tok.pos)} to close the '{opening.kind}' {_at(opening.pos)}"
                f", found {tok.text or 'end of filter'!r}"
            )
        return tok

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels {_at(tok.pos)}")

    def is_word(self, tok: _Tok, *words: str) -> bool:
        return tok.kind == "word" and tok.text.lower() in words

    def accept(self, word: str) -> bool:
        if self.is_word(self.peek(), word):
            self.take()
            return True
        return False

    def disjunction(self, in_brackets: bool) -> Filter:
        # Precedence: grouping, then not, then and, then or (RFC 7644 §3.4.2.2).
        items = [self.conjunction(in_brackets)]
        while self.accept("or"):
            items.append(self.conjunction(in_brackets))
        return _balanced(Or, items)

    def conjunction(self, in_brackets: bool) -> Filter:
        items = [self.unary(in_brackets)]
        while self.accept("and"):
            items.append(self.unary(in_brackets))
        return _balanced(And, items)

    def unary(self, in_brackets: bool) -> Filter:
        tok = self.peek()
        # `not` is an attribute only when an operator follows it (`not eq "x"`); RFC wants
        # `not (...)` but `not userName eq "x"` is unambiguous, so accept it too.
        if self.is_word(tok, "not") and not self.is_word(self.peek(1), *OPERATORS):
            self.take()
            self.enter(tok)
            negated = Not(self.unary(in_brackets))
            self.depth -= 1
            return negated
        if tok.kind == "(":
            self.take()
            self.enter(tok)
            grouped = self.disjunction(in_brackets)
            self.close(tok)
            self.depth -= 1
            return grouped
        path = _attr_path(self.take())
        if self.peek().kind != "[":
            return self.comparison(path)
        inner, sub = self.brackets(path, in_brackets)
        if sub is None:
            return ValuePath(path, inner)
        # Entra sends `emails[type eq "work"].value eq "x"`: fold the comparison into the filter.
        return ValuePath(path, And(inner, self.comparison(AttrPath(sub))))

    def brackets(self, path: AttrPath, in_brackets: bool) -> tuple[Filter, str | None]:
        """`[filter]` after `path`, plus the optional `.subAttr` right after the `]`."""
        tok = self.take()
        if in_brackets:
            raise FilterError(f"value filters can't be nested {_at(tok.pos)}")
        if path.sub_attr is not None:
            raise FilterError(
                f"'[' must follow a multi-valued attribute, not {path} {_at(tok.pos)}"
            )
        self.enter(tok)
        inner = self.disjunction(True)
        close = self.close(tok)
        self.depth -= 1
        tok = self.peek()
        if tok.kind != "word" or tok.pos != close.end or not tok.text.startswith("."):
            return inner, None
        m = _SUB.fullmatch(tok.text)
        if m is None:
            raise FilterError(
                f"expected '.subAttribute' after ']' {_at(tok.pos)}, found {tok.text!r}"
            )
        self.take()
        return inner, m["sub"]

    def comparison(self, path: AttrPath) -> Filter:
        tok = self.take()
        if not self.is_word(tok, *OPERATORS):
            ops = ", ".join(sorted(OPERATORS))
            found = tok.text or "end of filter"
            raise FilterError(
                f"expected an operator ({ops}) after '{path}' {_at(tok.pos)}, found {found!r}"
            )
        op = tok.text.lower()
        if op == "pr":
            return Present(path)
        return Compare(path, op, self.value(op))

    def value(self, op: str) -> Value:
        tok = self.take()
        if tok.kind == "str":
            try:
                decoded = json.loads(tok.text, strict=False)
            except ValueError as exc:
                raise FilterError(f"invalid escape in the string {_at(tok.pos)}") from exc
            assert isinstance(decoded, str)
            return decoded
        if tok.kind != "word":
            raise FilterError(f"expected a value after '{op}' {_at(tok.pos)}")
        word = tok.text.lower()
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        if _NUMBER.fullmatch(tok.text):
            number = float(tok.text) if any(c in word for c in ".e") else int(tok.text)
            if number in (float("inf"), float("-inf")):
                raise FilterError(f"the number {tok.text} is out of range {_at(tok.pos)}")
            return number
        # Entra's documented legacy form `externalId eq jyoung`: one bare word is a string.
        return tok.text

    def finish(self, what: str) -> None:
        tok = self.peek()
        if tok.kind != "end":
            found = tok.text
            raise FilterError(f"unexpected {found!r} {_at(tok.pos)}: expected {what}")


def parse_filter(text: str) -> Filter:
    """Parse a `filter` query parameter; raises only FilterError."""
    parser = _Parser(text)
    if parser.peek().kind == "end":
        raise FilterError("the filter is empty")
    filt = parser.disjunction(False)
    parser.finish("'and', 'or' or the end of the filter")
    return filt


def parse_path(text: str) -> PathExpr:
    """Parse a PATCH `path` (RFC 7644 §3.5.2 PATH); raises only FilterError."""
    parser = _Parser(text)
    path = _attr_path(parser.take())
    if parser.peek().kind != "[":
        parser.finish("the end of the path")
        return PathExpr(path)
    inner, sub = parser.brackets(path, False)
    parser.finish("the end of the path (a path holds no comparison after its filter)")
    return PathExpr(path, inner, sub)


# ---------------------------------------------------------------------------------------------
# Compiling to SQL

Kind = Literal["string", "boolean", "datetime", "integer"]


@dataclass(frozen=True)
class Attribute:
    """A single-valued attribute stored in `column`."""

    column: ColumnElement[Any]
    kind: Kind = "string"
    case_exact: bool = False


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


_LIKE = {"co": "contains", "sw": "startswith", "ew": "endswith"}
_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


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
    if op in _LIKE:
        # LIKE with %, _ and the escape character of the value escaped: `co "50%"` means 50%.
        method = getattr(col, ("i" if fold else "") + _LIKE[op])
        return cast("ColumnElement[bool]", method(bound, autoescape=True))
    if fold:
        return cast("ColumnElement[bool]", _ORDER[op](func.lower(col), func.lower(bound)))
    return cast("ColumnElement[bool]", _ORDER[op](col, bound))


def _coerce(attr: Attribute, cmp: Compare) -> Any:
    value, path = cmp.value, cmp.path
    if attr.kind == "boolean":
        # Entra sends booleans as strings ("True") in PATCH bodies; accept the same in filters.
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise FilterError(f"{path} is boolean: compare it with true or false, not {value!r}")
        return value
    if isinstance(value, bool):
        raise FilterError(f"{path} is {attr.kind}, so it can't be compared with {value}")
    if attr.kind == "integer":
        if not isinstance(value, int | float):
            raise FilterError(f"{path} is a number, so it can't be compared with {value!r}")
        return value
    if attr.kind == "datetime":
        return _datetime(attr, path, value)
    if isinstance(value, int):
        return str(value)  # Entra's unquoted legacy form: `externalId eq 12345`
    if not isinstance(value, str):
        raise FilterError(f"{path} is a string: quote the value {value!r}")
    return value


def _datetime(attr: Attribute, path: AttrPath, value: Value) -> datetime:
    try:
        moment = datetime.fromisoformat(cast(str, value))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise FilterError(
            f"{path} is a date-time: use an ISO 8601 string such as 2024-01-31T12:00:00Z"
        ) from None
    # Naive columns store UTC; comparing them with an aware value would be a driver error.
    return moment if getattr(attr.column.type, "timezone", False) else moment.replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# In-memory matching (PATCH value filters such as `members[value eq "id"]`)


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


def _as_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _match_value(actual: Any, op: str, expected: Value, case_exact: bool) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        # Entra writes `"primary": "false"` and filters `roles[primary eq "True"]`.
        actual, expected = _as_bool(actual), _as_bool(expected)
    if op == "ne":
        return not _match_value(actual, "eq", expected, case_exact)
    if actual is None or expected is None:
        return op == "eq" and actual is expected
    if _kind(actual) != _kind(expected):
        return False  # different types are never equal nor ordered
    if isinstance(actual, str) and isinstance(expected, str):
        if not case_exact:
            actual, expected = actual.casefold(), expected.casefold()
        if op in _LIKE:
            return bool(expected in actual if op == "co" else getattr(actual, _LIKE[op])(expected))
    elif op in _LIKE or (isinstance(actual, bool) and op != "eq"):
        return False
    return bool(_ORDER[op](actual, expected))


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
