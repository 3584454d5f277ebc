"""What identity providers send that RFC 7643/7644 would not: read here, once, for every parser.

Each quirk names the IdP that sends it and where that is recorded
(/work/shared/research/idp-behaviour.md, "research" below). The parsers (body loader, PATCH,
filters) call these instead of reading the shapes themselves, so a new quirk has one home.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def boolean(value: Any) -> bool | None:
    """A JSON boolean, or the text ``"true"``/``"false"`` in any case; None for anything else.

    Entra ID sends booleans as strings: ``{"op":"Replace","path":"active","value":"False"}``,
    ``"primary": "True"`` in emails and roles, and filters ``roles[primary eq "True"]``
    (research §2.1; Microsoft's SCIM validation samples). Nothing else ("yes", 1, "0") is taken:
    a typo is not intent.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def as_boolean(value: Any) -> Any:
    """``value`` as a boolean when it is one by ``boolean``'s rule; anything else unchanged."""
    found = boolean(value)
    return value if found is None else found


def reference(value: Any) -> Any:
    """A complex reference (``{"value": id}``) from Entra's bare id string; else unchanged.

    Entra sends the enterprise extension's ``manager`` as the manager's id alone, in POST bodies
    and in PATCH values (research §2.1); RFC 7643 §4.3 makes it ``{"value": id, ...}``.
    """
    return {"value": value} if isinstance(value, str) else value


def operation(value: Any) -> str | None:
    """A PatchOp ``op`` in lowercase (``add``/``remove``/``replace``), or None if it is none.

    Entra ID capitalises them (``"Add"``, ``"Replace"``, ``"Remove"``; research §2.1); RFC 7644
    §3.5.2 spells them in lowercase, and Okta does.
    """
    if isinstance(value, str) and value.lower() in ("add", "remove", "replace"):
        return value.lower()
    return None


def app_role(value: str) -> Mapping[str, Any] | None:
    """The app role Entra sends as JSON inside a ``roles`` value, or None if ``value`` is plain.

    With SingleAppRoleAssignment, Entra POSTs ``"roles": [{"primary": true, "value": "Admin"}]``
    but PATCHes ``{"value": "{\\"id\\":\\"06b0…\\",\\"value\\":\\"Admin\\",\\"displayName\\":…}"}``
    (research §2.1): the role as stringified JSON.
    """
    # Entra's role object is a few hundred characters and one level deep; anything far past
    # that is not one, and json.loads would recurse as deep as the text nests.
    if len(value) > _MAX_APP_ROLE or not value.lstrip().startswith("{"):
        return None
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, Mapping) else None


_MAX_APP_ROLE = 4096
