"""Every refusal has a deliberate answer in each door, and GraphQL's top-level codes are one list.

``heap.errors.ErrorCode`` is the domain's list of refusals. The SCIM door maps each code to an
HTTP status and an RFC 7644 §3.12 ``scimType``; the GraphQL door renders each one top-level or in
``userErrors``. Both tables are total (a missing code fails their import); these tests pin what
each code answers and check that what the doors can emit is what the README documents.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from graphql import GraphQLEnumType, build_schema
from gunicorn.http import errors as gunicorn_errors

from graph import SCHEMA_FILE
from graph.errors import RENDERING, USER_ERRORS, PublicError, TopLevelCode, user_errors
from heap.errors import ErrorCode, HeapError
from ops import gunicorn_worker
from scim.errors import STATUSES, heap_error
from tests.conftest import json_of
from tests.factories import scim_account

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.mark.parametrize("value", ["5", "5.5", '"0001-01-01T00:00:00+01:00"', '"yesterday"'])
def test_a_date_time_filter_on_something_else_is_a_400_invalid_filter(
    app: Flask, value: str
) -> None:
    """A number or a moment outside the calendar, decided without catching TypeError."""
    _, token = scim_account()
    response = app.test_client().get(
        "/scim/v2/Users",
        query_string={"filter": f"meta.lastModified gt {value}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "400",
        "scimType": "invalidFilter",
        "detail": "Invalid filter: meta.lastModified is a date-time: use an ISO 8601 string "
        "such as 2024-01-31T12:00:00Z.",
    }


# ---- GraphQL: userErrors -------------------------------------------------------------------------


def _published_error_codes() -> set[str]:
    """The ErrorCode enum of the committed SDL, which the front end generates its types from."""
    enum = build_schema(SCHEMA_FILE.read_text()).get_type("ErrorCode")
    assert isinstance(enum, GraphQLEnumType)
    return set(enum.values)


def test_every_code_has_a_graphql_rendering() -> None:
    assert set(RENDERING) == set(ErrorCode)
    published = _published_error_codes()
    for code in ErrorCode:
        error = ERROR_CLASSES[code]("What to do about it.", field="input.name")
        rendering = RENDERING[code]
        if rendering == USER_ERRORS:
            [shown] = user_errors(error)
            assert (shown.code, shown.field, shown.message) == (
                code,
                ["input", "name"],
                "What to do about it.",
            )
            assert code.value in published
        else:
            with pytest.raises(PublicError) as raised:
                user_errors(error)
            assert raised.value.extensions == {"code": rendering.value}
            assert rendering in TopLevelCode


def test_only_the_caller_s_faults_are_top_level() -> None:
    top_level = {code for code, rendering in RENDERING.items() if rendering != USER_ERRORS}
    assert top_level == {ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN}


# ---- GraphQL: top-level codes --------------------------------------------------------------------


def _literal_codes(source: str) -> list[str]:
    """String literals given as a ``code=`` argument or a ``"code"`` key in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        values: list[ast.expr] = []
        if isinstance(node, ast.Call):
            values = [k.value for k in node.keywords if k.arg == "code"]
        elif isinstance(node, ast.Dict):
            values = [
                value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant) and key.value == "code"
            ]
        found.extend(
            ast.unparse(value)
            for value in values
            if isinstance(value, ast.JoinedStr)
            or (isinstance(value, ast.Constant) and isinstance(value.value, str))
        )
    return found


def test_the_literal_scan_finds_literals() -> None:
    """The scan below would find a code written as a string, in either form."""
    source = 'PublicError("m", code="OOPS")\nextensions = {"code": f"X{n}", "requestId": rid}\n'
    assert _literal_codes(source) == ["'OOPS'", "f'X{n}'"]
    assert _literal_codes("PublicError('m', code=TopLevelCode.BAD_REQUEST)") == []


def test_the_graphql_door_writes_no_code_as_a_string() -> None:
    """Typing makes ``PublicError`` and ``wire.error_response`` take a TopLevelCode; this catches
    a GraphQLError built by hand with a string in its extensions."""
    literals = {
        str(path.relative_to(ROOT)): _literal_codes(path.read_text())
        for path in sorted((ROOT / "graph").rglob("*.py"))
    }
    assert {path: codes for path, codes in literals.items() if codes} == {}


def _gunicorn_codes() -> set[str]:
    """Every code of the JSON errors gunicorn answers itself, which a GraphQL client may get."""
    refusals: list[BaseException] = [
        gunicorn_errors.LimitRequestLine(9000, 8190),
        gunicorn_errors.LimitRequestHeaders("too many headers"),
        gunicorn_errors.ForbiddenProxyRequest("192.0.2.1"),
        gunicorn_errors.UnsupportedTransferCoding("gzip"),
        gunicorn_errors.ExpectationFailed("100-wait"),
        gunicorn_errors.InvalidRequestMethod("BREW"),
        RuntimeError("a bug"),
    ]
    codes = {gunicorn_worker.classify(refusal, 8190)[2] for refusal in refusals}
    # The list above covers every class the worker names, and its two fallbacks.
    assert len(codes) == len(gunicorn_worker._CLIENT_ERRORS) + 2
    return codes


def test_every_code_gunicorn_answers_with_is_a_top_level_code() -> None:
    assert _gunicorn_codes() <= set(TopLevelCode)


def test_gunicorn_s_json_errors_carry_their_code() -> None:
    status, reason, code, message = gunicorn_worker.classify(
        gunicorn_errors.LimitRequestLine(9000, 8190), 8190
    )
    body = gunicorn_worker.error_bytes(status, reason, code, message).split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["errors"][0]["extensions"] == {"code": TopLevelCode.URI_TOO_LONG}


def _graphql_section(readme: str) -> str:
    start = readme.index("## GraphQL API")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def test_the_top_level_codes_are_documented() -> None:
    documented_in_readme = set(
        re.findall(r"`([A-Z_]+)`", _graphql_section((ROOT / "README.md").read_text()))
    )
    documented_in_code = set(re.findall(r"\b[A-Z][A-Z_]+[A-Z]\b", TopLevelCode.__doc__ or ""))
    for code in TopLevelCode:
        assert code.value in documented_in_readme, f"README's GraphQL section omits {code}"
        assert code.value in documented_in_code, f"TopLevelCode's docstring omits {code}"
