"""Every refusal has a deliberate answer in each door, and GraphQL's top-level codes are one list.

``heap.errors.ErrorCode`` is the domain's list of refusals. The SCIM door maps each code to an
HTTP status and an RFC 7644 §3.12 ``scimType``; the GraphQL door renders each one top-level or in
``userErrors``. Both tables are total (a missing code fails their import); these tests pin what
each code answers and check that what the doors can emit is what the README documents.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from heap.errors import ErrorCode, HeapError
from scim.errors import STATUSES, heap_error
from tests.conftest import json_of

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"

# RFC 7644 §3.12, Table 9.
SCIM_TYPES = {
    "invalidFilter",
    "tooMany",
    "uniqueness",
    "mutability",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "invalidValue",
    "invalidVers",
    "sensitive",
}

# What an IdP is told for each refusal, decided code by code (see scim/errors.py for why).
SCIM_ANSWERS: dict[ErrorCode, tuple[int, str | None]] = {
    ErrorCode.NOT_FOUND: (404, None),
    ErrorCode.INVALID: (400, "invalidValue"),
    ErrorCode.ALREADY_EXISTS: (409, "uniqueness"),
    ErrorCode.EMAIL_IN_OTHER_ACCOUNT: (409, "uniqueness"),
    ErrorCode.EMAIL_UNAVAILABLE: (409, "uniqueness"),
    ErrorCode.DOMAIN_VERIFIED_ELSEWHERE: (409, "uniqueness"),
    ErrorCode.UNAUTHENTICATED: (401, None),
    ErrorCode.FORBIDDEN: (403, None),
    ErrorCode.PLAN_REQUIRED: (403, None),
    ErrorCode.SSO_REQUIRED: (403, None),
    ErrorCode.SCIM_NOT_ENABLED: (403, None),
    ErrorCode.SCIM_ALREADY_ENABLED: (409, None),
    ErrorCode.SCIM_MANAGED: (403, None),
    ErrorCode.TEAM_SCIM_MANAGED: (403, None),
    ErrorCode.TEAM_NOT_LINKED: (403, None),
    ErrorCode.LAST_ADMIN: (409, None),
    ErrorCode.ROLE_BUILT_IN: (400, "mutability"),
    ErrorCode.ROLE_IN_USE: (409, None),
    ErrorCode.ROLE_IS_SCIM_DEFAULT: (409, None),
    ErrorCode.TOKEN_REVOKED: (409, None),
    ErrorCode.BUSY: (429, None),
}


def _error_classes() -> dict[ErrorCode, type[HeapError]]:
    classes: dict[ErrorCode, type[HeapError]] = {}
    for cls in HeapError.__subclasses__():
        assert cls.code not in classes, f"{cls.code} is raised by two classes"
        classes[cls.code] = cls
    return classes


ERROR_CLASSES = _error_classes()


def test_every_code_has_one_error_class() -> None:
    assert set(ERROR_CLASSES) == set(ErrorCode)


# ---- SCIM ----------------------------------------------------------------------------------------


def test_every_code_has_an_explicit_scim_status_and_scim_type() -> None:
    assert set(STATUSES) == set(ErrorCode)
    assert STATUSES == SCIM_ANSWERS
    for code, (status, scim_type) in STATUSES.items():
        assert status in {400, 401, 403, 404, 409, 429}, code
        # RFC 7644 §3.12: scimType values are 400s, but for uniqueness, which is a 409.
        if scim_type is not None:
            assert scim_type in SCIM_TYPES, code
            assert status == (409 if scim_type == "uniqueness" else 400), code
        assert status != 400 or scim_type is not None, f"{code}: a 400 says which scimType"


@pytest.mark.parametrize("code", list(ErrorCode))
def test_each_code_leaves_the_scim_door_as_an_rfc_7644_error(app: Flask, code: ErrorCode) -> None:
    status, scim_type = SCIM_ANSWERS[code]
    with app.test_request_context("/scim/v2/Users"):
        response = heap_error(ERROR_CLASSES[code]("What to do about it."))
    expected: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status)}
    if scim_type is not None:
        expected["scimType"] = scim_type
    assert response.status_code == status
    assert json_of(response) == {**expected, "detail": "What to do about it."}
    retry = {429: "1"}.get(status)
    assert response.headers.get("Retry-After") == retry
    assert ("WWW-Authenticate" in response.headers) == (status == 401)
