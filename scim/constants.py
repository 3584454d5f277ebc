"""SCIM URNs, the media type and the limits this server advertises."""

from __future__ import annotations

MEDIA_TYPE = "application/scim+json"

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEAP_USER_URN = "urn:ietf:params:scim:schemas:extension:heap:2.0:User"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SERVICE_PROVIDER_CONFIG_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"

# Okta pages by 100; a larger page is capped here, and the cap is advertised as filter.maxResults.
DEFAULT_COUNT = 100
MAX_COUNT = 500
MAX_PATCH_OPERATIONS = 1000
