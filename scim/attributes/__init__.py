"""One table of SCIM attributes, and everything the SCIM door derives from it.

The rows live in ``user.py`` (core User, enterprise and Heap extensions) and ``group.py``; each
says what RFC 7643 §7 says of the attribute (type, multi-valued, mutability, returned, case
exactness, ...), where Heap keeps it (``Lives``) and how it filters (``Column``/``Elements``).
From them, and nowhere else, come:
- the PATCH engine's ``DocumentSchema`` (casing, multi-valued, read-only, extension names);
- the User loader's key maps (canonical names; what Heap models, keeps as sent, or drops);
- the filter resolvers (which attributes filter, against which SQL expression);
- the /Schemas and /ResourceTypes documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from scim.attributes.group import GROUPS
from scim.attributes.model import Attr, Column, Elements, Lives, ResourceType, Schema
from scim.attributes.user import USERS
from scim.constants import MAX_MULTI_VALUES, RESOURCE_TYPE_URN, SCHEMA_URN
from scim.filter_sql import Attribute, Kind, MultiValued, Resolved, Resolver, mapping_resolver
from scim.patch_document import DocumentSchema

__all__ = [
    "GROUPS",
    "GROUP_DOCUMENT",
    "GROUP_FILTERS",
    "USERS",
    "USER_DOCUMENT",
    "USER_FILTERS",
    "USER_NAMES",
    "Attr",
    "LoaderNames",
    "ResourceType",
    "Schema",
    "resource_type_document",
    "schema_document",
    "schemas",
]

# ---- the PATCH engine ------------------------------------------------------------------------


def _dotted(attributes: tuple[Attr, ...]) -> Iterator[str]:
    for attr in attributes:
        yield attr.name
        yield from (f"{attr.name}.{sub.name}" for sub in attr.sub_attributes)


def document_schema(resource: ResourceType, *, max_values: int | None = None) -> DocumentSchema:
    """What ``apply_to_document`` needs to know about ``resource``."""
    attributes = (*resource.schema.attributes, *resource.common)
    return DocumentSchema(
        core_urn=resource.schema.urn,
        attributes=tuple(_dotted(attributes)),
        multi_valued=tuple(a.name for a in attributes if a.multi_valued),
        extensions={ext.urn: tuple(_dotted(ext.attributes)) for ext in resource.extensions},
        # `schemas` is every resource's, in no schema (RFC 7643 §3).
        read_only=("schemas", *(a.name for a in attributes if a.mutability == "readOnly")),
        max_values=max_values,
    )


# ---- the filter compiler ---------------------------------------------------------------------

_KIND: Mapping[str, Kind] = {"boolean": "boolean", "dateTime": "datetime", "integer": "integer"}


def _compiled(attr: Attr) -> Resolved | None:
    match attr.filter:
        case Column(expression=expression, normalise=normalise):
            kind = _KIND.get(attr.type, "string")
            return Attribute(expression, kind, case_exact=attr.case_exact, normalise=normalise)
        case Elements(exists=exists):
            elements = {sub.name: _compiled(sub) for sub in attr.sub_attributes}
            found = {name: done for name, done in elements.items() if done is not None}
            return MultiValued(resolve=mapping_resolver(found), exists=exists)
    return None


def _filterable(attributes: tuple[Attr, ...], prefix: str) -> Iterator[tuple[str, Resolved]]:
    for attr in attributes:
        compiled = _compiled(attr)
        if compiled is not None:
            yield f"{prefix}{attr.name}", compiled
        if attr.type == "complex" and not attr.multi_valued:
            yield from _filterable(attr.sub_attributes, f"{prefix}{attr.name}.")


def filter_resolver(resource: ResourceType) -> Resolver:
    """Every filterable attribute of ``resource``; extension ones by their URN-qualified name."""
    table = dict(_filterable((*resource.schema.attributes, *resource.common), ""))
    for ext in resource.extensions:
        table.update(_filterable(ext.attributes, f"{ext.urn}:"))
    return mapping_resolver(table, default_urns=(resource.schema.urn,))


# ---- the User loader ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoaderNames:
    """What a request body's top-level keys mean to the loader."""

    canonical: Mapping[str, str]  # lowercased key -> the schema's casing
    dropped: frozenset[str]  # accepted and never stored: read-only, write-only, `schemas`
    modelled: frozenset[str]  # stored in Heap's own columns or derived; the rest is kept as sent
    modelled_parts: Mapping[str, frozenset[str]]  # of a modelled complex attribute, the columns


def loader_names(resource: ResourceType) -> LoaderNames:
    attributes = (*resource.schema.attributes, *resource.common)
    names = [a.name for a in attributes] + ["schemas"] + [ext.urn for ext in resource.extensions]
    dropped = {a.name for a in attributes if a.mutability == "readOnly" or a.lives is Lives.NOWHERE}
    modelled = {
        a.name
        for a in attributes
        if a.lives in (Lives.COLUMN, Lives.DERIVED) and a.name not in dropped
    }
    modelled.update(
        ext.urn
        for ext in resource.extensions
        if all(a.lives is not Lives.KEPT for a in ext.attributes)
    )
    parts = {
        a.name: frozenset(s.name for s in a.sub_attributes if s.lives is Lives.COLUMN)
        for a in attributes
        if a.name in modelled and a.sub_attributes
    }
    return LoaderNames(
        canonical={name.lower(): name for name in names},
        dropped=frozenset({*dropped, "schemas"}),
        modelled=frozenset(modelled),
        modelled_parts=parts,
    )


# ---- discovery ---------------------------------------------------------------------------------


def _attribute_document(attr: Attr) -> dict[str, Any]:
    # RFC 7643 §8.7's order of keys, as its published schemas have them.
    doc: dict[str, Any] = {"name": attr.name, "type": attr.type, "multiValued": attr.multi_valued}
    if attr.description is not None:
        doc["description"] = attr.description
    doc["required"] = attr.required
    if attr.canonical_values:
        doc["canonicalValues"] = list(attr.canonical_values)
    doc["caseExact"] = attr.case_exact
    doc["mutability"] = attr.mutability
    doc["returned"] = attr.returned
    doc["uniqueness"] = attr.uniqueness
    if attr.reference_types:
        doc["referenceTypes"] = list(attr.reference_types)
    if attr.sub_attributes:
        doc["subAttributes"] = [_attribute_document(sub) for sub in attr.sub_attributes]
    return doc


def schema_document(schema: Schema) -> dict[str, Any]:
    """The schema as /Schemas serves it (without ``meta``, which needs the request's base)."""
    return {
        "schemas": [SCHEMA_URN],
        "id": schema.urn,
        "name": schema.name,
        "description": schema.description,
        "attributes": [_attribute_document(a) for a in schema.attributes if a.advertised],
    }


def schemas() -> tuple[Schema, ...]:
    """Every schema /Schemas lists, in its order."""
    return (USERS.schema, GROUPS.schema, *USERS.extensions)


def resource_type_document(resource: ResourceType) -> dict[str, Any]:
    """The resource type as /ResourceTypes serves it (without ``meta``)."""
    doc: dict[str, Any] = {
        "schemas": [RESOURCE_TYPE_URN],
        "id": resource.name,
        "name": resource.name,
        "endpoint": resource.endpoint,
        "description": resource.description,
        "schema": resource.schema.urn,
    }
    if resource.extensions:
        doc["schemaExtensions"] = [
            {"schema": ext.urn, "required": False} for ext in resource.extensions
        ]
    return doc


USER_DOCUMENT = document_schema(USERS, max_values=MAX_MULTI_VALUES)
GROUP_DOCUMENT = document_schema(GROUPS)
USER_FILTERS = filter_resolver(USERS)
GROUP_FILTERS = filter_resolver(GROUPS)
USER_NAMES = loader_names(USERS)
