"""`emails` filters find a user by the Heap email or by the address the IdP sent.

Entra may send an email-shaped UPN as userName (which becomes the Heap email) and a different
work address; its uniqueness lookup `emails[type eq "work"].value eq "<work address>"` must still
find the user.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import json_of
from tests.factories import UserFactory, scim_account

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"


def _call(client: FlaskClient, token: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if "json" in kwargs:
        headers["Content-Type"] = "application/scim+json"
    return client.open(f"/scim/v2{path}", method=method, headers=headers, **kwargs)


def _found(client: FlaskClient, token: str, scim_filter: str) -> list[str]:
    response = _call(client, token, "GET", "/Users", query_string={"filter": scim_filter})
    assert response.status_code == 200, json_of(response)
    return [resource["userName"] for resource in json_of(response)["Resources"]]


@pytest.fixture
def entra(client: FlaskClient) -> tuple[FlaskClient, str]:
    account, token = scim_account()
    UserFactory.create(account=account, email="someone@example.com")
    body = {
        "schemas": [USER_URN],
        "userName": "ada@corp.onmicrosoft.com",
        "emails": [{"value": "Ada.Lovelace@example.com", "type": "work", "primary": True}],
        "active": True,
    }
    response = _call(client, token, "POST", "/Users", json=body)
    assert response.status_code == 201, json_of(response)
    return client, token


@pytest.mark.parametrize(
    "scim_filter",
    [
        'emails[type eq "work"].value eq "ada.lovelace@example.com"',
        'emails.value eq "Ada.Lovelace@EXAMPLE.com"',
        'emails[value eq "ada.lovelace@example.com"]',
        'emails[type eq "work"].value eq "ada@corp.onmicrosoft.com"',
        'emails.value co "lovelace"',
    ],
)
def test_the_sent_work_address_finds_the_user(
    entra: tuple[FlaskClient, str], scim_filter: str
) -> None:
    client, token = entra
    assert _found(client, token, scim_filter) == ["ada@corp.onmicrosoft.com"]


def test_other_addresses_find_nobody_and_negation_still_works(
    entra: tuple[FlaskClient, str],
) -> None:
    client, token = entra
    assert _found(client, token, 'emails.value eq "nobody@example.com"') == []
    # The teammate invited in Heap has no sent address: a negated filter still lists them.
    assert _found(client, token, 'not (emails.value eq "ada.lovelace@example.com")') == [
        "someone@example.com"
    ]
