"""Refusals on the wire: ``userErrors`` for what the user can fix, top-level errors for the rest.

The codes are ``heap.errors.ErrorCode``, published as a GraphQL enum: the SCIM door, the CLI and
this door speak the same list, and a new code in heap/ appears here without a change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import strawberry
from graphql import GraphQLError

from graph.context import Info
from heap.errors import ErrorCode, HeapError

R = TypeVar("R")

ErrorCodeEnum = strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description="Why Heap refused a change; the same codes as the SCIM API and the CLI.",
)

# These never reach ``userErrors``: the caller, not the input, is at fault.
_TOP_LEVEL = {ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN}


class PublicError(GraphQLError):
    """A top-level error meant for the client: never masked, carries ``extensions.code``."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, extensions={"code": code})


@strawberry.type(description="A refusal the user can act on, for one input field or none.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable, machine-readable reason.")
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, relative to `input`; null if none."
    )
    message: str = strawberry.field(description="What went wrong, for people: copy, not API.")


def refusal(error: HeapError) -> PublicError:
    return PublicError(error.message, code=error.code.value)


def user_errors(error: HeapError) -> list[UserError]:
    """The payload's ``userErrors`` for a refusal; FORBIDDEN and UNAUTHENTICATED go top-level."""
    if error.code in _TOP_LEVEL:
        raise refusal(error) from error
    field = error.field.split(".") if error.field else None
    return [UserError(code=error.code, field=field, message=error.message)]


def attempt(info: Info, action: Callable[[], R]) -> tuple[R | None, list[UserError]]:
    """Run one service call; its result, or its refusal as ``userErrors``."""
    info.context.forget_counts()
    try:
        return action(), []
    except HeapError as error:
        return None, user_errors(error)
    finally:
        info.context.forget_counts()


def reasons(*checks: Callable[[], None]) -> list[ErrorCode]:
    """Which heap.policy checks refuse, as codes: the front end disables buttons with these."""
    found: list[ErrorCode] = []
    for check in checks:
        try:
            check()
        except HeapError as error:
            if error.code not in found:
                found.append(error.code)
    return found


def should_mask_error(error: GraphQLError) -> bool:
    """Mask unexpected exceptions only; validation errors and our own refusals stay readable."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)
