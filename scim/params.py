"""Query parameters shared by /Users and /Groups: paging (RFC 7644 §3.4.2.4) and attribute
projection (``attributes`` / ``excludedAttributes``, §3.4.2.5)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scim.constants import (
    DEFAULT_COUNT,
    ENTERPRISE_USER_URN,
    HEAP_USER_URN,
    MAX_ATTRIBUTE_PATHS,
    MAX_COUNT,
)
from scim.errors import ScimError

# Returned whatever ``attributes`` says (RFC 7643 §2.4 "returned: always", and the envelope).
ALWAYS_RETURNED = frozenset({"id", "schemas"})
_EXTENSION_URNS = tuple(urn.lower() for urn in (ENTERPRISE_USER_URN, HEAP_USER_URN))
# The largest startIndex honoured: every database takes it as an OFFSET, and a page that far out is
# already empty. A larger one (Okta never sends it; fuzzers do) is read as this.
MAX_START_INDEX = 2**31 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


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
    start_index = min(max(1, _integer(args, "startIndex", 1)), MAX_START_INDEX)
    count = min(max(0, _integer(args, "count", DEFAULT_COUNT)), MAX_COUNT)
    return Page(start_index=start_index, count=count)


def _integer(args: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(args, name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise ScimError(400, f"{name} must be an integer, got {raw!r}.", "invalidValue")
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 18:  # beyond any bound used here; int() would refuse 4,300+ digits anyway
        return -(2**63) if text.startswith("-") else 2**63
    return int(text)


def _get(args: Mapping[str, str], name: str) -> str | None:
    """A query parameter by name, case-insensitively (clients differ on ``startindex``)."""
    if name in args:
        return args[name]
    lowered = name.lower()
    return next((value for key, value in args.items() if key.lower() == lowered), None)


def search_parameters(body: Any) -> dict[str, str]:
    """A SearchRequest body (RFC 7644 §3.4.3) as the query parameters of the GET it stands for.

    ``attributes`` come as lists, ``startIndex``/``count`` as numbers; null means "not sent".
    A boolean, a fraction or an object is no parameter value: 400 invalidValue naming it.
    """
    if not isinstance(body, Mapping):
        raise ScimError(400, "The body must be a SearchRequest object.", "invalidSyntax")
    return {
        key: _parameter(key, value)
        for key, value in body.items()
        if value is not None and key.lower() != "schemas"
    }


def _parameter(name: str, value: Any) -> str:
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ScimError(400, f"{name} must be a list of attribute names.", "invalidValue")
        return ",".join(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise ScimError(
        400,
        f"{name} must be a string, a whole number or a list of strings, got {value!r}.",
        "invalidValue",
    )


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
                kept = self._drop(lowered, value)
                if not (lowered.startswith("urn:") and kept == {}):  # an emptied extension goes
                    result[key] = kept
        return _consistent_schemas(resource, result)

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


def _consistent_schemas(resource: Mapping[str, Any], projected: dict[str, Any]) -> dict[str, Any]:
    """``schemas`` lists an extension URN only while its object is in the response (RFC 7643
    §3: the URNs of the extensions present); the core URN, never a key, always stays."""
    listed = projected.get("schemas")
    if not isinstance(listed, list):
        return projected
    extensions = {key.lower() for key in resource if key.lower().startswith("urn:")}
    kept = {key.lower() for key in projected}
    projected["schemas"] = [
        urn
        for urn in listed
        if not isinstance(urn, str) or urn.lower() not in extensions or urn.lower() in kept
    ]
    return projected


def projection_from(args: Mapping[str, str], *, core_urn: str) -> Projection:
    return Projection(
        attributes=_paths(_get(args, "attributes"), core_urn),
        excluded=_paths(_get(args, "excludedAttributes"), core_urn),
    )


def _paths(raw: str | None, core_urn: str) -> frozenset[str]:
    if not raw:
        return frozenset()
    paths = frozenset(_normalise(path, core_urn) for path in _split(raw))
    if len(paths) > MAX_ATTRIBUTE_PATHS:
        # Each response attribute is compared with each path: the list must stay short.
        raise ScimError(
            400,
            f"attributes and excludedAttributes take at most {MAX_ATTRIBUTE_PATHS} paths each;"
            f" {len(paths)} were sent.",
            "invalidValue",
        )
    return paths


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
