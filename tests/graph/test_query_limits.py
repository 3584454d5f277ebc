"""The cost limit: a query that could return too many rows is refused before anything runs.

Through HTTP on both databases for what a viewer sees (the refusal, no SQL, the real screens
still served); the counting rule itself is checked on the pure function, with exact numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from graphql import (
    GraphQLList,
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    parse,
)
from graphql import is_composite_type as composite

from graph.query_limits import (
    COST_BUDGET,
    FULLEST_INTROSPECTION,
    INTROSPECTION_HEADROOM,
    ITEM_LIST_SIZES,
    MAX_ALIASES,
    UNPAGED_LIST_SIZES,
    Measure,
    introspection_budget,
    measure,
)
from graph.schema import schema
from heap.extensions import db
from heap.models import Team
from tests.factories import role
from tests.graph.conftest import (
    add_member,
    counting_queries,
    gid,
    make_account,
    make_team,
    make_user,
    post,
    top_level_codes,
    viewer_token,
)

# Issue 8's query: 100 users' teams' members' teams' members. 109 characters.
ISSUE_QUERY = (
    "{account{users(first:100){nodes{teams{members(first:100){nodes{teams{members(first:100)"
    "{nodes{email}}}}}}}}}}"
)
USERS_PAGE = """
{ account { users(first: 100) { totalCount pageInfo { hasNextPage endCursor }
    nodes { id email name status role { name } teams { name } viewerCannotRemoveReasons } } } }
"""


def _readme_first_query() -> str:
    """The query the README tells a developer to run first, as written there."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    found = re.search(r"```graphql\n(.*?)```", readme, re.DOTALL)
    assert found is not None
    return found.group(1)


def _cost(query: str, variables: dict[str, Any] | None = None) -> int:
    found = measure(schema._schema, parse(query), None, variables)
    assert found is not None
    return found.cost


def _refused_without_sql(
    app: Flask, client: FlaskClient, token: str, query: str, variables: Any = None
) -> dict[str, Any]:
    with counting_queries(app) as statements:
        body = post(client, query, variables, token=token)
    assert statements == []
    assert body["data"] is None
    assert top_level_codes(body) == ["QUERY_TOO_COSTLY"]
    [error] = body["errors"]
    return error  # type: ignore[no-any-return]


def test_the_issue_query_is_refused_for_an_analyst_without_any_sql(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account()
    analyst = make_user(account=account, role=role(account, "Analyst"))
    team = make_team(account=account)
    add_member(team, analyst)
    assert len(ISSUE_QUERY) == 109

    error = _refused_without_sql(app, client, viewer_token(app, analyst), ISSUE_QUERY)

    cost = f"{_cost(ISSUE_QUERY):,}"
    assert cost in error["message"] and f"{COST_BUDGET:,}" in error["message"]
    assert "after:" in error["message"]  # how to page instead
    assert "locations" not in error and "path" not in error


def test_the_readme_first_query_and_a_users_page_of_100_are_served(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    teams = [make_team(account=account) for _ in range(3)]
    for n in range(99):
        user = make_user(account=account)
        add_member(teams[n % 3], user)
    token = viewer_token(app, admin)

    first = post(client, _readme_first_query(), token=token)
    assert "errors" not in first, first
    assert first["data"]["account"]["users"]["totalCount"] == 100

    page = post(client, USERS_PAGE, token=token)
    assert "errors" not in page, page
    nodes = page["data"]["account"]["users"]["nodes"]
    assert len(nodes) == 100
    assert sum(len(node["teams"]) for node in nodes) == 99


def test_variables_count_as_sent(app: Flask, client: FlaskClient) -> None:
    user = make_user()
    token = viewer_token(app, user)
    query = """query ($users: Int, $members: Int) { account { users(first: $users) {
        nodes { teams { members(first: $members) { nodes { email } } } } } } }"""

    _refused_without_sql(app, client, token, query, {"users": 100, "members": 100})
    # The same query, paged small enough: one user, a few members of each of their teams.
    body = post(client, query, {"users": 1, "members": 5}, token=token)
    assert "errors" not in body, body


def test_aliases_fragments_and_inline_fragments_all_count(app: Flask, client: FlaskClient) -> None:
    user = make_user()
    token = viewer_token(app, user)
    page = "users(first: 100) { nodes { email role { name } teams { name } } }"
    assert (
        _cost(f"{{ account {{ {page} }} }}")
        <= COST_BUDGET
        < 2 * _cost(f"{{ account {{ {page} }} }}")
    )

    for twice in (
        f"{{ account {{ a: {page} b: {page} }} }}",
        f"{{ a: account {{ {page} }} b: account {{ {page} }} }}",
        f"query {{ account {{ ...P ...Q }} }} fragment P on Account {{ a: {page} }} "
        f"fragment Q on Account {{ b: {page} }}",
        f"{{ account {{ ... on Account {{ a: {page} }} ... {{ b: {page} }} }} }}",
    ):
        _refused_without_sql(app, client, token, twice)


def test_a_node_fetched_by_id_counts_like_any_other(app: Flask, client: FlaskClient) -> None:
    account = make_account()
    user = make_user(account=account)
    team = make_team(account=account)
    query = """query ($id: ID!) { node(id: $id) { ... on Team {
        members(first: 100) { nodes { teams { members(first: 100) { nodes { email } } } } } } } }"""
    _refused_without_sql(app, client, viewer_token(app, user), query, {"id": gid("Team", team.id)})


def test_a_mutation_payload_counts_too_and_nothing_is_changed(
    app: Flask, client: FlaskClient
) -> None:
    account = make_account()
    admin = make_user(account=account, admin=True)
    mutation = """mutation { createTeam(input: {name: "Spies"}) { team {
        members(first: 100) { nodes { teams { members(first: 100) { nodes { email } } } } } } } }"""

    _refused_without_sql(app, client, viewer_token(app, admin), mutation)
    assert db.session.query(Team).count() == 0


def test_a_fragment_that_doubles_forty_times_is_refused_at_once(
    app: Flask, client: FlaskClient
) -> None:
    """Each fragment spreads the one before twice: 2**39 copies of a users page. Measured once
    per fragment, this is refused; a walk that expands every spread would never finish."""
    user = make_user()
    fragments = ["fragment F0 on Query { account { users(first: 1) { nodes { email } } } }"]
    fragments += [f"fragment F{n} on Query {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, 40)]
    query = "query { ...F39 } " + " ".join(fragments)
    assert len(query) < 2000
    _refused_without_sql(app, client, viewer_token(app, user), query)


# ---- introspection: the schema's own lists, on a budget of their own ---------------------------


def _fragment_fan_out(copies: int) -> str:
    """Four fragments, each repeating the next ``copies`` times under aliases: the response
    grows as copies**4 (5 copies answered 1.7 MB, 8 copies 10.5 MB, 30 would be gigabytes)."""
    level = [("A", "__Schema", "types", "B"), ("B", "__Type", "fields", "C")]
    level += [("C", "__Field", "type", "D")]
    parts = [
        f"fragment {name} on {on} {{ "
        + " ".join(f"{name.lower()}{i}: {field} {{ ...{inner} }}" for i in range(copies))
        + " }"
        for name, on, field, inner in level
    ]
    parts.append("fragment D on __Type { " + " ".join(f"d{i}: name" for i in range(copies)) + " }")
    return "query { __schema { ...A } } " + " ".join(parts)


def test_graphiqls_introspection_is_served_without_a_token(client: FlaskClient) -> None:
    body = post(client, FULLEST_INTROSPECTION)
    assert "errors" not in body, body["errors"]
    assert len(body["data"]["__schema"]["types"]) == len(schema._schema.type_map)


def test_introspection_repeated_by_aliases_is_refused_before_it_runs(client: FlaskClient) -> None:
    fanned = post(client, _fragment_fan_out(2))
    assert fanned["data"] is None
    assert top_level_codes(fanned) == ["TOO_MANY_ALIASES"]

    # Within the alias limit, the lists themselves: every type's fields' arguments, 15 times.
    repeated = " ".join(
        f"t{i}: types {{ fields {{ args {{ name }} }} }}" for i in range(MAX_ALIASES)
    )
    body = post(client, f"{{ __schema {{ {repeated} }} }}")
    assert body["data"] is None
    assert top_level_codes(body) == ["QUERY_TOO_COSTLY"]
    [error] = body["errors"]
    budget = introspection_budget(schema._schema)
    assert f"the budget is {budget:,}" in error["message"]


def test_the_introspection_budget_is_a_margin_over_the_fullest_query() -> None:
    found = measure(schema._schema, parse(FULLEST_INTROSPECTION), None, None)
    assert found is not None and found.cost == 0 and found.schema_rows > 0
    assert introspection_budget(schema._schema) == INTROSPECTION_HEADROOM * found.schema_rows
    one_list = measure(schema._schema, parse("{ __schema { types { name } } }"), None, None)
    assert one_list == Measure(schema_rows=len(schema._schema.type_map))


# ---- the counting rule, exactly ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        # Single objects and scalars cost nothing; connection wrappers neither.
        ("{ viewer { email role { name } } }", 0),
        ("{ account { users(first: 7) { totalCount pageInfo { endCursor } } } }", 0),
        # A connection's edges and nodes hold `first` rows; 50 when omitted; at most 100.
        ("{ account { users(first: 7) { nodes { email } } } }", 7),
        ("{ account { users { edges { node { email } } } } }", 50),
        ("{ account { users(first: 5000) { nodes { email } } } }", 100),
        ("{ account { users(first: 0) { nodes { teams { name } } } } }", 0),
        # Both lists of one connection: each is returned.
        ("{ account { users(first: 7) { nodes { email } edges { cursor } } } }", 14),
        # Lists without paging arguments count their documented size, nested ones multiply.
        ("{ account { roles { name } } }", UNPAGED_LIST_SIZES[("Account", "roles")]),
        (
            "{ account { users(first: 3) { nodes {"
            " teams { members(first: 2) { nodes { id } } } } } } }",
            3 * (1 + 20 * (1 + 2)),
        ),
        # Introspection reads the schema: it is counted apart (schema_rows, below).
        ("{ __schema { types { name fields { name } } } }", 0),
    ],
)
def test_cost_is_the_rows_a_query_can_return(query: str, cost: int) -> None:
    assert _cost(query) == cost


def test_variables_and_their_defaults_are_resolved() -> None:
    query = "query ($n: Int = 9) { account { users(first: $n) { nodes { email } } } }"
    assert _cost(query, {"n": 4}) == 4
    assert _cost(query, {}) == 9
    assert _cost(query, {"n": None}) == 50


def test_an_operation_that_cannot_run_is_not_measured() -> None:
    document = parse("query ($n: Int) { account { users(first: $n) { nodes { email } } } }")
    assert measure(schema._schema, document, None, {"n": "many"}) is None
    assert measure(schema._schema, document, "Other", {}) is None


def test_depth_and_aliases_come_from_the_same_walk() -> None:
    found = measure(
        schema._schema,
        parse("query { ...F ...F } fragment F on Query { a: viewer { b: role { name } } }"),
        None,
        None,
    )
    assert found == Measure(cost=0, depth=2, aliases=4)


def test_every_list_of_objects_is_paged_or_has_a_documented_size() -> None:
    """A new list field must either be a connection or get a size in UNPAGED_LIST_SIZES; one
    that does neither counts as a full page, and this test says which."""
    unsized = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for name, field in graphql_type.fields.items():
            if get_named_type(field.type).name.endswith("Connection"):
                assert "first" in field.args, f"{graphql_type.name}.{name} has no `first`"
            item = get_named_type(field.type)
            if not isinstance(get_nullable_type(field.type), GraphQLList) or not composite(item):
                continue
            in_connection = graphql_type.name.endswith("Connection") and name in {"edges", "nodes"}
            sized = (graphql_type.name, name) in UNPAGED_LIST_SIZES or item.name in ITEM_LIST_SIZES
            if not in_connection and not sized:
                unsized.append(f"{graphql_type.name}.{name}")
    assert unsized == []
