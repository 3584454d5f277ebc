"""The Flask view: a viewer token on the request becomes the resolvers' ``Context``."""

from __future__ import annotations

from flask import Request, Response, current_app
from strawberry.flask.views import GraphQLView

from graph import graphiql
from graph.context import Context
from heap import tokens
from heap.actors import Member
from heap.extensions import db
from heap.models import User


class HeapGraphQLView(GraphQLView[Context, None]):
    def get_context(self, request: Request, response: Response) -> Context:
        viewer = _viewer(request)
        if viewer is None:
            return Context(viewer=None, account=None, actor=None)
        return Context(viewer=viewer, account=viewer.account, actor=Member(viewer))

    def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this service's own files, instead of Strawberry's page and its CDN."""
        return graphiql.page(endpoint=request.path)


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
