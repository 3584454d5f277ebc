"""The Flask view: a viewer token on the request becomes the resolvers' ``Context``."""

from __future__ import annotations

from flask import Request, Response, current_app, g, json
from strawberry.flask.views import GraphQLView
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from graph.context import Context
from heap import tokens
from heap.actors import Member
from heap.extensions import db
from heap.models import User
from ops.errors import DatabaseUnavailable, Problem, database_failure


class HeapGraphQLView(GraphQLView[Context, None]):
    def get_context(self, request: Request, response: Response) -> Context:
        viewer = _viewer(request)
        if viewer is None:
            return Context(viewer=None, account=None, actor=None)
        g.actor = Member(viewer)  # who asked, for the request's access log line
        return Context(viewer=viewer, account=viewer.account, actor=g.actor)

    def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """A resolver's database failure is a 503 for the whole request, not a masked error
        with HTTP 200: the front end retries after Retry-After (ops.errors answers it)."""
        failure = database_failure()
        if result.errors and failure is not None:
            raise DatabaseUnavailable("the database failed during a resolver") from failure
        return super().process_result(request, result)


def error_response(problem: Problem) -> Response:
    """A failure outside the resolvers (bad URL or method, database down) as GraphQL JSON."""
    body = {
        "data": None,
        "errors": [
            {
                "message": problem.message,
                "extensions": {"code": problem.code, "requestId": g.get("request_id")},
            }
        ],
    }
    response = Response(json.dumps(body), status=problem.status, mimetype="application/json")
    response.headers.update(problem.headers)
    return response


def _viewer(request: Request) -> User | None:
    """The active user a valid, unexpired viewer token names; None for anything else."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    user_id = tokens.read_viewer_token(
        current_app.config["SECRET_KEY"],
        token.strip(),
        max_age=int(current_app.config["VIEWER_TOKEN_MAX_AGE"]),
    )
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    # A deactivated teammate's token dies with their access, however long it had left.
    return user if user is not None and user.is_active else None
