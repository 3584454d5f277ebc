"""The per-viewer rate limit on /graphql, on the app's one Flask-Limiter (ops/limits.py).

A request with a genuine viewer token counts against its user, whatever address it comes from;
any other request counts against its address. The key needs no SQL: the token's signature is
enough to know whose it is. Beyond ``GRAPHQL_RATE_LIMIT``: 429 with ``Retry-After`` and a
GraphQL-shaped body.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from flask import current_app, request
from flask.typing import ResponseReturnValue, RouteCallable
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from graph import auth, wire
from graph.errors import TopLevelCode
from ops.limits import limiter, retry_after_seconds


def rate_limit_key() -> str:
    claim = auth.read_claim(request)
    if claim is not None:
        return f"graphql-viewer:{claim.user_id}"
    return "graphql-addr:" + get_remote_address()


def _configured_limit() -> str:
    return str(current_app.config["GRAPHQL_RATE_LIMIT"])


# One limit object for the process: the limiter files decorated limits by the view's name, and
# an equal object is filed once. A new one per app (tests build several) would count every
# request once per app built.
_PER_VIEWER = limiter.limit(_configured_limit, key_func=rate_limit_key)


def limited(view: RouteCallable) -> Callable[..., ResponseReturnValue]:
    """``view`` behind the per-viewer limit, refusing in the GraphQL door's own shape."""
    # The view is Strawberry's sync Flask view; RouteCallable also allows async ones.
    checked = _PER_VIEWER(cast("Callable[..., ResponseReturnValue]", view))

    @wraps(view)
    def graphql(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            return checked(*args, **kwargs)
        except RateLimitExceeded as exceeded:
            retry_after = retry_after_seconds()
            return wire.error_response(
                429,
                f"Too many requests ({exceeded.description}). Retry after {retry_after} seconds.",
                code=TopLevelCode.RATE_LIMITED,
                headers={"Retry-After": str(retry_after)},
            )

    return graphql
