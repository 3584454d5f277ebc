"""The User resource as Okta and Entra read it: what Heap holds, never ``password``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from heap.models import ScimIdentity, Team
from heap.services.provisioning import IdpProfile
from scim.constants import HEAP_USER_URN, USER_URN
from scim.meta import location, meta


def name_fallback(email: str) -> tuple[str, str]:
    """Names for a teammate invited in Heap without any: Okta requires both to be non-empty.

    The email's local part stands in for the given name and "-" for the family name; they are
    never stored, and an echo of them in a PUT leaves the names empty (see ``strip_fallback``).
    """
    return email.partition("@")[0] or email, "-"


def dump_user(
    identity: ScimIdentity, *, teams: Sequence[Team] = (), fallback_names: bool = True
) -> dict[str, Any]:
    """The User resource as Okta and Entra read it."""
    user = identity.user
    extra = dict(identity.extra or {})
    given, family = user.given_name, user.family_name
    # Only for teammates the IdP never described: what it sent (or removed) is returned as is.
    if fallback_names and not identity.idp_managed and not given and not family:
        given, family = name_fallback(user.email)
    resource: dict[str, Any] = {"schemas": [USER_URN], "id": identity.id}
    if identity.external_id is not None:
        resource["externalId"] = identity.external_id
    resource["userName"] = identity.user_name
    name = dict(extra.pop("name", None) or {})
    if given:
        name["givenName"] = given
    if family:
        name["familyName"] = family
    if name:
        resource["name"] = name
    if user.display_name:
        resource["displayName"] = user.display_name
    resource["emails"] = extra.pop("emails", None) or [
        {"value": user.email, "type": "work", "primary": True}
    ]
    resource["active"] = user.is_active
    extensions = {k: extra.pop(k) for k in list(extra) if k.lower().startswith("urn:")}
    resource.update(extra)
    if teams:
        resource["groups"] = [
            {"value": t.scim_id, "display": t.name, "$ref": location(f"Groups/{t.scim_id}")}
            for t in teams
        ]
    for urn, value in extensions.items():
        resource[urn] = value
        if isinstance(value, Mapping):
            resource["schemas"].append(urn)
    role_name = identity.heap_role_name
    if role_name:
        resource[HEAP_USER_URN] = {"heapRole": role_name}
        resource["schemas"].append(HEAP_USER_URN)
    resource["meta"] = meta(
        "User",
        created=identity.created_at,
        last_modified=identity.last_modified,
        path=f"Users/{identity.id}",
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
