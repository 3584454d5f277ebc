"""The User resource as Okta and Entra read it: what Heap holds, never ``password``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from heap.models import ScimIdentity
from heap.services.provisioning import IdpProfile
from heap.services.records import UserRecord
from scim.constants import HEAP_USER_URN, USER_URN
from scim.meta import location, meta


def name_fallback(email: str) -> tuple[str, str]:
    """Names for a teammate invited in Heap without any: Okta requires both to be non-empty.

    The email's local part stands in for the given name and "-" for the family name; they are
    never stored, and an echo of them in a PUT leaves the names empty (see ``strip_fallback``).
    """
    return email.partition("@")[0] or email, "-"


def dump_user(user: ScimIdentity | UserRecord, *, fallback_names: bool = True) -> dict[str, Any]:
    """The User resource as Okta and Entra read it; an identity loaded as objects is shown
    without its teams (``UserRecord.of`` takes them)."""
    record = user if isinstance(user, UserRecord) else UserRecord.of(user)
    extra = dict(record.extra)
    given, family = record.given_name, record.family_name
    # Only for teammates the IdP never described: what it sent (or removed) is returned as is.
    if fallback_names and not record.idp_managed and not given and not family:
        given, family = name_fallback(record.email)
    resource: dict[str, Any] = {"schemas": [USER_URN], "id": record.id}
    if record.external_id is not None:
        resource["externalId"] = record.external_id
    resource["userName"] = record.user_name
    name = dict(extra.pop("name", None) or {})
    if given:
        name["givenName"] = given
    if family:
        name["familyName"] = family
    if name:
        resource["name"] = name
    if record.display_name:
        resource["displayName"] = record.display_name
    resource["emails"] = extra.pop("emails", None) or [
        {"value": record.email, "type": "work", "primary": True}
    ]
    resource["active"] = record.active
    extensions = {k: extra.pop(k) for k in list(extra) if k.lower().startswith("urn:")}
    resource.update(extra)
    if record.teams:
        resource["groups"] = [
            {"value": t.scim_id, "display": t.name, "$ref": location(f"Groups/{t.scim_id}")}
            for t in record.teams
        ]
    for urn, value in extensions.items():
        resource[urn] = value
        if isinstance(value, Mapping):
            resource["schemas"].append(urn)
    role_name = record.heap_role_name
    if role_name:
        resource[HEAP_USER_URN] = {"heapRole": role_name}
        resource["schemas"].append(HEAP_USER_URN)
    resource["meta"] = meta(
        "User",
        created=record.created_at,
        last_modified=record.last_modified,
        path=f"Users/{record.id}",
    )
    return resource


def strip_fallback(profile: IdpProfile, identity: ScimIdentity) -> IdpProfile:
    """Okta's read-modify-write PUT echoes the stand-in names of ``name_fallback``: keep empty."""
    user = identity.user
    if identity.idp_managed or user.given_name or user.family_name:
        return profile
    if (profile.given_name, profile.family_name) != name_fallback(user.email):
        return profile
    return replace(profile, given_name="", family_name="")
