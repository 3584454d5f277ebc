"""What the attribute table is made of: one ``Attr`` per SCIM attribute, grouped into schemas and
resource types. Pure data; ``scim.attributes`` derives everything else from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from sqlalchemy import ColumnElement

Type = Literal[
    "string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"
]
Mutability = Literal["readOnly", "readWrite", "immutable", "writeOnly"]
Returned = Literal["always", "never", "default", "request"]
Uniqueness = Literal["none", "server", "global"]


class Lives(Enum):
    """Where Heap keeps an attribute's value."""

    COLUMN = "in a column of its own"
    KEPT = "as sent, in the SCIM identity's kept attributes (a JSON column)"
    DERIVED = "nowhere of its own: derived from Heap's state (a role, a membership, a date)"
    NOWHERE = "nowhere: accepted and dropped"


@dataclass(frozen=True)
class Column:
    """Filterable: compared with this SQL expression (case folded unless the attribute is
    case-exact). ``normalise`` rewrites a sent string the way the stored value was rewritten."""

    expression: ColumnElement[Any]
    normalise: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Elements:
    """Filterable through its sub-attributes (each with a ``Column``): ``exists`` turns a condition
    on them into "some element matches", a correlated EXISTS over the rows holding them."""

    exists: Callable[[ColumnElement[bool]], ColumnElement[bool]]


@dataclass(frozen=True)
class Attr:
    """One attribute as RFC 7643 §7 describes it, plus where Heap keeps it and how it filters.

    The RFC fields default to the most common value, so a row states only what differs.
    ``advertised=False`` keeps an accepted alias (Okta's top-level ``heapRole``) out of /Schemas.
    """

    name: str
    description: str | None = None
    type: Type = "string"
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = "readWrite"
    returned: Returned = "default"
    uniqueness: Uniqueness = "none"
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attr, ...] = ()
    lives: Lives = Lives.KEPT
    filter: Column | Elements | None = None
    advertised: bool = True


@dataclass(frozen=True)
class Schema:
    """A schema document (RFC 7643 §7): the core schema of a resource, or an extension."""

    urn: str
    name: str
    description: str
    attributes: tuple[Attr, ...]


@dataclass(frozen=True)
class ResourceType:
    """A resource (RFC 7643 §6): its core schema, its extensions, and the common attributes
    (``id``, ``externalId``, ``meta``) that every resource has but no schema document lists."""

    name: str
    endpoint: str
    description: str
    schema: Schema
    common: tuple[Attr, ...]
    extensions: tuple[Schema, ...] = ()


def common_attributes(
    noun: str,
    *,
    id: ColumnElement[Any],
    external_id: ColumnElement[Any],
    created: ColumnElement[Any],
    last_modified: ColumnElement[Any],
    resource_type: ColumnElement[Any] | None = None,
) -> tuple[Attr, ...]:
    """``id``, ``externalId`` and ``meta`` (RFC 7643 §3.1): every resource has them, each
    resource type in its own columns."""
    return (
        Attr(
            "id",
            f"Heap's stable id for the {noun} (a UUID).",
            case_exact=True,
            mutability="readOnly",
            returned="always",
            uniqueness="server",
            lives=Lives.COLUMN,
            filter=Column(id),
        ),
        Attr(
            "externalId",
            f"The identity provider's id for the {noun}, as sent.",
            case_exact=True,
            lives=Lives.COLUMN,
            filter=Column(external_id),
        ),
        Attr(
            "meta",
            type="complex",
            mutability="readOnly",
            lives=Lives.DERIVED,
            sub_attributes=(
                Attr(
                    "resourceType",
                    mutability="readOnly",
                    filter=None if resource_type is None else Column(resource_type),
                ),
                Attr("created", type="dateTime", mutability="readOnly", filter=Column(created)),
                Attr(
                    "lastModified",
                    type="dateTime",
                    mutability="readOnly",
                    filter=Column(last_modified),
                ),
                Attr("location", type="reference", mutability="readOnly"),
            ),
        ),
    )
