"""Every failure under /scim/v2 leaves as an RFC 7644 §3.12 error body, never a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from heap.errors import ErrorCode, HeapError, require_every_code
from ops.errors import Problem, register_shape
from ops.limits import RateLimited
from scim import bp
from scim.auth import AUTH_FAILURES
from scim.constants import MAX_ERROR_PROBLEMS
from scim.filters import FilterError
from scim.patch import PatchError
from scim.responses import error_response

# Every ErrorCode as (HTTP status, scimType), chosen one by one from RFC 7644 §3.12: 400 with a
# scimType for a value the IdP can correct, 401 for the token, 403 for what this account or SCIM
# mode does not allow, 404, 409 for a clash with what exists, 429 for a retry. The check below
# makes a new code fail the import until it has a row here: no default answers for it.
STATUSES: dict[ErrorCode, tuple[int, str | None]] = {
    ErrorCode.NOT_FOUND: (404, None),
    ErrorCode.INVALID: (400, "invalidValue"),
    ErrorCode.ALREADY_EXISTS: (409, "uniqueness"),
    ErrorCode.EMAIL_IN_OTHER_ACCOUNT: (409, "uniqueness"),
    # Heap's in-app answer for an address held elsewhere; were it ever raised for the IdP, it
    # is the same clash as EMAIL_IN_OTHER_ACCOUNT.
    ErrorCode.EMAIL_UNAVAILABLE: (409, "uniqueness"),
    # RFC 7644 §3.12 uniqueness: a value "already in use or reserved"; the domain is reserved.
    ErrorCode.DOMAIN_VERIFIED_ELSEWHERE: (409, "uniqueness"),
    ErrorCode.UNAUTHENTICATED: (401, None),
    ErrorCode.FORBIDDEN: (403, None),
    ErrorCode.PLAN_REQUIRED: (403, None),
    ErrorCode.SSO_REQUIRED: (403, None),
    ErrorCode.SCIM_NOT_ENABLED: (403, None),
    # Settings changes are not SCIM's, but the codes are total: a change that conflicts with the
    # account's current state is a 409 without scimType (no attribute value is at fault).
    ErrorCode.SCIM_ALREADY_ENABLED: (409, None),
    ErrorCode.SCIM_MANAGED: (403, None),
    ErrorCode.TEAM_SCIM_MANAGED: (403, None),
    ErrorCode.TEAM_NOT_LINKED: (403, None),
    ErrorCode.LAST_ADMIN: (409, None),
    # §3.12 mutability: "not compatible with the target attribute's mutability or current state".
    ErrorCode.ROLE_BUILT_IN: (400, "mutability"),
    ErrorCode.ROLE_IN_USE: (409, None),
    ErrorCode.ROLE_IS_SCIM_DEFAULT: (409, None),
    # Revoking a token twice; a request *with* a revoked token is UNAUTHENTICATED (401).
    ErrorCode.TOKEN_REVOKED: (409, None),
    # A lock lost to a concurrent change: nothing applied, the same request succeeds on retry.
    ErrorCode.BUSY: (429, None),
}
require_every_code(STATUSES, "scim.errors.STATUSES")


class ScimError(Exception):
    """A wire-level refusal: malformed body, unsupported parameter, bad path."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


@bp.errorhandler(HeapError)
def heap_error(error: HeapError) -> Response:
    status, scim_type = STATUSES[error.code]
    headers = {
        401: {"WWW-Authenticate": 'Bearer realm="Heap SCIM"'},
        # Okta and Entra retry a 429 after Retry-After on their own; a lost lock is transient.
        429: {"Retry-After": "1"},
    }.get(status)
    return error_response(status, error.message, scim_type=scim_type, headers=headers)


@bp.errorhandler(ScimError)
def scim_error(error: ScimError) -> Response:
    return error_response(error.status, error.detail, scim_type=error.scim_type)


@bp.errorhandler(FilterError)
def filter_error(error: FilterError) -> Response:
    return error_response(400, f"Invalid filter: {error.detail}.", scim_type="invalidFilter")


@bp.errorhandler(PatchError)
def patch_error(error: PatchError) -> Response:
    return error_response(400, f"Invalid PATCH: {error.detail}.", scim_type=error.scim_type)


@bp.errorhandler(ValidationError)
def validation_error(error: ValidationError) -> Response:
    return error_response(400, _flatten(error.messages), scim_type="invalidValue")


@bp.errorhandler(RateLimited)
def rate_limited(error: RateLimited) -> Response:
    # Okta reschedules the remaining work after Retry-After on its own; Entra backs off.
    retry_after = error.retry_after
    if error.scope == AUTH_FAILURES.scope:
        detail = (
            f"Too many failed authentications from this address ({error.description}). Check "
            "that the API token in your identity provider is the current SCIM token from Heap, "
            f"then retry after {retry_after} seconds."
        )
    else:
        detail = (
            f"Too many requests for this SCIM token ({error.description}). "
            f"Retry after {retry_after} seconds."
        )
    return error_response(429, detail, headers={"Retry-After": str(retry_after)})


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    detail = _HTTP_DETAILS.get(status, error.description or "The request could not be handled.")
    return error_response(status, detail, scim_type="invalidSyntax" if status == 400 else None)


def init_app(app: Flask) -> None:
    """Unrouted URLs, wrong methods, unexpected errors and database outages under /scim/v2 are
    decided by ops.errors (for every door alike) and answered here as SCIM errors (Okta shows
    the admin the body)."""
    register_shape(app, bp.url_prefix or "", _render)


def _render(problem: Problem) -> Response:
    detail = _HTTP_DETAILS.get(problem.status, problem.message)
    scim_type = "invalidSyntax" if problem.status == 400 else None
    return error_response(problem.status, detail, scim_type=scim_type, headers=problem.headers)


_HTTP_DETAILS = {
    404: "No such SCIM endpoint. The base URL ends in /scim/v2; resources are /Users, "
    "/Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas.",
    405: "This endpoint does not support that HTTP method.",
    413: "The request body is too large.",
    415: "Send the body as application/scim+json or application/json.",
}


def _flatten(messages: object) -> str:
    """marshmallow's nested messages as one sentence per field: the first few, and a count of
    the rest, so the body stays small however many values were wrong."""
    problems = list(_problems(messages, ""))
    shown = " ".join(problems[:MAX_ERROR_PROBLEMS])
    more = len(problems) - MAX_ERROR_PROBLEMS
    return f"{shown} ({more} more problems not shown.)" if more > 0 else shown


def _problems(messages: object, prefix: str) -> Iterator[str]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            step = f"{prefix.rstrip('.')}[{key}]." if isinstance(key, int) else f"{prefix}{key}."
            yield from _problems(value, step)
    elif isinstance(messages, list) and all(not isinstance(m, dict | list) for m in messages):
        text = " ".join(str(message) for message in messages)
        yield f"{prefix.rstrip('.')}: {text}" if prefix else text
    elif isinstance(messages, list):
        for message in messages:
            yield from _problems(message, prefix)
    else:
        yield f"{prefix.rstrip('.')}: {messages}" if prefix else str(messages)
