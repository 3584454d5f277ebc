"""Top-level refusals: no valid viewer token (UNAUTHENTICATED), not an Admin (FORBIDDEN)."""

from __future__ import annotations

from graph.context import Info, Session
from graph.errors import PublicError, TopLevelCode, refusal
from heap import policy
from heap.errors import HeapError

UNAUTHENTICATED_MESSAGE = (
    "Send a valid viewer token as 'Authorization: Bearer <token>' "
    "(mint one with `.venv/bin/flask --app app users token EMAIL`)."
)


def require_viewer(info: Info) -> Session:
    """The signed-in viewer, or a top-level UNAUTHENTICATED error."""
    context = info.context
    if context.viewer is None or context.account is None or context.actor is None:
        raise PublicError(UNAUTHENTICATED_MESSAGE, code=TopLevelCode.UNAUTHENTICATED)
    return Session(viewer=context.viewer, account=context.account, actor=context.actor)


def require_admin(info: Info) -> Session:
    """The viewer, if heap.policy says they are an Admin; else a top-level FORBIDDEN error."""
    session = require_viewer(info)
    try:
        policy.ensure_admin(session.actor)
    except HeapError as error:
        raise refusal(error) from error
    return session
