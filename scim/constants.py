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

# Caps on what one request may carry. Each is far above what Okta and Entra send (sources in the
# README's "Limits" section), and each bounds work that would otherwise grow with the input.
MAX_PATCH_OPERATIONS = 1000
# Okta pushes group membership in PATCHes of up to a few hundred members (256 seen); Entra adds
# and removes members in small batches. A PUT carries the whole team, hence room for big teams.
MAX_MEMBERS_PER_REQUEST = 10_000
# The longest list in any legitimate body is a group's member list.
MAX_LIST_ENTRIES = MAX_MEMBERS_PER_REQUEST
# Okta and Entra send one to three emails, phone numbers or addresses; Entra holds at most 100
# extension values per object. A User's multi-valued attribute keeps at most this many values.
MAX_MULTI_VALUES = 100
MAX_JSON_DEPTH = 64
# A 10,000-member PUT is about 30,000 values; an Okta or Entra User about 50.
MAX_JSON_VALUES = 200_000
# The widest object an IdP sends is a User with its extensions (under 100 attributes; Entra
# holds at most 100 extension values per object). Applying a PATCH looks attribute names up
# case-insensitively, so its cost grows with an object's width times the values written.
MAX_OBJECT_KEYS = 1000
# attributes / excludedAttributes: RFC 7643's User has under 100 attribute paths.
MAX_ATTRIBUTE_PATHS = 100
# An error body names the first few problems and counts the rest, in a detail of bounded length.
MAX_ERROR_PROBLEMS = 5
MAX_DETAIL = 2000
