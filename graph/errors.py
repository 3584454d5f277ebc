"""Refusals on the wire: ``userErrors`` for what the user can fix, top-level errors for the rest.

The codes are ``heap.errors.ErrorCode``, published as a GraphQL enum: the SCIM door, the CLI and
this door speak the same list, and a new code in heap/ appears here without a change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from flask import g, has_request_context
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from heap.errors import ErrorCode, HeapError
from ops.errors import is_unavailable

log = logging.getLogger(__name__)

# Registers heap's enum with Strawberry in place (it returns the same class): fields annotated
# ``ErrorCode`` publish it.
strawberry.enum(
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
    """The payload's ``userErrors``: the refusal and every other found with it, in order.

    FORBIDDEN and UNAUTHENTICATED go top-level instead.
    """
    if error.code in _TOP_LEVEL:
        raise refusal(error) from error
    return [
        UserError(
            code=each.code,
            field=each.field.split(".") if each.field else None,
            message=each.message,
        )
        for each in error.every()
    ]


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


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class MaskUnexpectedErrors(MaskErrors):
    """``MaskErrors`` whose masked errors carry the request id, to quote to Heap support."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask_error)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": _request_id()},
        )


def log_errors(errors: list[GraphQLError]) -> None:
    """Unexpected errors with their traceback (the log line carries the request id); the rest,
    which the client is shown in full, only at debug level."""
    for error in errors:
        original = error.original_error
        if original is not None and is_unavailable(original):
            # Not our bug: the request answers 503 and ops.errors logs the outage once.
            log.debug("database unavailable at %s", error.path)
        elif should_mask_error(error):
            log.error("unexpected error at %s", error.path, exc_info=original)
        else:
            log.debug("refused at %s: %s", error.path, error.message)
