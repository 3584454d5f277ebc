"""Transport: media types, error bodies, request ids, unknown URLs and methods, rate limits."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import TEST_SECRET_KEY, json_of
from tests.factories import scim_account

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
BODY = b'{"userName": "a@example.com", "name": {"givenName": "A", "familyName": "B"}}'


@pytest.fixture
def token(client: FlaskClient) -> str:
    return scim_account()[1]


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/scim+json; charset=utf-8",  # Okta
        "application/scim+json",
        "application/json",  # Okta's spec test
        "text/plain",  # lenient: a body that parses as JSON is accepted
        None,
    ],
)
def test_bodies_are_accepted_whatever_the_json_content_type(
    client: FlaskClient, token: str, content_type: str | None
) -> None:
    headers = auth(token, **({"Content-Type": content_type} if content_type else {}))
    response = client.post("/scim/v2/Users", data=BODY, headers=headers)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/scim+json"
    assert json_of(response)["userName"] == "a@example.com"


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"userName=a@example.com", "The request body is not valid JSON."),
        (b"", "The request has no body; send a JSON object."),
        (b'{"userName": NaN}', "The request body is not valid JSON."),
        (b"\xff\xfe", "The request body is not valid JSON."),
        (b"[" * 100 + b"]" * 100, "The body nests deeper than 64 levels."),
        (
            b'{"userName": "a\\u0000@example.com"}',
            "userName: the text contains a NUL character or an unpaired UTF-16 surrogate (a value"
            " cut in the middle of a character). Send valid Unicode text.",
        ),
    ],
)
def test_non_json_bodies_are_400_invalid_syntax(
    client: FlaskClient, token: str, data: bytes, detail: str
) -> None:
    response = client.post(
        "/scim/v2/Users", data=data, headers=auth(token, **{"Content-Type": "application/json"})
    )
    assert response.status_code == 400
    scim_type = "invalidValue" if "NUL" in detail else "invalidSyntax"
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "400",
        "scimType": scim_type,
        "detail": detail,
    }


def test_a_body_that_is_not_an_object_is_400(client: FlaskClient, token: str) -> None:
    response = client.post("/scim/v2/Users", json=["a@example.com"], headers=auth(token))
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "400",
        "scimType": "invalidSyntax",
        "detail": "The body must be a JSON object (a User resource).",
    }


def test_schema_violations_are_400_invalid_value(client: FlaskClient, token: str) -> None:
    response = client.post(
        "/scim/v2/Users", json={"userName": 5, "emails": "x"}, headers=auth(token)
    )
    assert response.status_code == 400
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "400",
        "scimType": "invalidValue",
        "detail": "userName: Not a valid string. emails: Not a valid list.",
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/scim/v2/Users", 200),
        ("GET", "/scim/v2/Nope", 404),
        ("GET", "/scim/v2/Users/unknown", 404),
        ("PUT", "/scim/v2/Users", 405),
        ("GET", "/scim/v2", 404),
    ],
)
def test_every_response_has_a_request_id(
    client: FlaskClient, token: str, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method, headers=auth(token))
    assert response.status_code == status
    assert len(response.headers["X-Request-Id"]) == 32
    sent = client.open(path, method=method, headers=auth(token, **{"X-Request-Id": "okta-req-1"}))
    assert sent.headers["X-Request-Id"] == "okta-req-1"


def test_unknown_urls_and_methods_under_scim_get_scim_error_bodies(
    client: FlaskClient, token: str
) -> None:
    unknown = client.get("/scim/v2/Devices", headers=auth(token))
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/scim+json"
    assert json_of(unknown) == {
        "schemas": [ERROR_URN],
        "status": "404",
        "detail": "No such SCIM endpoint. The base URL ends in /scim/v2; resources are /Users, "
        "/Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas.",
    }
    wrong = client.delete("/scim/v2/Users", headers=auth(token))
    assert wrong.status_code == 405
    assert json_of(wrong) == {
        "schemas": [ERROR_URN],
        "status": "405",
        "detail": "This endpoint does not support that HTTP method.",
    }
    cross = client.post("/scim/v2/.search", json={}, headers=auth(token))
    assert (cross.status_code, json_of(cross)["status"]) == (501, "501")
    # Outside /scim/v2 no SCIM body, but no HTML page either (tests/test_error_pages.py).
    elsewhere = client.get("/nope")
    assert elsewhere.headers["Content-Type"] == "application/json"
    assert "schemas" not in json_of(elsewhere)


def test_users_search_by_post(client: FlaskClient, token: str) -> None:
    client.post("/scim/v2/Users", data=BODY, headers=auth(token))
    response = client.post(
        "/scim/v2/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName eq "A@example.com"',
            "attributes": ["userName"],
            "startIndex": 1,
            "count": 10,
        },
        headers=auth(token),
    )
    got = json_of(response)
    assert got["totalResults"] == 1
    assert got["Resources"] == [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": got["Resources"][0]["id"],
            "userName": "a@example.com",
        }
    ]


SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_search_request_nulls_mean_not_sent_and_numbers_may_be_whole_floats(
    client: FlaskClient, token: str, resource: str
) -> None:
    client.post("/scim/v2/Users", data=BODY, headers=auth(token))
    client.post("/scim/v2/Groups", json={"displayName": "Search"}, headers=auth(token))
    body = {
        "schemas": [SEARCH_URN],
        "filter": None,
        "count": 10.0,
        "startIndex": None,
        "attributes": None,
        "excludedAttributes": ["meta"],
    }
    response = client.post(f"/scim/v2/{resource}/.search", json=body, headers=auth(token))
    got = json_of(response)
    assert response.status_code == 200, got
    assert (got["totalResults"], got["startIndex"], got["itemsPerPage"]) == (1, 1, 1)
    assert "meta" not in got["Resources"][0]


@pytest.mark.parametrize("resource", ["Users", "Groups"])
@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"count": True},
            "count must be a string, a whole number or a list of strings, got True.",
        ),
        (
            {"startIndex": 1.5},
            "startIndex must be a string, a whole number or a list of strings, got 1.5.",
        ),
        (
            {"filter": {"userName": "a"}},
            "filter must be a string, a whole number or a list of strings, got {'userName': 'a'}.",
        ),
        ({"attributes": ["userName", 5]}, "attributes must be a list of attribute names."),
    ],
)
def test_search_request_values_that_are_no_parameter_are_400(
    client: FlaskClient, token: str, resource: str, body: dict[str, Any], detail: str
) -> None:
    response = client.post(f"/scim/v2/{resource}/.search", json=body, headers=auth(token))
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "400",
        "scimType": "invalidValue",
        "detail": detail,
    }


def test_groups_search_by_post(client: FlaskClient, token: str) -> None:
    client.post("/scim/v2/Groups", json={"displayName": "Data Team"}, headers=auth(token))
    client.post("/scim/v2/Groups", json={"displayName": "Other"}, headers=auth(token))
    response = client.post(
        "/scim/v2/Groups/.search",
        json={
            "schemas": [SEARCH_URN],
            "filter": 'displayName eq "data team"',
            "attributes": ["displayName"],
            "count": 5,
        },
        headers=auth(token),
    )
    got = json_of(response)
    assert got["totalResults"] == 1
    resource = got["Resources"][0]
    assert resource == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": resource["id"],
        "displayName": "Data Team",
    }


def test_an_unexpected_failure_is_a_500_with_a_request_id_and_no_trace(
    capfd: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # A real failure, no mock: a database nobody migrated has no tables (a bug in the
    # deployment, not an outage: retrying will not help).
    broken = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'unmigrated.db'}",
            "SECRET_KEY": TEST_SECRET_KEY,
        }
    )
    response = broken.test_client().get(
        "/scim/v2/Users",
        headers={"Authorization": "Bearer heapscim_x", "X-Request-Id": "trace-me-123"},
    )
    assert response.status_code == 500
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "500",
        "detail": "Heap could not complete this request. Quote request id trace-me-123 to Heap "
        "support.",
    }
    assert "Traceback" not in response.get_data(as_text=True)
    assert "trace-me-123" in capfd.readouterr().err


def test_rate_limit_is_429_with_retry_after_and_a_scim_body(app: Flask) -> None:
    limited = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": TEST_SECRET_KEY,
            "SCIM_RATE_LIMIT": "2 per minute",
            "PUBLIC_BASE_URL": "http://localhost",
        }
    )
    _, token = scim_account()
    client = limited.test_client()
    statuses = [client.get("/scim/v2/Users", headers=auth(token)).status_code for _ in range(2)]
    response = client.get("/scim/v2/Users", headers=auth(token))
    assert statuses == [200, 200]
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    body = json_of(response)
    assert body == {
        "schemas": [ERROR_URN],
        "status": "429",
        "detail": "Too many requests for this SCIM token (2 per 1 minute). "
        f"Retry after {retry_after} seconds.",
    }
    # Another token has its own budget.
    _, other = scim_account()
    assert client.get("/scim/v2/Users", headers=auth(other)).status_code == 200


def test_an_unreachable_rate_limit_store_never_fails_provisioning(app: Flask) -> None:
    # Nothing listens on port 1: every call to the limiter's storage fails.
    unreachable = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": TEST_SECRET_KEY,
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1",
        }
    )
    _, token = scim_account()
    response = unreachable.test_client().get("/scim/v2/Users", headers=auth(token))
    assert response.status_code == 200
