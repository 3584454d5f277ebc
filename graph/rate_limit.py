"""The per-viewer rate limit on /graphql, counted in the app's one storage (ops/limits.py).

A request with a genuine viewer token counts against its user, whatever address it comes from;
any other request counts against its address. The key needs no SQL: the token's signature is
enough to know whose it is. Beyond ``GRAPHQL_RATE_LIMIT``: 429 with ``Retry-After`` and a
GraphQL-shaped body.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from flask import request
from flask.typing import ResponseReturnValue, RouteCallable

from graph import auth, wire
from graph.errors import TopLevelCode
from ops.limits import Limit, RateLimited


def rate_limit_key() -> str:
    claim = auth.read_claim(request)
    if claim is not None:
        return f"viewer:{claim.user_id}"
    return "addr:" + (request.remote_addr or "unknown")


PER_VIEWER = Limit("GRAPHQL_RATE_LIMIT", "graphql")


def limited(view: RouteCallable) -> Callable[..., ResponseReturnValue]:
    """``view`` behind the per-viewer limit, refusing in the GraphQL door's own shape."""
    # The view is Strawberry's sync Flask view; RouteCallable also allows async ones.
    sync_view = cast("Callable[..., ResponseReturnValue]", view)

    @wraps(view)
    def graphql(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            PER_VIEWER.hit(rate_limit_key())
        except RateLimited as refused:
            return wire.error_response(
                429,
                f"Too many requests ({refused.description}). Retry after {refused.retry_after} "
                "seconds.",
                code=TopLevelCode.RATE_LIMITED,
                headers={"Retry-After": str(refused.retry_after)},
            )
        return sync_view(*args, **kwargs)

    return graphql
