"""Discovery (RFC 7644 §4): what this server supports, answered honestly.

Okta doesn't call these; Entra reads /Schemas for gallery apps, and generic SCIM clients (and
scim2-tester) build their models from them. Schemas and resource types are generated from the
attribute table (``scim.attributes``), the one description of every attribute the door serves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response, g, request

from heap.services import roles
from scim import bp
from scim.attributes import GROUPS, USERS, resource_type_document, schema_document
from scim.attributes import schemas as attribute_schemas
from scim.constants import MAX_COUNT, SERVICE_PROVIDER_CONFIG_URN, USER_URN
from scim.errors import ScimError
from scim.meta import location
from scim.params import filter_from
from scim.responses import list_response, scim_response

DOCS_URL = "https://help.heap.io/hc/en-us/articles/scim-provisioning-with-okta"


def _resource_types() -> list[dict[str, Any]]:
    return [
        {
            **resource_type_document(resource),
            "meta": {
                "resourceType": "ResourceType",
                "location": location(f"ResourceTypes/{resource.name}"),
            },
        }
        for resource in (USERS, GROUPS)
    ]


def _with_role_names(schema: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """``schema`` with this account's role names as the canonical values of the attributes that
    carry a Heap role: the Heap extension's ``heapRole`` and (Entra) ``roles.value``."""
    copied: dict[str, Any] = json.loads(json.dumps(schema))
    for attribute in copied["attributes"]:
        if attribute["name"] == "heapRole":
            attribute["canonicalValues"] = names
        if schema["id"] == USER_URN and attribute["name"] == "roles":
            for sub in attribute.get("subAttributes", ()):
                if sub["name"] == "value":
                    sub["canonicalValues"] = names
    return copied


def _schemas() -> list[dict[str, Any]]:
    names = [role.name for role in roles.list_roles(account=g.account)]
    return [
        {
            **_with_role_names(schema, names),
            "meta": {"resourceType": "Schema", "location": location(f"Schemas/{schema['id']}")},
        }
        for schema in (schema_document(each) for each in attribute_schemas())
    ]


def _service_provider_config() -> dict[str, Any]:
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG_URN],
        "documentationUri": DOCS_URL,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_COUNT},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The SCIM token generated in Heap's account settings.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "documentationUri": DOCS_URL,
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": location("ServiceProviderConfig"),
        },
    }


def _refuse_filter() -> None:
    # RFC 7644 §4: these endpoints SHOULD answer 403 when a filter is passed.
    if filter_from(request.args) is not None:
        raise ScimError(403, "Discovery endpoints don't support filtering.")


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    """What this server supports."""
    _refuse_filter()
    return scim_response(_service_provider_config())


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    """User (with the enterprise and Heap extensions) and Group."""
    return _listing(_resource_types())


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    """One resource type by name."""
    return _one(_resource_types(), name, f"No resource type {name!r}; there are User and Group.")


@bp.get("/Schemas")
def schemas() -> Response:
    """Core User and Group, enterprise User and the Heap extension."""
    return _listing(_schemas())


@bp.get("/Schemas/<path:urn>")
def schema(urn: str) -> Response:
    """One schema by URN."""
    return _one(_schemas(), urn, f"No schema {urn!r}.")


def _listing(found: list[dict[str, Any]]) -> Response:
    _refuse_filter()
    return list_response(found, total=len(found), start_index=1)


def _one(found: list[dict[str, Any]], wanted: str, missing: str) -> Response:
    # Resource type names and schema URNs are case-insensitive (RFC 7643 §2.1).
    for item in found:
        if item["id"].lower() == wanted.lower():
            return scim_response(item)
    raise ScimError(404, missing)


_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.route("/Me", methods=_ALL_METHODS)
def me() -> Response:
    """RFC 7644 §3.11: a server that doesn't support /Me answers 501. A SCIM token is an IdP's,
    not a person's, so there is no "me" to speak of."""
    raise ScimError(
        501,
        "/Me is not supported: a Heap SCIM token belongs to the identity provider, not to a user."
        " Use /Users.",
    )


@bp.route("/Bulk", methods=_ALL_METHODS)
def bulk() -> Response:
    """RFC 7644 §3.7: bulk is not supported (ServiceProviderConfig says so); 501."""
    raise ScimError(
        501,
        "Bulk operations are not supported (see /ServiceProviderConfig): send each request to"
        " /Users or /Groups.",
    )
