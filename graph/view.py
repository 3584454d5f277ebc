"""The Flask view: a viewer token on the request becomes the resolvers' ``Context``."""

from __future__ import annotations

from flask import Request, Response
from strawberry.flask.views import GraphQLView

from graph import auth
from graph.context import Context


class HeapGraphQLView(GraphQLView[Context, None]):
    def get_context(self, request: Request, response: Response) -> Context:
        # The viewer is read when a resolver first asks: a query refused before execution
        # (over the cost budget, say) issues no SQL at all.
        claim = auth.read_claim(request)
        return Context(load_viewer=lambda: auth.load_viewer(claim))
