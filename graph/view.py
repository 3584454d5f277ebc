"""The Flask view: a viewer token on the request becomes the resolvers' ``Context``."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException, SyncHTTPRequestAdapter
from flask import Request, Response, g
from flask import request as current_request
from graphql import GraphQLError
from strawberry.flask.views import GraphQLView
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from graph import auth, graphiql, wire
from graph.context import Context
from graph.errors import TopLevelCode, code_for_status
from heap.actors import Member
from heap.extensions import db
from heap.models import User
from heap.transaction import CHANGES_COMMITTED
from ops.errors import DatabaseUnavailable, Problem, database_failure


class HeapGraphQLView(GraphQLView[Context, None]):
    def get_context(self, request: Request, response: Response) -> Context:
        # The viewer is read when a resolver first asks: a query refused before execution
        # (over the cost budget, say) issues no SQL at all.
        claim = auth.read_claim(request)

        def load_viewer() -> User | None:
            viewer = auth.load_viewer(claim)
            if viewer is not None:
                g.actor = Member(viewer)  # who asked, for the request's access log line
            return viewer

        return Context(load_viewer=load_viewer)

    def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """A resolver's database failure is a 503 for the whole request, not a masked error
        with HTTP 200: the front end retries after Retry-After (ops.errors answers it).

        Unless a mutation's change committed before the failure (reading its payload back
        failed): a retry would repeat a change already made, so the answer is a 200 whose
        errors say the change was saved.
        """
        failure = database_failure()
        if result.errors and failure is not None:
            if not db.session.info.get(CHANGES_COMMITTED):
                raise DatabaseUnavailable("the database failed during a resolver") from failure
            result.errors = [_saved_but_unread(error) for error in result.errors]
        return super().process_result(request, result)

    def run(self, request: Request, context: Any = UNSET, root_value: Any = UNSET) -> Response:
        """A request refused before execution answers GraphQL JSON, not Strawberry's text."""
        try:
            return super().run(request, context, root_value)
        except wire.BadRequest as refused:
            return wire.error_response(400, refused.message, code=TopLevelCode.BAD_REQUEST)
        except HTTPException as refused:
            code = code_for_status(refused.status_code)
            return wire.error_response(refused.status_code, refused.reason, code=code)

    def decode_json(self, data: str | bytes) -> object:
        """Every JSON document /graphql reads (a POST body, GET's variables) is an object of
        UTF-8 text, not too deep: see graph/wire.py."""
        return wire.decode_object(data)

    def parse_http_body(
        self, request: SyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            content_type, _ = parse_content_type(request.content_type or "")
            if "application/json" not in content_type:
                raise wire.BadRequest(
                    f"Send the operation as JSON, with 'Content-Type: application/json': "
                    f"{wire.EXAMPLE}."
                )
            # Strawberry's Flask adapter decodes the body as UTF-8 itself, and a bad byte
            # there is a UnicodeDecodeError (a 500): look at the bytes first.
            wire.check_utf8(current_request.get_data(cache=True))
        data = super().parse_http_body(request)
        for operation in data if isinstance(data, list) else [data]:
            _check_operation(operation)
        return data

    def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this service's own files, instead of Strawberry's page and its CDN."""
        return graphiql.page(endpoint=request.path)


def error_response(problem: Problem) -> Response:
    """A failure outside the resolvers (bad URL or method, database down) as GraphQL JSON, with
    the top-level code of its status (ops.errors' own codes are for the plain JSON shape)."""
    return wire.error_response(
        problem.status,
        problem.message,
        code=code_for_status(problem.status),
        headers=dict(problem.headers),
    )


def _check_operation(operation: GraphQLRequestData) -> None:
    if not operation.query:
        raise wire.BadRequest(f"Send the GraphQL document as the `query` string: {wire.EXAMPLE}.")
    if not isinstance(operation.operation_name, str | None):
        raise wire.BadRequest("`operationName` must be a string (or null), if sent.")


def _saved_but_unread(error: GraphQLError) -> GraphQLError:
    return GraphQLError(
        "Your change was saved, but reading it back failed because Heap's database stopped "
        "answering. Don't repeat the change: reload in a few seconds to see it.",
        path=error.path,
        extensions={"code": TopLevelCode.SERVICE_UNAVAILABLE.value},
    )
