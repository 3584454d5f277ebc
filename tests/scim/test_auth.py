"""Bearer-token authentication and the plan / SCIM-off gate, as Okta's "Test API Credentials"
sees them."""

# factory-boy factories are untyped (see the tests.factories override in pyproject.toml).
# mypy: disable-error-code="no-untyped-call,attr-defined"

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from heap.extensions import db
from heap.models import Plan, utcnow
from tests.conftest import json_of
from tests.factories import ScimTokenFactory, scim_account

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
BAD_TOKEN = (
    "The bearer token is missing or not valid. Copy the SCIM token from Heap (Account > Manage > "
    "Account settings) into your identity provider's API token field."
)
NO_BEARER = (
    "Send the SCIM token from Heap as 'Authorization: Bearer <token>' (in Okta: the API Token "
    "field of the Provisioning tab)."
)
ENDPOINTS = [
    "/Users",
    "/Users/some-id",
    "/Groups",
    "/ServiceProviderConfig",
    "/Schemas",
    "/ResourceTypes",
]


def error(status: int, detail: str) -> dict[str, object]:
    return {"schemas": [ERROR_URN], "status": str(status), "detail": detail}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, NO_BEARER),
        ("Basic dXNlcjpwYXNz", NO_BEARER),
        ("Bearer ", NO_BEARER),
        ("Bearer heapscim_not-a-real-token", BAD_TOKEN),
        ("Bearer something-else", BAD_TOKEN),
    ],
)
def test_missing_or_unknown_token_is_401_with_www_authenticate(
    client: FlaskClient, path: str, authorization: str | None, detail: str
) -> None:
    scim_account()
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get(f"/scim/v2{path}", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Heap SCIM"'
    assert response.headers["Content-Type"] == "application/scim+json"
    assert json_of(response) == error(401, detail)


def test_revoked_token_is_401_and_says_so(client: FlaskClient) -> None:
    account, token = scim_account()
    other = ScimTokenFactory(account=account)
    other.revoked_at = utcnow()
    db.session.commit()
    response = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {other.raw}"})
    assert response.status_code == 401
    assert json_of(response) == error(
        401,
        "This SCIM token was revoked. Generate a new token in Heap and paste it into your "
        "identity provider's API token field.",
    )
    ok = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


def test_account_off_premier_is_403_with_the_reason(client: FlaskClient) -> None:
    account, token = scim_account()
    account.plan = Plan.PRO.value
    db.session.commit()
    response = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert json_of(response) == error(
        403,
        "SCIM provisioning needs the Premier plan; this account is on Pro. Contact your Customer "
        "Success Manager to upgrade.",
    )


def test_scim_turned_off_is_403_with_the_reason(client: FlaskClient) -> None:
    account, token = scim_account()
    account.scim_enabled = False
    db.session.commit()
    response = client.post(
        "/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}, json={"userName": "a@b.co"}
    )
    assert response.status_code == 403
    assert json_of(response) == error(
        403,
        "SCIM provisioning is turned off for this account. An Admin can enable it in Heap under "
        "Account > Manage > Account settings.",
    )
