"""Domain errors. ``ErrorCode`` is the one list of codes both doors map to their wire format."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    EMAIL_IN_OTHER_ACCOUNT = "EMAIL_IN_OTHER_ACCOUNT"
    EMAIL_UNAVAILABLE = "EMAIL_UNAVAILABLE"
    DOMAIN_VERIFIED_ELSEWHERE = "DOMAIN_VERIFIED_ELSEWHERE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    PLAN_REQUIRED = "PLAN_REQUIRED"
    SSO_REQUIRED = "SSO_REQUIRED"
    SCIM_NOT_ENABLED = "SCIM_NOT_ENABLED"
    SCIM_ALREADY_ENABLED = "SCIM_ALREADY_ENABLED"
    SCIM_MANAGED = "SCIM_MANAGED"
    TEAM_SCIM_MANAGED = "TEAM_SCIM_MANAGED"
    TEAM_NOT_LINKED = "TEAM_NOT_LINKED"
    LAST_ADMIN = "LAST_ADMIN"
    ROLE_BUILT_IN = "ROLE_BUILT_IN"
    ROLE_IN_USE = "ROLE_IN_USE"
    ROLE_IS_SCIM_DEFAULT = "ROLE_IS_SCIM_DEFAULT"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    BUSY = "BUSY"


def require_every_code(table: Mapping[ErrorCode, object], door: str) -> None:
    """Fail at import when a door's table of codes misses one: a new code is placed on purpose
    (its status, its rendering), never answered by a default nobody chose."""
    missing = [code.value for code in ErrorCode if code not in table]
    if missing:
        raise LookupError(f"{door} has no entry for ErrorCode {', '.join(missing)}: add one.")


class HeapError(Exception):
    """A refusal the caller can act on. ``field`` names the input at fault, when there is one."""

    code: ClassVar[ErrorCode]

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # The other refusals of the same request, when a rule found several at once (see
        # heap.policy's ``*_refusals``): a door that can show a list shows every one.
        self.also: tuple[HeapError, ...] = ()

    def every(self) -> tuple[HeapError, ...]:
        """This refusal and the others found with it, in the rule's order."""
        return (self, *self.also)

    def __str__(self) -> str:
        return self.message


class NotFound(HeapError):
    code = ErrorCode.NOT_FOUND


class Invalid(HeapError):
    code = ErrorCode.INVALID


class AlreadyExists(HeapError):
    code = ErrorCode.ALREADY_EXISTS


class EmailInOtherAccount(HeapError):
    code = ErrorCode.EMAIL_IN_OTHER_ACCOUNT


class EmailUnavailable(HeapError):
    """An in-app invite of an address held elsewhere: one answer whatever the reason, so that
    an invite cannot tell whether an address has a Heap account."""

    code = ErrorCode.EMAIL_UNAVAILABLE


class DomainVerifiedElsewhere(HeapError):
    code = ErrorCode.DOMAIN_VERIFIED_ELSEWHERE


class Unauthenticated(HeapError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(HeapError):
    code = ErrorCode.FORBIDDEN


class PlanRequired(HeapError):
    code = ErrorCode.PLAN_REQUIRED


class SsoRequired(HeapError):
    code = ErrorCode.SSO_REQUIRED


class ScimNotEnabled(HeapError):
    code = ErrorCode.SCIM_NOT_ENABLED


class ScimAlreadyEnabled(HeapError):
    code = ErrorCode.SCIM_ALREADY_ENABLED


class ScimManaged(HeapError):
    code = ErrorCode.SCIM_MANAGED


class TeamScimManaged(HeapError):
    code = ErrorCode.TEAM_SCIM_MANAGED


class TeamNotLinked(HeapError):
    code = ErrorCode.TEAM_NOT_LINKED


class LastAdmin(HeapError):
    code = ErrorCode.LAST_ADMIN


class RoleBuiltIn(HeapError):
    code = ErrorCode.ROLE_BUILT_IN


class RoleInUse(HeapError):
    code = ErrorCode.ROLE_IN_USE


class RoleIsScimDefault(HeapError):
    code = ErrorCode.ROLE_IS_SCIM_DEFAULT


class TokenRevoked(HeapError):
    code = ErrorCode.TOKEN_REVOKED


class Busy(HeapError):
    """Lost a lock to a concurrent change (a deadlock, a lock wait that ran out): retry."""

    code = ErrorCode.BUSY
