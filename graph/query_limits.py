"""Depth, alias and cost limits, measured in one pass over the operation before anything runs.

The cost of an operation is the number of rows it can return: every list of objects counts its
size, multiplied by the sizes of the lists it sits in. A connection's ``edges`` and ``nodes``
count its ``first`` (variables resolved; 50 when omitted; capped at 100 as the service caps
it); a list without paging arguments counts the fixed size in ``UNPAGED_LIST_SIZES``. Aliases,
fragments and inline fragments count every time they are used. Scalars and single objects cost
nothing: their number is bounded by the token and alias limits.

Why our own walk rather than a library: the rule is Relay-specific (a connection's ``first`` sizes
the lists one level below it, not the connection itself), needs the request's variables (so it
runs as ``on_execute``, not as a validation rule), and must be linear in the document:
Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` re-walk a fragment at every
spread, so 20 fragments that each spread the next one twice (about 800 characters, no token)
kept a worker busy for seconds per request, doubling with each more fragment. Here each
selection set is measured once per (type, page size), and depth and aliases come from the same
walk.

Introspection (``__schema``, ``__type``) reads the schema, not the database, yet an aliased or
fragment-multiplied one can still answer gigabytes. Its lists count the schema's own sizes
(its types, the most fields of any type, ...) against a budget of their own: twice what
graphql-core's fullest introspection query (GraphiQL's) costs on this schema. Its aliases count
like any other; its depth is graphql-core's to bound (``MaxIntrospectionDepthRule``), as GraphiQL's
type references nest deeper than any data query may.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_introspection_query,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_composite_type,
    parse,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.type.definition import GraphQLInterfaceType, GraphQLObjectType
from strawberry.extensions import SchemaExtension

from graph.errors import PublicError, TopLevelCode
from heap.services.directory import MAX_PAGE_SIZE, page_size

# account > users > edges > node > teams > members > edges > node > role > name is 9 levels.
MAX_DEPTH = 12
MAX_ALIASES = 15
# The rows one request may return. The front end's screens fit: the README's first query costs
# 240; a users page of 100 with roles and teams 2,100; a default page of teams with each one's
# default page of members 2,550. Measured on SQLite through the test client, 2,100 to 2,550
# rows took 0.15 to 0.26 s to serve, 10,000 rows 0.7 to 3.3 s. 100 users' teams' members' teams'
# members (the 109-character query of issue 8) cost 404,202,100.
COST_BUDGET = 3000

# Lists that take no paging arguments, and the size each counts as. These are estimates for the
# budget, not truncations: the lists are returned whole. Accounts have a few roles (four
# built-in), a handful of SCIM tokens (rotation keeps the revoked ones listed), and a teammate
# belongs to a few teams; the sizes are set well above that.
UNPAGED_LIST_SIZES: dict[tuple[str, str], int] = {
    ("Account", "roles"): 20,
    # Operators verify an organisation's own domains: a few.
    ("Account", "verifiedDomains"): 20,
    ("ScimConfiguration", "tokens"): 20,
    ("User", "teams"): 20,
}
# Lists sized by what they hold: a mutation's ``userErrors`` carries its one refusal.
ITEM_LIST_SIZES: dict[str, int] = {"UserError": 1}
# A list of objects added later without a size above counts as a full page until it gets one.
UNLISTED_LIST_SIZE = MAX_PAGE_SIZE
# The argument that makes a field a connection: its edges and nodes hold that many rows.
PAGE_ARGUMENT = "first"


# The meta fields that open introspection, and the introspection type each returns.
_META_FIELDS = {"__schema": "__Schema", "__type": "__Type"}
# How many times graphql-core's fullest introspection query one request may ask for.
INTROSPECTION_HEADROOM = 2


@dataclass(frozen=True)
class Measure:
    """What an operation (or one selection set of it) asks for."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    # Entries of introspection lists (types, fields, arguments...) it can answer.
    schema_rows: int = 0


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> Measure | None:
    """The operation's depth, aliases and cost; None if it can't run anyway (no such operation,
    or variables that don't coerce: execution refuses those before any resolver)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if not isinstance(coerced, VariableValues):
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    return _Walk(schema, document, coerced).selection_set(operation.selection_set, root, None)


class _Walk:
    """One walk over one operation; every selection set is measured once per (type, page)."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: VariableValues
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.seen: dict[tuple[int, str, int | None], Measure] = {}
        self.schema_list_sizes = _schema_list_sizes(schema)

    def selection_set(
        self, node: SelectionSetNode, parent: GraphQLNamedType, page: int | None
    ) -> Measure:
        """``page``: the page size when ``parent`` is a connection, else None."""
        key = (id(node), parent.name, page)
        if key not in self.seen:
            parts = list(self._selections(node, parent, page))
            self.seen[key] = Measure(
                cost=sum(part.cost for part in parts),
                depth=max((part.depth for part in parts), default=0),
                aliases=sum(part.aliases for part in parts),
                schema_rows=sum(part.schema_rows for part in parts),
            )
        return self.seen[key]

    def _selections(
        self, node: SelectionSetNode, parent: GraphQLNamedType, page: int | None
    ) -> Iterable[Measure]:
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                yield self._field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = self.schema.get_type(condition.name.value) if condition else parent
                yield self.selection_set(selection.selection_set, narrowed or parent, page)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                narrowed = self.schema.get_type(fragment.type_condition.name.value)
                yield self.selection_set(fragment.selection_set, narrowed or parent, page)

    def _field(self, node: FieldNode, parent: GraphQLNamedType, page: int | None) -> Measure:
        aliased = 1 if node.alias else 0
        name = node.name.value
        fields = (
            parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        )
        if name in _META_FIELDS and node.selection_set is not None:
            meta = self.schema.get_type(_META_FIELDS[name])
            if meta is None:
                return Measure(aliases=aliased)
            inner = self.selection_set(node.selection_set, meta, None)
            return Measure(aliases=aliased + inner.aliases, schema_rows=inner.schema_rows)
        definition = fields.get(name)
        if definition is None or node.selection_set is None:
            return Measure(aliases=aliased)
        returned = get_named_type(definition.type)
        if not is_composite_type(returned):
            return Measure(aliases=aliased)
        inner = self.selection_set(node.selection_set, returned, self._page_size(definition, node))
        depth = 1 + inner.depth
        aliases = aliased + inner.aliases
        if not isinstance(get_nullable_type(definition.type), GraphQLList):
            return Measure(inner.cost, depth, aliases, inner.schema_rows)
        if parent.name.startswith("__"):
            # Inside introspection: the schema's own lists, counted apart and never depth.
            rows = self.schema_list_sizes.get((parent.name, name), 0)
            return Measure(aliases=aliases, schema_rows=rows * (1 + inner.schema_rows))
        rows = page if page is not None else _unpaged_size(parent.name, name, returned.name)
        return Measure(rows * (1 + inner.cost), depth, aliases)

    def _page_size(self, definition: GraphQLField, node: FieldNode) -> int | None:
        """The rows a connection field's lists hold, as the service will cap them; None if the
        field takes no ``first``."""
        if PAGE_ARGUMENT not in definition.args:
            return None
        try:
            first = get_argument_values(definition, node, self.variables).get(PAGE_ARGUMENT)
        except GraphQLError:
            # Execution will refuse the argument; until then, count the most it could ask.
            return MAX_PAGE_SIZE
        return page_size(first if isinstance(first, int) else None)


@cache
def _schema_list_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """The longest each introspection list of ``schema`` can be: its types, the most fields of
    any type, the most arguments of any field, and so on."""
    types = [t for t in schema.type_map.values()]
    fields = [f for t in types for f in getattr(t, "fields", {}).values()]
    directives = list(schema.directives)

    def most(sizes: Iterable[int]) -> int:
        return max(sizes, default=0)

    return {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(directives),
        ("__Type", "fields"): most(len(getattr(t, "fields", {})) for t in types),
        ("__Type", "inputFields"): most(len(getattr(t, "fields", {})) for t in types),
        ("__Type", "enumValues"): most(len(getattr(t, "values", {})) for t in types),
        ("__Type", "interfaces"): most(len(getattr(t, "interfaces", ())) for t in types),
        ("__Type", "possibleTypes"): len(types),
        ("__Field", "args"): most(len(getattr(f, "args", {})) for f in fields),
        ("__Directive", "args"): most(len(d.args) for d in directives),
    }


# graphql-core's fullest introspection query: GraphiQL and codegen tools send one like it.
FULLEST_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)


@cache
def introspection_budget(schema: GraphQLSchema) -> int:
    """The schema rows one request may ask for: a margin over the fullest introspection."""
    found = measure(schema, parse(FULLEST_INTROSPECTION), None, None)
    return INTROSPECTION_HEADROOM * (found.schema_rows if found else 0)


def _unpaged_size(type_name: str, field_name: str, item_type_name: str) -> int:
    if item_type_name in ITEM_LIST_SIZES:
        return ITEM_LIST_SIZES[item_type_name]
    return UNPAGED_LIST_SIZES.get((type_name, field_name), UNLISTED_LIST_SIZE)


def refusal(found: Measure, schema_budget: int) -> PublicError | None:
    """The top-level error for an operation over a limit, or None if it is within them all."""
    if found.depth > MAX_DEPTH:
        return PublicError(
            f"This operation nests {found.depth} levels deep; the maximum operation depth is "
            f"{MAX_DEPTH}. Fetch the deeper part in a second request, starting from its id "
            "with `node(id:)`.",
            code=TopLevelCode.QUERY_TOO_DEEP,
        )
    if found.aliases > MAX_ALIASES:
        return PublicError(
            f"This operation uses {found.aliases} aliases; at most {MAX_ALIASES} are allowed.",
            code=TopLevelCode.TOO_MANY_ALIASES,
        )
    if found.cost > COST_BUDGET:
        return PublicError(
            f"This query could return {found.cost:,} rows; the budget is {COST_BUDGET:,} per "
            "request. Ask for fewer rows: a smaller `first` on nested lists, and the next page "
            "with `after: <endCursor>` in another request.",
            code=TopLevelCode.QUERY_TOO_COSTLY,
        )
    if found.schema_rows > schema_budget:
        return PublicError(
            f"This introspection could return {found.schema_rows:,} schema entries; the budget is "
            f"{schema_budget:,}, twice a full introspection query. Ask for the schema once, "
            "without aliases repeating its lists.",
            code=TopLevelCode.QUERY_TOO_COSTLY,
        )
    return None


class QueryLimits(SchemaExtension):
    """Refuses an operation over the depth, alias or cost limit before any resolver (or SQL)
    runs, with a top-level error saying which limit and by how much."""

    def on_execute(self) -> Generator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            try:
                # Strawberry's schema wraps graphql-core's, which the walk reads types from.
                schema = context.schema._schema
                found = measure(schema, document, context.operation_name, context.variables)
                error = None if found is None else refusal(found, introspection_budget(schema))
            except RecursionError:
                # Only a document nested far past the depth limit gets here.
                error = PublicError(
                    f"This operation nests too deeply; the maximum operation depth is {MAX_DEPTH}.",
                    code=TopLevelCode.QUERY_TOO_DEEP,
                )
            if error is not None:
                # A result set before execution makes Strawberry skip execution.
                context.result = ExecutionResult(data=None, errors=[error])
        yield
