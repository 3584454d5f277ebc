"""A Groups PatchOp as membership commands, so a PATCH never needs the member list in memory.

The Groups door turns each command into one set-based service change (`heap.services.teams`), so a
PATCH costs what it changes, not what the team holds. Pure module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim.constants import GROUP_URN
from scim.filter_match import lookup
from scim.filters import Compare, Filter, Or
from scim.patch import PatchError, PatchOperation
from scim.patch_document import GROUP_SCHEMA


@dataclass(frozen=True)
class Rename:
    display_name: str


@dataclass(frozen=True)
class AddMembers:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class RemoveMembers:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class RemoveAllMembers:
    pass


@dataclass(frozen=True)
class ReplaceMembers:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class SetExternalId:
    value: str | None


GroupCommand = (
    Rename | AddMembers | RemoveMembers | RemoveAllMembers | ReplaceMembers | SetExternalId
)


def _member_ids(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    ids = (lookup(i, "value") if isinstance(i, Mapping) else i for i in items)
    return tuple(dict.fromkeys(i for i in ids if isinstance(i, str) and i))  # ordered, unique


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


def group_commands(operations: list[PatchOperation]) -> list[GroupCommand]:
    """Translate a Groups PATCH; raises PatchError for paths a group doesn't have."""
    commands: list[GroupCommand] = []
    for op in operations:
        path, where = op.path, f"operation {op.index}"
        attr = path.attr
        name = attr.attr_key if attr.in_schema(GROUP_URN) else ""
        if name in GROUP_SCHEMA.read_only:
            continue  # Okta's rename value carries the group's `id`
        simple = path.value_filter is None and attr.sub_attr is None
        if name == "displayname" and simple:
            if op.op == "remove" or not isinstance(op.value, str) or not op.value.strip():
                raise PatchError(f"{where}: displayName must be a non-empty string", "invalidValue")
            commands.append(Rename(op.value))  # Okta: no-path {"id","displayName"}; Entra: path
        elif name == "externalid" and simple:
            if op.value is not None and not isinstance(op.value, str):
                raise PatchError(f"{where}: externalId must be a string", "invalidValue")
            commands.append(SetExternalId(None if op.op == "remove" else op.value))
        elif name == "members" and (attr.sub_attr or path.sub_attr):
            raise PatchError(
                f"{where}: send whole member objects, not sub-attributes", "invalidPath"
            )
        elif name == "members":
            commands.extend(_member_command(op, where))
        else:
            raise PatchError(
                f"{where}: a group has no attribute {attr}; use displayName, externalId or members",
                "invalidPath",
            )
    return commands


def _member_command(op: PatchOperation, where: str) -> list[GroupCommand]:
    if op.path.value_filter is not None:
        ids = _filter_ids(op.path.value_filter)
        if op.op != "remove" or ids is None:
            raise PatchError(
                f'{where}: only remove takes a filter on members, as members[value eq "id"]',
                "invalidPath",
            )
        return [RemoveMembers(tuple(dict.fromkeys(ids)))]  # Okta, Entra with aadOptscim062020
    members = _member_ids(op.value)
    if op.op == "replace":
        return [ReplaceMembers(members)]
    if op.op == "add":
        return [AddMembers(members)] if members else []
    if op.value is None:
        return [RemoveAllMembers()]
    # Entra's default: {"op":"Remove","path":"members","value":[{"value":"u1"}]} removes only u1.
    return [RemoveMembers(members)] if members else []
