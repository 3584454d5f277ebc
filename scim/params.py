"""Query parameters shared by /Users and /Groups: paging (RFC 7644 §3.4.2.4) and attribute
projection (``attributes`` / ``excludedAttributes``, §3.4.2.5)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scim.constants import DEFAULT_COUNT, ENTERPRISE_USER_URN, HEAP_USER_URN, MAX_COUNT
from scim.errors import ScimError

# Returned whatever ``attributes`` says (RFC 7643 §2.4 "returned: always", and the envelope).
ALWAYS_RETURNED = frozenset({"id", "schemas"})
_EXTENSION_URNS = tuple(urn.lower() for urn in (ENTERPRISE_USER_URN, HEAP_USER_URN))


@dataclass(frozen=True)
class Page:
    start_index: int
    count: int

    @property
    def offset(self) -> int:
        return self.start_index - 1


def page_from(args: Mapping[str, str]) -> Page:
    """``startIndex`` is 1-based (below 1 means 1); ``count`` defaults to 100, capped at MAX_COUNT,
    negative means 0 (RFC 7644 §3.4.2.4)."""
    start_index = max(1, _integer(args, "startIndex", 1))
    count = min(max(0, _integer(args, "count", DEFAULT_COUNT)), MAX_COUNT)
    return Page(start_index=start_index, count=count)


def _integer(args: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(args, name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise ScimError(400, f"{name} must be an integer, got {raw!r}.", "invalidValue") from None


def _get(args: Mapping[str, str], name: str) -> str | None:
    """A query parameter by name, case-insensitively (clients differ on ``startindex``)."""
    if name in args:
        return args[name]
    lowered = name.lower()
    return next((value for key, value in args.items() if key.lower() == lowered), None)


def filter_from(args: Mapping[str, str]) -> str | None:
    value = _get(args, "filter")
    return value if value and value.strip() else None


@dataclass(frozen=True)
class Projection:
    """Which attributes a response carries. Paths are lowercased, URN prefixes resolved."""

    attributes: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()

    def includes(self, path: str) -> bool:
        """Whether a top-level attribute (or ``urn:...`` extension) is wanted in the response;
        lets a door skip loading what nobody asked for, such as a big group's members."""
        key = path.lower()
        if key in ALWAYS_RETURNED:
            return True
        if self.attributes:
            return any(wanted == key or wanted.startswith(key + ".") for wanted in self.attributes)
        return key not in self.excluded

    def apply(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        if not self.attributes and not self.excluded:
            return dict(resource)
        result: dict[str, Any] = {}
        for key, value in resource.items():
            lowered = key.lower()
            if lowered in ALWAYS_RETURNED:
                result[key] = value
            elif self.attributes:
                picked = self._pick(lowered, value)
                if picked is not None:
                    result[key] = picked
            elif lowered not in self.excluded:
                result[key] = self._drop(lowered, value)
        return result

    def _pick(self, key: str, value: Any) -> Any:
        if key in self.attributes:
            return value
        prefix = key + "."
        subs = {a[len(prefix) :] for a in self.attributes if a.startswith(prefix)}
        if not subs:
            return None
        if isinstance(value, Mapping):
            picked = {k: v for k, v in value.items() if k.lower() in subs}
            return picked or None
        if isinstance(value, list):
            items = [
                {k: v for k, v in item.items() if k.lower() in subs}
                for item in value
                if isinstance(item, Mapping)
            ]
            return [item for item in items if item] or None
        return None

    def _drop(self, key: str, value: Any) -> Any:
        prefix = key + "."
        subs = {a[len(prefix) :] for a in self.excluded if a.startswith(prefix)}
        if not subs:
            return value
        if isinstance(value, Mapping):
            return {k: v for k, v in value.items() if k.lower() not in subs}
        if isinstance(value, list):
            return [
                {k: v for k, v in item.items() if k.lower() not in subs}
                if isinstance(item, Mapping)
                else item
                for item in value
            ]
        return value


def projection_from(args: Mapping[str, str], *, core_urn: str) -> Projection:
    return Projection(
        attributes=_paths(_get(args, "attributes"), core_urn),
        excluded=_paths(_get(args, "excludedAttributes"), core_urn),
    )


def _paths(raw: str | None, core_urn: str) -> frozenset[str]:
    if not raw:
        return frozenset()
    return frozenset(_normalise(path, core_urn) for path in _split(raw))


def _split(raw: str) -> Iterable[str]:
    return (part.strip() for part in raw.split(",") if part.strip())


def _normalise(path: str, core_urn: str) -> str:
    """``urn:...:core:2.0:User:name.givenName`` -> ``name.givenname``; an extension attribute
    stays under its URN: ``urn:...:heap:2.0:user.heaprole``."""
    lowered = path.lower()
    core = core_urn.lower() + ":"
    if lowered.startswith(core):
        return lowered[len(core) :]
    for urn in _EXTENSION_URNS:
        if lowered.startswith(urn + ":"):
            return f"{urn}.{lowered[len(urn) + 1 :]}"
    return lowered
