"""Groups requests as team changes (``heap.services.teams``): no PATCH reads the member list.

The service runs each change as one set-based statement, so a request costs what it changes, not
what the team holds. One parser reads every member list, whatever carries it (POST, PUT, PATCH
add, remove and replace, Okta's and Entra's shapes): a list of ``{"value": "<id>"}`` objects, or a
400 naming the bad entry, before anything is applied. Pure module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from heap.services.teams import (
    AddMembers,
    Members,
    RemoveAllMembers,
    RemoveMembers,
    Rename,
    ReplaceMembers,
    SetExternalId,
    TeamChange,
)
from scim.attributes import GROUP_DOCUMENT
from scim.constants import GROUP_URN, MAX_MEMBERS_PER_REQUEST
from scim.errors import ScimError
from scim.filter_match import lookup
from scim.filters import Compare, Filter, Or
from scim.patch import PatchError, PatchOperation


def member_ids(value: Any, where: str) -> tuple[str, ...]:
    """The SCIM ids of ``[{"value": id, ...}, ...]``, in order, each once.

    Okta's AIW PUT sends ``display: null`` and Entra ``$ref: null`` beside ``value``; both are
    ignored. Anything else (not a list, an entry that is not an object with a string ``value``)
    is refused: read leniently, ``[{"valu": id}]`` would add nobody and a ``replace`` would empty
    the team. ``where`` names the list in the error (``members``, ``operation 2: members``).
    """
    if not isinstance(value, list):
        raise ScimError(
            400,
            f'{where} must be a list of {{"value": "<user id>"}} objects, not {_shown(value)}.',
            "invalidValue",
        )
    ids: list[str] = []
    for index, item in enumerate(value):
        member_id = lookup(item, "value") if isinstance(item, Mapping) else None
        if not isinstance(member_id, str) or not member_id:
            raise ScimError(
                400,
                f'{where}[{index}] must be an object {{"value": "<user id>"}} naming a user by '
                f"its SCIM id, not {_shown(item)}. Nothing was changed.",
                "invalidValue",
            )
        ids.append(member_id)
    return tuple(dict.fromkeys(ids))


def checked_count(ids: tuple[str, ...], so_far: int = 0) -> int:
    """``so_far`` plus ``len(ids)``; a 400 once one request names more than the cap."""
    total = so_far + len(ids)
    if total > MAX_MEMBERS_PER_REQUEST:
        raise ScimError(
            400,
            f"This request names {total:,} members or more; send at most "
            f"{MAX_MEMBERS_PER_REQUEST:,} per request (PATCH the rest in further requests).",
            "invalidValue",
        )
    return total


def _shown(value: Any) -> str:
    # The bad value as sent, cut short: an error must not grow with the input.
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def _filter_ids(filt: Filter) -> list[str] | None:
    """`value eq "a" or value eq "b"` -> ["a", "b"]; anything else -> None."""
    if isinstance(filt, Or):
        left, right = _filter_ids(filt.left), _filter_ids(filt.right)
        return None if left is None or right is None else left + right
    if (
        isinstance(filt, Compare)
        and filt.op == "eq"
        and filt.path.key == "value"
        and isinstance(filt.value, str)
    ):
        return [filt.value]
    return None


def group_changes(operations: list[PatchOperation]) -> list[TeamChange]:
    """Translate a Groups PATCH; raises PatchError for paths a group doesn't have."""
    changes: list[TeamChange] = []
    members_named = 0
    for op in operations:
        path, where = op.path, f"operation {op.index}"
        attr = path.attr
        name = attr.attr_key if attr.in_schema(GROUP_URN) else ""
        if name in GROUP_DOCUMENT.read_only:
            continue  # Okta's rename value carries the group's `id`
        simple = path.value_filter is None and attr.sub_attr is None
        if name == "displayname" and simple:
            if op.op == "remove" or not isinstance(op.value, str) or not op.value.strip():
                raise PatchError(f"{where}: displayName must be a non-empty string", "invalidValue")
            changes.append(Rename(op.value))  # Okta: no-path {"id","displayName"}; Entra: path
        elif name == "externalid" and simple:
            if op.value is not None and not isinstance(op.value, str):
                raise PatchError(f"{where}: externalId must be a string", "invalidValue")
            changes.append(SetExternalId(None if op.op == "remove" else op.value))
        elif name == "members" and (attr.sub_attr or path.sub_attr):
            raise PatchError(
                f"{where}: send whole member objects, not sub-attributes", "invalidPath"
            )
        elif name == "members":
            change, named = _member_change(op, where)
            members_named = checked_count(named, members_named)
            if change is not None:
                changes.append(change)
        else:
            raise PatchError(
                f"{where}: a group has no attribute {attr}; use displayName, externalId or members",
                "invalidPath",
            )
    return changes


def _member_change(op: PatchOperation, where: str) -> tuple[TeamChange | None, tuple[str, ...]]:
    """The change one ``members`` operation asks for (None: nothing), and the ids it names."""
    if op.path.value_filter is not None:
        ids = _filter_ids(op.path.value_filter)
        if op.op != "remove" or ids is None:
            raise PatchError(
                f'{where}: only remove takes a filter on members, as members[value eq "id"]',
                "invalidPath",
            )
        named = tuple(dict.fromkeys(ids))  # Okta, and Entra with aadOptscim062020
        return RemoveMembers(Members(scim_ids=named)), named
    if op.op == "remove" and op.value is None:
        return RemoveAllMembers(), ()  # RFC 7644 §3.5.2.2: no value removes every member
    named = member_ids(op.value, f"{where}: members")
    if op.op == "replace":
        # An explicit [] empties the team; a malformed list was refused above.
        return ReplaceMembers(Members(scim_ids=named)), named
    if not named:
        return None, named
    # add; or Entra's default remove: {"op":"Remove","path":"members","value":[{"value":"u1"}]}.
    change = AddMembers if op.op == "add" else RemoveMembers
    return change(Members(scim_ids=named)), named
