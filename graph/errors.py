"""Refusals on the wire: ``userErrors`` for what the user can fix, top-level errors for the rest.

Two closed lists, both documented in the README's GraphQL section:
- ``userErrors { code }`` is ``heap.errors.ErrorCode``, published as a GraphQL enum: the SCIM
  door, the CLI and this door speak the same list. ``RENDERING`` places every code, top-level
  or in ``userErrors``; a new code fails the import until it is placed.
- A top-level error's ``extensions.code`` is a ``TopLevelCode``: ``PublicError`` and
  ``wire.error_response`` take nothing else, so a free-form string does not type-check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Final, Literal

import strawberry
from flask import g, has_request_context
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from heap.errors import ErrorCode, HeapError, require_every_code
from ops.errors import is_unavailable

log = logging.getLogger(__name__)

# Registers heap's enum with Strawberry in place (it returns the same class): fields annotated
# ``ErrorCode`` publish it.
strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description="Why Heap refused a change; the same codes as the SCIM API and the CLI.",
)


class TopLevelCode(StrEnum):
    """Every ``extensions.code`` of a top-level error from /graphql (``data`` is null, or the
    field is): the front end can switch on these and nothing else.

    Refusals of the caller, not of the input (HTTP 200 unless said):
    - UNAUTHENTICATED: no viewer token, or a bad, expired or dead one: sign in again.
    - FORBIDDEN: only an Admin may do this (HTTP 403 when gunicorn refuses the connection).
    Refusals of the request as written, fixed in the front end's code:
    - BAD_USER_INPUT: an argument is not what this API handed out (a cursor, a filter id) or out
      of range (a negative ``first``).
    - QUERY_TOO_DEEP, TOO_MANY_ALIASES, QUERY_TOO_COSTLY: over a limit checked before anything
      runs; the message says which limit, and by how much.
    - BAD_REQUEST (HTTP 400): not one JSON object of UTF-8 text with a ``query`` string.
    - NOT_FOUND (404): no such path under /graphql. METHOD_NOT_ALLOWED (405): not GET or POST.
    - REQUEST_ENTITY_TOO_LARGE (413): the body is over ``MAX_CONTENT_LENGTH``.
    - URI_TOO_LONG (414), HEADERS_TOO_LARGE (431), EXPECTATION_FAILED (417), NOT_IMPLEMENTED
      (501): answered by gunicorn before the app sees the request.
    Retry later, unchanged:
    - RATE_LIMITED (429): over the per-viewer rate limit; wait ``Retry-After`` seconds.
    - SERVICE_UNAVAILABLE (503): the database is not answering; wait ``Retry-After`` seconds.
    - INTERNAL_SERVER_ERROR: Heap's bug; ``extensions.requestId`` is the id to quote to support.
    """

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    REQUEST_ENTITY_TOO_LARGE = "REQUEST_ENTITY_TOO_LARGE"
    URI_TOO_LONG = "URI_TOO_LONG"
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
    EXPECTATION_FAILED = "EXPECTATION_FAILED"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    RATE_LIMITED = "RATE_LIMITED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


USER_ERRORS: Final = "userErrors"

# Where each refusal reaches the client: in the mutation payload's ``userErrors`` under its own
# code, or as a top-level error when the caller, not the input, is at fault.
RENDERING: dict[ErrorCode, TopLevelCode | Literal["userErrors"]] = {
    ErrorCode.UNAUTHENTICATED: TopLevelCode.UNAUTHENTICATED,
    ErrorCode.FORBIDDEN: TopLevelCode.FORBIDDEN,
    ErrorCode.NOT_FOUND: USER_ERRORS,
    ErrorCode.INVALID: USER_ERRORS,
    ErrorCode.ALREADY_EXISTS: USER_ERRORS,
    ErrorCode.EMAIL_IN_OTHER_ACCOUNT: USER_ERRORS,
    ErrorCode.EMAIL_UNAVAILABLE: USER_ERRORS,
    ErrorCode.DOMAIN_VERIFIED_ELSEWHERE: USER_ERRORS,
    ErrorCode.PLAN_REQUIRED: USER_ERRORS,
    ErrorCode.SSO_REQUIRED: USER_ERRORS,
    ErrorCode.SCIM_NOT_ENABLED: USER_ERRORS,
    ErrorCode.SCIM_ALREADY_ENABLED: USER_ERRORS,
    ErrorCode.SCIM_MANAGED: USER_ERRORS,
    ErrorCode.TEAM_SCIM_MANAGED: USER_ERRORS,
    ErrorCode.TEAM_NOT_LINKED: USER_ERRORS,
    ErrorCode.LAST_ADMIN: USER_ERRORS,
    ErrorCode.ROLE_BUILT_IN: USER_ERRORS,
    ErrorCode.ROLE_IN_USE: USER_ERRORS,
    ErrorCode.ROLE_IS_SCIM_DEFAULT: USER_ERRORS,
    ErrorCode.TOKEN_REVOKED: USER_ERRORS,
    # A lock lost to a concurrent change: the front end offers to try again.
    ErrorCode.BUSY: USER_ERRORS,
}
require_every_code(RENDERING, "graph.errors.RENDERING")

# HTTP statuses of errors answered outside the resolvers (ops.errors' problems, Strawberry's own
# refusals), as top-level codes. Other statuses are rare enough for their class's code.
_FOR_STATUS = {
    400: TopLevelCode.BAD_REQUEST,
    401: TopLevelCode.UNAUTHENTICATED,
    403: TopLevelCode.FORBIDDEN,
    404: TopLevelCode.NOT_FOUND,
    405: TopLevelCode.METHOD_NOT_ALLOWED,
    413: TopLevelCode.REQUEST_ENTITY_TOO_LARGE,
    414: TopLevelCode.URI_TOO_LONG,
    417: TopLevelCode.EXPECTATION_FAILED,
    429: TopLevelCode.RATE_LIMITED,
    431: TopLevelCode.HEADERS_TOO_LARGE,
    500: TopLevelCode.INTERNAL_SERVER_ERROR,
    501: TopLevelCode.NOT_IMPLEMENTED,
    503: TopLevelCode.SERVICE_UNAVAILABLE,
}


def code_for_status(status: int) -> TopLevelCode:
    """The top-level code of an HTTP error status: its own, else BAD_REQUEST for a 4xx and
    INTERNAL_SERVER_ERROR for a 5xx."""
    fallback = TopLevelCode.BAD_REQUEST if status < 500 else TopLevelCode.INTERNAL_SERVER_ERROR
    return _FOR_STATUS.get(status, fallback)


class PublicError(GraphQLError):
    """A top-level error meant for the client: never masked, carries ``extensions.code``."""

    def __init__(self, message: str, *, code: TopLevelCode) -> None:
        super().__init__(message, extensions={"code": code.value})


@strawberry.type(description="A refusal the user can act on, for one input field or none.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable, machine-readable reason.")
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, relative to `input`; null if none."
    )
    message: str = strawberry.field(description="What went wrong, for people: copy, not API.")


def refusal(error: HeapError) -> PublicError:
    """The top-level error for a refusal ``RENDERING`` sends top-level."""
    code = RENDERING[error.code]
    if not isinstance(code, TopLevelCode):
        raise ValueError(f"{error.code} belongs in userErrors, not at the top level")
    return PublicError(error.message, code=code)


def user_errors(error: HeapError) -> list[UserError]:
    """The payload's ``userErrors``: the refusal and every other found with it, in order.

    FORBIDDEN and UNAUTHENTICATED go top-level instead (``RENDERING``).
    """
    if RENDERING[error.code] != USER_ERRORS:
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
            extensions={
                "code": TopLevelCode.INTERNAL_SERVER_ERROR.value,
                "requestId": _request_id(),
            },
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
