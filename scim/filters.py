"""SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): the grammar, its AST and parser.

Pure module: no Flask, no SQL, no Heap models. Two evaluators sit beside it: `scim.filter_sql`
compiles a filter to a SQLAlchemy condition for /Users and /Groups searches, `scim.filter_match`
evaluates one against a JSON document for PATCH value filters such as `members[value eq "id"]`.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from heap.text import storable

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32  # parentheses, `not` and brackets together: bounds recursion everywhere below
OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le"})
# What the operators mean, for both evaluators: substring operators by their str method name
# (SQLAlchemy's column operators share the names), the rest as Python comparisons.
SUBSTRING_OPERATORS = {"co": "contains", "sw": "startswith", "ew": "endswith"}
ORDERING_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}

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
        if tok.kind not in ("str", "word"):
            raise FilterError(f"expected a value after '{op}' {_at(tok.pos)}")
        text = tok.text
        if tok.kind == "str":
            try:
                text = json.loads(tok.text, strict=False)
            except ValueError as exc:
                raise FilterError(f"invalid escape in the string {_at(tok.pos)}") from exc
            assert isinstance(text, str)
        # No database compares a NUL or a lone surrogate (JSON's "\ud800" escape decodes to
        # one): refused here, for every filter and PATCH path, before it reaches SQL.
        if not storable(text):
            raise FilterError(
                f"the value {_at(tok.pos)} contains a NUL character or an unpaired UTF-16"
                " surrogate; send valid Unicode text"
            )
        if tok.kind == "str":
            return text
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
