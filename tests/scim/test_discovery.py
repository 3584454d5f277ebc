"""/ServiceProviderConfig, /ResourceTypes and /Schemas: honest, ListResponses, token required."""

# factory-boy factories are untyped (see the tests.factories override in pyproject.toml).
# mypy: disable-error-code="no-untyped-call,attr-defined"

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import json_of
from tests.factories import RoleFactory, scim_account

BASE = "http://localhost/scim/v2"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEAP_URN = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"
DOCS = "https://help.heap.io/hc/en-us/articles/scim-provisioning-with-okta"


@pytest.fixture
def headers(client: FlaskClient) -> dict[str, str]:
    account, token = scim_account()
    RoleFactory(account=account, name="Marketing")
    return {"Authorization": f"Bearer {token}"}


def get(client: FlaskClient, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    return client.get(f"/scim/v2{path}", headers=headers, **kwargs)


def test_service_provider_config_is_honest(client: FlaskClient, headers: dict[str, str]) -> None:
    response = get(client, "/ServiceProviderConfig", headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/scim+json"
    assert json_of(response) == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": DOCS,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 500},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The SCIM token generated in Heap's account settings.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "documentationUri": DOCS,
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{BASE}/ServiceProviderConfig",
        },
    }


def test_a_filter_on_discovery_is_403(client: FlaskClient, headers: dict[str, str]) -> None:
    for path in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
        response = get(client, path, headers, query_string={"filter": 'id eq "User"'})
        assert response.status_code == 403, path
        assert json_of(response) == {
            "schemas": [ERROR_URN],
            "status": "403",
            "detail": "Discovery endpoints don't support filtering.",
        }


USER_TYPE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
    "id": "User",
    "name": "User",
    "endpoint": "/Users",
    "description": "A Heap teammate",
    "schema": USER_URN,
    "schemaExtensions": [
        {"schema": ENTERPRISE_URN, "required": False},
        {"schema": HEAP_URN, "required": False},
    ],
    "meta": {"resourceType": "ResourceType", "location": f"{BASE}/ResourceTypes/User"},
}
GROUP_TYPE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
    "id": "Group",
    "name": "Group",
    "endpoint": "/Groups",
    "description": "A Heap team",
    "schema": GROUP_URN,
    "meta": {"resourceType": "ResourceType", "location": f"{BASE}/ResourceTypes/Group"},
}


def test_resource_types(client: FlaskClient, headers: dict[str, str]) -> None:
    assert json_of(get(client, "/ResourceTypes", headers)) == {
        "schemas": [LIST_URN],
        "totalResults": 2,
        "startIndex": 1,
        "itemsPerPage": 2,
        "Resources": [USER_TYPE, GROUP_TYPE],
    }
    assert json_of(get(client, "/ResourceTypes/User", headers)) == USER_TYPE
    missing = get(client, "/ResourceTypes/Device", headers)
    assert missing.status_code == 404
    assert json_of(missing) == {
        "schemas": [ERROR_URN],
        "status": "404",
        "detail": "No resource type 'Device'; there are User and Group.",
    }


def test_schemas_list_core_enterprise_and_heap_extension(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    listed = json_of(get(client, "/Schemas", headers))
    assert {k: v for k, v in listed.items() if k != "Resources"} == {
        "schemas": [LIST_URN],
        "totalResults": 4,
        "startIndex": 1,
        "itemsPerPage": 4,
    }
    assert [s["id"] for s in listed["Resources"]] == [USER_URN, GROUP_URN, ENTERPRISE_URN, HEAP_URN]
    roles = ["Admin", "Architect", "Analyst", "Consumer", "Marketing"]
    heap = json_of(get(client, f"/Schemas/{HEAP_URN}", headers))
    assert heap == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": HEAP_URN,
        "name": "HeapUser",
        "description": "Heap attributes of a user.",
        "attributes": [
            {
                "name": "heapRole",
                "type": "string",
                "multiValued": False,
                "description": (
                    "The user's Heap role: the exact name of a role of the Heap account (Admin, "
                    "Architect, Analyst, Consumer or a custom role). Empty means the account's "
                    "SCIM default role. Also accepted as a top-level attribute (Okta core "
                    "namespace) and as Entra's primary role. Read back, it is the user's current "
                    "Heap role."
                ),
                "required": False,
                "caseExact": True,
                "mutability": "readWrite",
                "returned": "default",
                "uniqueness": "none",
                "canonicalValues": roles,
            }
        ],
        "meta": {"resourceType": "Schema", "location": f"{BASE}/Schemas/{HEAP_URN}"},
    }
    user = json_of(get(client, f"/Schemas/{USER_URN}", headers))
    by_name = {a["name"]: a for a in user["attributes"]}
    assert by_name["userName"]["uniqueness"] == "server"
    assert by_name["userName"]["caseExact"] is False
    assert by_name["password"]["returned"] == "never"
    assert by_name["groups"]["mutability"] == "readOnly"
    role_value = next(s for s in by_name["roles"]["subAttributes"] if s["name"] == "value")
    assert role_value["canonicalValues"] == roles
    assert user["meta"] == {"resourceType": "Schema", "location": f"{BASE}/Schemas/{USER_URN}"}
    assert json_of(get(client, "/Schemas/urn:nope", headers))["status"] == "404"


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_discovery_refuses_writes_with_405(
    client: FlaskClient, headers: dict[str, str], path: str, method: str
) -> None:
    response = client.open(f"/scim/v2{path}", method=method, headers=headers, json={})
    assert response.status_code == 405
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "405",
        "detail": "This endpoint does not support that HTTP method.",
    }


def test_group_display_name_is_unique_as_the_server_enforces(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    group = json_of(get(client, f"/Schemas/{GROUP_URN}", headers))
    by_name = {a["name"]: a for a in group["attributes"]}
    assert by_name["displayName"]["uniqueness"] == "server"
    client.post("/scim/v2/Groups", headers=headers, json={"displayName": "Data"})
    again = client.post("/scim/v2/Groups", headers=headers, json={"displayName": "data"})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (
            "/Me",
            "/Me is not supported: a Heap SCIM token belongs to the identity provider, not to a"
            " user. Use /Users.",
        ),
        (
            "/Bulk",
            "Bulk operations are not supported (see /ServiceProviderConfig): send each request to"
            " /Users or /Groups.",
        ),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_me_and_bulk_are_501_not_implemented(
    client: FlaskClient, headers: dict[str, str], path: str, detail: str, method: str
) -> None:
    """RFC 7644 §3.7 and §3.11: an unsupported endpoint is 501, not 404."""
    response = client.open(f"/scim/v2{path}", method=method, headers=headers, json={})
    assert response.status_code == 501
    assert json_of(response) == {"schemas": [ERROR_URN], "status": "501", "detail": detail}
    assert client.open(f"/scim/v2{path}", method=method).status_code == 401


def test_discovery_requires_a_token(client: FlaskClient, headers: dict[str, str]) -> None:
    assert client.get("/scim/v2/ServiceProviderConfig").status_code == 401
