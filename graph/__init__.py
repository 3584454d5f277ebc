"""The GraphQL door for the Heap front end, at /graphql (GraphiQL on GET)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


def init_app(app: Flask) -> None:
    """Mount the GraphQL view: POST for the front end, GraphiQL for a browser's GET."""
    from graph import graphiql
    from graph.rate_limit import limited
    from graph.schema import schema
    from graph.view import HeapGraphQLView, error_response
    from ops.errors import register_shape

    view = HeapGraphQLView.as_view("graphql", schema=schema)
    app.add_url_rule("/graphql", view_func=limited(view))
    register_shape(app, "/graphql", error_response)
    graphiql.init_app(app)


def printed_schema() -> str:
    """The SDL as committed in graph/schema.graphql."""
    from strawberry.printer import print_schema

    from graph.schema import schema

    return print_schema(schema) + "\n"
