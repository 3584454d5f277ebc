"""The one shape of every mutation: an Admin, one service call, a payload with its refusals.

Every mutation changes settings, roles or teams, which only Admins do (SPEC §5). So the admin
check comes first, before any id is decoded, ``confirm`` read or target loaded: anyone else gets
a top-level FORBIDDEN and a null payload, never a ``userErrors`` entry about their input.

A resolver says only which service call to make and how its result fills the payload; what a
``HeapError`` becomes (``userErrors``, or a top-level error for FORBIDDEN and UNAUTHENTICATED)
is decided here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from graph.context import Info, Session
from graph.errors import UserError, user_errors
from graph.permissions import require_admin
from heap.errors import HeapError

R = TypeVar("R")
P = TypeVar("P")


def mutate(
    info: Info,
    change: Callable[[Session], R],
    payload: Callable[[R | None, list[UserError]], P],
) -> P:
    """Run ``change`` as the Admin viewer; ``payload`` gets its result, or None and the refusal."""
    session = require_admin(info)
    # The change may add or demote an Admin: viewerCannot*Reasons in the payload count afresh.
    info.context.forget_counts()
    try:
        done: R | None = change(session)
        errors: list[UserError] = []
    except HeapError as error:
        done, errors = None, user_errors(error)
    info.context.forget_counts()
    return payload(done, errors)
