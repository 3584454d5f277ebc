"""scim/filters.py, filter_sql.py and filter_match.py: the RFC 7644 filter grammar, its SQL
compiler and the in-memory matcher."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    exists,
    insert,
    select,
)

from scim.filter_match import matches
from scim.filter_sql import Attribute, MultiValued, compile_filter, mapping_resolver
from scim.filters import (
    And,
    AttrPath,
    Compare,
    Filter,
    FilterError,
    Not,
    Or,
    PathExpr,
    Present,
    ValuePath,
    parse_filter,
    parse_path,
)

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEAP = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


def cmp(attr: str, op: str, value: Any, sub: str | None = None, urn: str | None = None) -> Compare:
    return Compare(AttrPath(attr, sub, urn), op, value)


A, B, C = cmp("a", "eq", 1), cmp("b", "eq", 2), cmp("c", "eq", 3)

# ---------------------------------------------------------------------------------------------
# Parsing

PARSED: list[tuple[str, Filter]] = [
    # Okta's existence check and group auto-link
    ('userName eq "test.user@okta.local"', cmp("userName", "eq", "test.user@okta.local")),
    ('displayName eq "Test SCIMv2"', cmp("displayName", "eq", "Test SCIMv2")),
    # Names and operators are case-insensitive; the original spelling is kept
    ('UserName EQ "A@x.com"', cmp("UserName", "eq", "A@x.com")),
    # Entra: externalId first, its legacy unquoted form, and eq + and
    ('externalId eq "0a21f0f2-8d2a-4f8e"', cmp("externalId", "eq", "0a21f0f2-8d2a-4f8e")),
    ("externalId eq jyoung", cmp("externalId", "eq", "jyoung")),
    (
        'userName eq "x" and active eq true',
        And(cmp("userName", "eq", "x"), cmp("active", "eq", True)),
    ),
    # Entra's email uniqueness check: the trailing comparison joins the value filter
    (
        'emails[type eq "work"].value eq "user@contoso.com"',
        ValuePath(
            AttrPath("emails"),
            And(cmp("type", "eq", "work"), cmp("value", "eq", "user@contoso.com")),
        ),
    ),
    (
        'emails[type eq "work"].value pr',
        ValuePath(AttrPath("emails"), And(cmp("type", "eq", "work"), Present(AttrPath("value")))),
    ),
    (
        'emails[type eq "work" and value co "@example.com"]',
        ValuePath(
            AttrPath("emails"), And(cmp("type", "eq", "work"), cmp("value", "co", "@example.com"))
        ),
    ),
    ('members[value eq "abc"]', ValuePath(AttrPath("members"), cmp("value", "eq", "abc"))),
    # Sub-attributes and URN-qualified names
    ('name.familyName co "O\'Malley"', cmp("name", "co", "O'Malley", sub="familyName")),
    (
        'meta.lastModified gt "2011-05-13T04:42:34Z"',
        cmp("meta", "gt", "2011-05-13T04:42:34Z", sub="lastModified"),
    ),
    (f'{CORE}:userName sw "J"', cmp("userName", "sw", "J", urn=CORE)),
    (f'{CORE}:name.givenName ew "n"', cmp("name", "ew", "n", sub="givenName", urn=CORE)),
    (f'{ENT}:employeeNumber eq "701984"', cmp("employeeNumber", "eq", "701984", urn=ENT)),
    (f'{HEAP}:heapRole eq "Analyst"', cmp("heapRole", "eq", "Analyst", urn=HEAP)),
    ("title pr", Present(AttrPath("title"))),
    # Precedence: grouping, then not, then and, then or; chains are balanced
    ("a eq 1 or b eq 2 and c eq 3", Or(A, And(B, C))),
    ("(a eq 1 or b eq 2) and c eq 3", And(Or(A, B), C)),
    ("a eq 1 and b eq 2 and c eq 3", And(A, And(B, C))),
    ("not (a eq 1) and b eq 2", And(Not(A), B)),
    ("not (a eq 1 and b eq 2)", Not(And(A, B))),
    ("not a eq 1 or b eq 2", Or(Not(A), B)),  # lenient: `not` without parentheses
    ('not eq "x"', cmp("not", "eq", "x")),  # an attribute named `not`
    ("((a eq 1))", A),
    # Values: JSON strings with escapes, literals in any case, numbers
    (r'a eq "x\"y\\z"', cmp("a", "eq", 'x"y\\z')),
    (r'a eq "caf\u00e9"', cmp("a", "eq", "café")),
    ('a eq ""', cmp("a", "eq", "")),
    ("a eq TRUE", cmp("a", "eq", True)),
    ("a ne False", cmp("a", "ne", False)),
    ("a eq NULL", cmp("a", "eq", None)),
    ("a ge -12", cmp("a", "ge", -12)),
    ("a lt 1.5e3", cmp("a", "lt", 1500.0)),
    ('a eq "true"', cmp("a", "eq", "true")),  # a quoted literal stays a string
    ("a eq 007", cmp("a", "eq", "007")),  # not a JSON number: a bare word
    ('  userName\teq   "x"  ', cmp("userName", "eq", "x")),
    ('members[$ref eq "x"]', ValuePath(AttrPath("members"), cmp("$ref", "eq", "x"))),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_filter(text: str, expected: Filter) -> None:
    assert parse_filter(text) == expected


def test_attr_path_keys_are_lowercase_and_the_original_is_kept() -> None:
    filt = parse_filter('URN:IETF:params:scim:schemas:core:2.0:User:Name.FamilyName eq "x"')
    assert isinstance(filt, Compare)
    path = filt.path
    assert (path.attr, path.sub_attr, path.urn) == (
        "Name",
        "FamilyName",
        "URN:IETF:params:scim:schemas:core:2.0:User",
    )
    assert (path.attr_key, path.sub_key, path.key) == ("name", "familyname", "name.familyname")
    assert path.urn_key == CORE.lower()
    assert path.in_schema(CORE) is True
    assert path.in_schema(ENT) is False
    assert AttrPath("userName").in_schema(ENT) is True  # unqualified: any schema may claim it
    assert str(path) == "URN:IETF:params:scim:schemas:core:2.0:User:Name.FamilyName"


REFUSED: list[tuple[Any, str]] = [
    ("", "the filter is empty"),
    ("   ", "the filter is empty"),
    (None, "the filter must be a string"),
    (
        "userName",
        "expected an operator (co, eq, ew, ge, gt, le, lt, ne, pr, sw) after 'userName'"
        " at character 9, found 'end of filter'",
    ),
    (
        'userName xx "a"',
        "expected an operator (co, eq, ew, ge, gt, le, lt, ne, pr, sw) after"
        " 'userName' at character 10, found 'xx'",
    ),
    ("userName eq", "expected a value after 'eq' at character 12"),
    ('userName eq "a', "unterminated string starting at character 13"),
    (
        '(userName eq "a"',
        "expected ')' at character 17 to close the '(' at character 1, found 'end of filter'",
    ),
    (
        'userName eq "a")',
        "unexpected ')' at character 16: expected 'and', 'or' or the end of the filter",
    ),
    # Entra's unquoted form is one token: a second word is an error, not part of the value
    (
        "externalId eq j young",
        "unexpected 'young' at character 17: expected 'and', 'or' or the end of the filter",
    ),
    (
        'emails[type eq "work"',
        "expected ']' at character 22 to close the '[' at character 7, found 'end of filter'",
    ),
    ('emails[members[value eq "x"]]', "value filters can't be nested at character 15"),
    (
        'name.familyName[x eq "y"]',
        "'[' must follow a multi-valued attribute, not name.familyName at character 16",
    ),
    ('emails[type eq "work"].', "expected '.subAttribute' after ']' at character 23, found '.'"),
    (
        'emails[type eq "w"] .value eq "x"',
        "unexpected '.value' at character 21: expected 'and', 'or' or the end of the filter",
    ),
    (r'a eq "\q"', "invalid escape in the string at character 6"),
    ('1abc eq "x"', "expected an attribute name at character 1, found '1abc'"),
    ('foo:bar eq "x"', "expected an attribute name at character 1, found 'foo:bar'"),
    (
        'a and b eq "x"',
        "expected an operator (co, eq, ew, ge, gt, le, lt, ne, pr, sw) after 'a'"
        " at character 3, found 'and'",
    ),
    ("not", "expected an attribute name at character 4, found 'end of filter'"),
    ("a eq 1e999", "the number 1e999 is out of range at character 6"),
    ("a pr and", "expected an attribute name at character 9, found 'end of filter'"),
    ("a" * 4097 + " pr", "the filter is 4100 characters; the limit is 4096"),
    ("(" * 33 + "a pr" + ")" * 33, "the filter nests deeper than 32 levels at character 33"),
    ("not " * 33 + "a pr", "the filter nests deeper than 32 levels at character 129"),
]


@pytest.mark.parametrize(("text", "detail"), REFUSED)
def test_parse_filter_refuses_with_a_located_detail(text: Any, detail: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.detail == detail
    assert str(caught.value) == detail
    assert isinstance(caught.value, ValueError)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse_filter("(" * 32 + "a pr" + ")" * 32) == Present(AttrPath("a"))


def test_a_long_chain_within_the_length_limit_parses_into_a_shallow_tree() -> None:
    text = " or ".join(["a pr"] * 500)
    assert len(text) == 3996

    def depth(f: Filter) -> int:
        return 1 + max(depth(f.left), depth(f.right)) if isinstance(f, Or) else 1

    assert depth(parse_filter(text)) == 10  # ceil(log2(500)) + 1, not 500


PATHS: list[tuple[str, PathExpr]] = [
    ("active", PathExpr(AttrPath("active"))),
    ("name.familyName", PathExpr(AttrPath("name", "familyName"))),
    ("members", PathExpr(AttrPath("members"))),
    (
        'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
        PathExpr(AttrPath("members"), cmp("value", "eq", "2819c223-7f76-453a-919d-413861904646")),
    ),
    (
        'emails[type eq "work"].value',
        PathExpr(AttrPath("emails"), cmp("type", "eq", "work"), "value"),
    ),
    (
        'roles[primary eq "True"].value',
        PathExpr(AttrPath("roles"), cmp("primary", "eq", "True"), "value"),
    ),
    (f"{ENT}:employeeNumber", PathExpr(AttrPath("employeeNumber", urn=ENT))),
    (f"{ENT}:manager", PathExpr(AttrPath("manager", urn=ENT))),
    (f"{ENT}:manager.value", PathExpr(AttrPath("manager", "value", ENT))),
]


@pytest.mark.parametrize(("text", "expected"), PATHS)
def test_parse_path(text: str, expected: PathExpr) -> None:
    assert parse_path(text) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "expected an attribute name at character 1, found 'end of filter'"),
        (
            'members[value eq "x"] eq "y"',
            "unexpected 'eq' at character 23: expected the end of"
            " the path (a path holds no comparison after its filter)",
        ),
        ("name familyName", "unexpected 'familyName' at character 6: expected the end of the path"),
        (
            'emails[type eq "work"].value.x',
            "expected '.subAttribute' after ']' at character 23, found '.value.x'",
        ),
        (
            'members[value eq "x"',
            "expected ']' at character 21 to close the '[' at character 8, found 'end of filter'",
        ),
    ],
)
def test_parse_path_refuses(text: str, detail: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_path(text)
    assert caught.value.detail == detail


# Property tests: whatever arrives, the parser answers with a Filter or a FilterError.
FRAGMENTS = st.sampled_from(
    [
        "userName",
        "eq",
        "EQ",
        "pr",
        "co",
        "gt",
        "and",
        "or",
        "not",
        "Not",
        "(",
        ")",
        "[",
        "]",
        '"x"',
        '"a\\"b"',
        '"\\u12"',
        '"',
        "\\",
        "true",
        "null",
        "1e999",
        "-0.5",
        "007",
        "emails",
        ".value",
        ".",
        "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
        "urn:",
        ":",
        "$ref",
        " ",
        "\t",
        "\u2028",
        "\x00",
        "é",
    ]
)
FILTERS = (Compare, Present, And, Or, Not, ValuePath)


@settings(max_examples=600)
@given(st.one_of(st.text(max_size=300), st.lists(FRAGMENTS, max_size=60).map("".join)))
def test_parse_filter_raises_only_filter_error(text: str) -> None:
    try:
        result = parse_filter(text)
    except FilterError as exc:
        assert exc.detail
    else:
        assert isinstance(result, FILTERS)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), st.lists(FRAGMENTS, max_size=40).map("".join)))
def test_parse_path_raises_only_filter_error(text: str) -> None:
    try:
        result = parse_path(text)
    except FilterError as exc:
        assert exc.detail
    else:
        assert isinstance(result, PathExpr)


@given(st.integers(min_value=0, max_value=12_000))
def test_pathological_sizes_are_refused_not_crashed(n: int) -> None:
    for text in ("(" * n + "a pr" + ")" * n, "not " * n + "a pr", "a pr and " * n + "a pr"):
        with contextlib.suppress(FilterError):
            parse_filter(text)


# ---------------------------------------------------------------------------------------------
# Matching in memory (PATCH value filters)

WORK = {"type": "work", "value": "Alice@Example.com", "primary": "True"}
USER = {
    "userName": "alice",
    "name": {"familyName": "Smith"},
    "emails": [{"type": "home", "value": "a@home.org"}, WORK],
    ENT: {"employeeNumber": "701984"},
    "logins": 5,
}

MATCHES: list[tuple[str, dict[str, Any], bool]] = [
    ('type eq "work"', WORK, True),
    ('TYPE Eq "WORK"', WORK, True),  # keys and string values case-insensitively
    ('type eq "home"', WORK, False),
    ('value eq "alice@example.com"', WORK, True),
    ('value co "@example"', WORK, True),
    ('value sw "alice@"', WORK, True),
    ('value ew ".COM"', WORK, True),
    ('value ew ".org"', WORK, False),
    ("primary eq true", WORK, True),  # Entra stores "primary": "True"
    ('primary eq "true"', {"primary": True}, True),  # and filters with "True"
    ("primary eq false", WORK, False),
    ("display pr", WORK, False),
    ("value pr", WORK, True),
    ("value pr", {"value": ""}, False),
    ("display eq null", WORK, True),
    ('display ne "x"', WORK, True),
    ('type ne "work"', WORK, False),
    ('value eq "a" or type eq "work"', WORK, True),
    ('not (type eq "work")', WORK, False),
    ('type eq "work" and not (value co "home")', WORK, True),
    ("logins gt 3", USER, True),
    ("logins le 4", USER, False),
    ('logins gt "3"', USER, False),  # different types never compare
    ('userName gt "alex"', USER, True),
    ('userName ge "ALICE"', USER, True),  # ordering is case-insensitive too
    ('userName lt "ALICE"', USER, False),
    ('name.familyName eq "smith"', USER, True),
    ('emails[type eq "work"]', USER, True),
    ('emails[type eq "work" and value sw "bob"]', USER, False),
    ('emails.value eq "A@HOME.ORG"', USER, True),
    ('emails eq "a@home.org"', USER, True),  # a complex multi-valued attribute compares "value"
    ('emails.type eq "other"', USER, False),
    (f'{ENT}:employeeNumber eq "701984"', USER, True),
    ("value eq 5", WORK, False),
    ("value co 5", WORK, False),
]


@pytest.mark.parametrize(("text", "element", "expected"), MATCHES)
def test_matches(text: str, element: dict[str, Any], expected: bool) -> None:
    assert matches(parse_filter(text), element) is expected


def test_matches_honours_case_exact_attributes() -> None:
    filt = parse_filter('value eq "alice@example.com"')
    assert matches(filt, WORK, case_exact=("Value",)) is False
    assert matches(filt, WORK, case_exact=("type",)) is True


# ---------------------------------------------------------------------------------------------
# Compiling to SQL, against a throwaway SQLite schema

metadata = MetaData()
people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_name", String),
    Column("external_id", String),
    Column("family_name", String),
    Column("active", Boolean),
    Column("modified", DateTime),
    Column("logins", Integer),
)
emails = Table(
    "emails",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("people.id")),
    Column("type", String),
    Column("value", String),
    Column("primary", Boolean),
)


def _emails_exist(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(emails.c.person_id == people.c.id, predicate)


EMAILS = MultiValued(
    resolve=mapping_resolver(
        {
            "value": Attribute(emails.c.value),
            "type": Attribute(emails.c.type),
            "primary": Attribute(emails.c.primary, kind="boolean"),
        }
    ),
    exists=_emails_exist,
)
resolve_person = mapping_resolver(
    {
        "userName": Attribute(people.c.user_name),
        "externalId": Attribute(people.c.external_id, case_exact=True),
        "name.familyName": Attribute(people.c.family_name),
        "active": Attribute(people.c.active, kind="boolean"),
        "meta.lastModified": Attribute(people.c.modified, kind="datetime"),
        "logins": Attribute(people.c.logins, kind="integer"),
        f"{ENT}:employeeNumber": Attribute(people.c.external_id, case_exact=True),
        "emails": EMAILS,
    },
    default_urns=[CORE],
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = create_engine("sqlite://")
    metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(
            insert(people),
            [
                dict(
                    id=1,
                    user_name="Alice@Example.com",
                    external_id="ext-1",
                    family_name="O'Hara",
                    active=True,
                    modified=datetime(2024, 1, 1),
                    logins=3,
                ),
                dict(
                    id=2,
                    user_name="bob@example.com",
                    external_id="EXT-2",
                    family_name="100% Smith",
                    active=False,
                    modified=datetime(2024, 6, 1),
                    logins=10,
                ),
                dict(
                    id=3,
                    user_name="carol_x@example.com",
                    external_id=None,
                    family_name="",
                    active=True,
                    modified=None,
                    logins=None,
                ),
                dict(
                    id=4,
                    user_name="carolax@example.com",
                    external_id=None,
                    family_name=None,
                    active=True,
                    modified=None,
                    logins=0,
                ),
            ],
        )
        conn.execute(
            insert(emails),
            [
                dict(person_id=1, type="work", value="alice@example.com", primary=True),
                dict(person_id=1, type="home", value="alice@home.org", primary=False),
                dict(person_id=2, type="work", value="bob@corp.com", primary=True),
            ],
        )
    yield eng
    eng.dispose()


def ids(engine: Engine, text: str) -> set[int]:
    where = compile_filter(parse_filter(text), resolve_person)
    with engine.connect() as conn:
        return set(conn.scalars(select(people.c.id).where(where)))


COMPILED: list[tuple[str, set[int]]] = [
    ('userName eq "alice@example.com"', {1}),  # caseExact false: lower() on both sides
    ('USERNAME Eq "ALICE@EXAMPLE.COM"', {1}),
    (f'{CORE}:userName eq "bob@EXAMPLE.com"', {2}),
    ('userName eq "nobody@example.com"', set()),
    ('externalId eq "ext-2"', set()),  # caseExact true
    ('externalId eq "EXT-2"', {2}),
    ("externalId eq ext-1", {1}),  # Entra's unquoted legacy form
    (f'{ENT}:employeeNumber eq "ext-1"', {1}),
    ('externalId ne "ext-1"', {2, 3, 4}),  # a missing value is "not equal"
    # LIKE metacharacters in values are literal
    ('name.familyName co "0%"', {2}),
    ('name.familyName co "%"', {2}),
    ('userName sw "carol_"', {3}),
    ('userName sw "CAROL"', {3, 4}),
    ('userName ew "@EXAMPLE.COM"', {1, 2, 3, 4}),
    ('name.familyName co "\'h"', {1}),
    # pr: not null, and not empty for strings
    ("name.familyName pr", {1, 2}),
    ("externalId pr", {1, 2}),
    ("logins pr", {1, 2, 4}),
    # booleans, including Entra's string form
    ("active eq true", {1, 3, 4}),
    ('active eq "False"', {2}),
    ("active ne true", {2}),
    # ordering on datetimes, numbers and strings
    ('meta.lastModified gt "2024-03-01T00:00:00Z"', {2}),
    ('meta.lastModified le "2024-01-01T01:00:00+01:00"', {1}),
    ("logins ge 3", {1, 2}),
    ("logins lt 3.5", {1, 4}),
    ('userName lt "B"', {1}),
    # precedence: `and` binds tighter than `or`
    ('active eq true or userName eq "bob@example.com" and active eq false', {1, 2, 3, 4}),
    ('(active eq true or userName eq "bob@example.com") and active eq false', {2}),
    ('not (active eq true) and userName sw "bob"', {2}),
    # NOT keeps rows whose attribute is NULL (SQL alone would drop them)
    ('not (name.familyName eq "O\'Hara")', {2, 3, 4}),
    ('name.familyName ne "o\'hara"', {2, 3, 4}),
    # multi-valued attributes via EXISTS on the child table
    ('emails[type eq "work"].value eq "BOB@corp.com"', {2}),
    ('emails[type eq "work" and value ew "example.com"]', {1}),
    ('emails[type eq "home"]', {1}),
    ("emails[primary eq true]", {1, 2}),
    ('emails.value eq "alice@home.org"', {1}),
    ('emails eq "bob@corp.com"', {2}),
    ('emails.type ne "work"', {1}),
    ("emails pr", {1, 2}),
    ("emails.value pr", {1, 2}),
    ("not (emails pr)", {3, 4}),
]


@pytest.mark.parametrize(("text", "expected"), COMPILED)
def test_compile_filter(engine: Engine, text: str, expected: set[int]) -> None:
    assert ids(engine, text) == expected


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            'nickName eq "x"',
            "filtering on nickName is not supported; supported attributes: "
            "active, emails, externalId, logins, meta.lastModified, name.familyName, "
            f"{ENT}:employeeNumber, userName",
        ),
        (
            f'{HEAP}:heapRole eq "x"',
            f"filtering on {HEAP}:heapRole is not supported; supported"
            " attributes: active, emails, externalId, logins, meta.lastModified, name.familyName, "
            f"{ENT}:employeeNumber, userName",
        ),
        ('active co "t"', "'co' only applies to string attributes; active is boolean"),
        ('logins sw "1"', "'sw' only applies to string attributes; logins is integer"),
        ("active eq 1", "active is boolean: compare it with true or false, not 1"),
        ('active eq "yes"', "active is boolean: compare it with true or false, not 'yes'"),
        ("active gt true", "active is boolean: only eq, ne and pr apply"),
        (
            'meta.lastModified gt "yesterday"',
            "meta.lastModified is a date-time: use an ISO 8601 string such as 2024-01-31T12:00:00Z",
        ),
        ('logins eq "ten"', "logins is a number, so it can't be compared with 'ten'"),
        ("userName eq true", "userName is string, so it can't be compared with True"),
        ("userName eq 1.5", "userName is a string: quote the value 1.5"),
        ("userName gt null", "'gt null' is not meaningful for userName; use 'pr' or 'eq null'"),
        ('userName[type eq "x"]', "userName is not multi-valued, so it takes no '[...]' filter"),
        (
            'emails[display eq "x"]',
            "filtering on display is not supported; supported attributes: primary, type, value",
        ),
    ],
)
def test_compile_filter_refuses(text: str, detail: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(parse_filter(text), resolve_person)
    assert caught.value.detail == detail


def test_values_are_bound_parameters_never_sql_text(engine: Engine) -> None:
    hostile = "x'); DROP TABLE people; --"
    where = compile_filter(parse_filter(f'userName eq "{hostile}"'), resolve_person)
    compiled = select(people.c.id).where(where).compile(engine)
    assert "DROP" not in str(compiled)
    assert hostile in compiled.params.values()
    assert ids(engine, f'userName co "{hostile}"') == set()
    assert ids(engine, "userName pr") == {1, 2, 3, 4}  # the table is still there
