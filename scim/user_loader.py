"""A User body (POST, PUT, or a PATCHed document) off the wire: an ``IdpProfile``.

Loading is lenient where Okta and Entra differ (attribute names in any case, their quirks in
``scim.quirks``) and keeps every attribute Heap has no column for, so it round-trips; what is
modelled, kept or dropped is the attribute table's word (``scim.attributes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, pre_load
from marshmallow.validate import Length

from heap.services.provisioning import EmailAddress, IdpProfile
from scim import quirks
from scim.attributes import USER_NAMES
from scim.constants import ENTERPRISE_USER_URN, HEAP_USER_URN, MAX_MULTI_VALUES
from scim.errors import ScimError
from scim.filter_match import lookup
from scim.patch import PatchOperation

# Attribute names are case-insensitive (RFC 7643 §2.1); inside Heap they take the schema's casing.
# What is modelled, kept as sent or dropped is the attribute table's word (scim.attributes).
_MODELLED = USER_NAMES.modelled
_DROPPED = USER_NAMES.dropped
_NAME_COLUMNS = USER_NAMES.modelled_parts["name"]


def _canonical_keys(data: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {names.get(key.lower(), key): value for key, value in data.items()}


def _in_sent_order(loaded: dict[str, Any], sent: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """``loaded`` with its keys in the order the client sent them (defaults last).

    marshmallow gathers the attributes it keeps as sent (``unknown = INCLUDE``) from a set
    difference, so their order would follow the process's hash seed: two gunicorn workers would
    store and echo one body in two orders.
    """
    if not isinstance(sent, Mapping):
        return loaded
    position = {names.get(key.lower(), key): i for i, key in enumerate(sent)}
    return dict(sorted(loaded.items(), key=lambda item: position.get(item[0], len(position))))


class _Lenient(Schema):
    """A SCIM object read as IdPs send it: attribute names in any case (RFC 7643 §2.1) take the
    schema's casing, and whatever Heap does not model is kept, in the order it came."""

    class Meta:
        unknown = INCLUDE

    NAMES: ClassVar[Mapping[str, str]] = {}

    @pre_load
    def canonical(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return _canonical_keys(data, self.NAMES)

    @post_load(pass_original=True)
    def in_sent_order(self, data: dict[str, Any], original: Any, **kwargs: Any) -> dict[str, Any]:
        return _in_sent_order(data, original, self.NAMES)


class _Text(fields.String):
    """A string where JSON null means empty (Okta sends ``"middleName": null``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return "" if value is None else str(super()._deserialize(value, attr, data, **kwargs))


class _StrictBoolean(fields.Field[bool]):
    """A boolean as JSON true/false or, for Entra, the text "true"/"false" in any case; null is
    "not sent". marshmallow's Boolean would also take "yes", "on", 1 and "0": a typo, not intent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        found = quirks.boolean(value)
        if found is None:
            raise ValidationError(f"must be true or false, not {value!r}.")
        return found


class _NameSchema(_Lenient):
    NAMES = {"givenname": "givenName", "familyname": "familyName"}

    givenName = _Text(load_default="")
    familyName = _Text(load_default="")


class _ElementValue(fields.Field[str]):
    """The ``value`` of an email or a role: text (or null). A number would be stored, echoed and,
    for a role, read as "no role"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f"must be a string, not {value!r}.")
        return value


class _ElementSchema(_Lenient):
    """An element of a multi-valued attribute (RFC 7643 §2.4); Entra sends ``"primary":"True"``."""

    NAMES = {"value": "value", "type": "type", "primary": "primary", "display": "display"}

    value = _ElementValue()
    type = fields.String(allow_none=True)
    primary = _StrictBoolean()


class _HeapExtensionSchema(_Lenient):
    NAMES = {"heaprole": "heapRole"}

    heapRole = fields.String(allow_none=True)


class UserSchema(Schema):
    """A POST or PUT body (or a PATCHed document) -> ``IdpProfile``.

    ``heapRole`` precedence: the top-level attribute (Okta custom attribute in the core namespace),
    then Entra's ``roles[primary eq "True"].value``, then the Heap extension, whose value in a GET
    is the current Heap role (Okta echoes it back in its read-modify-write PUT).
    """

    class Meta:
        unknown = INCLUDE

    userName = fields.String(required=True, validate=Length(min=1))
    externalId = fields.String(allow_none=True)
    displayName = fields.String(allow_none=True)
    # Not sent (or null): None, so an update keeps the current state and a create activates.
    active = _StrictBoolean(load_default=None)
    heapRole = fields.String(allow_none=True)
    name = fields.Nested(_NameSchema, allow_none=True)
    emails = fields.List(fields.Nested(_ElementSchema), allow_none=True)
    roles = fields.List(fields.Nested(_ElementSchema), allow_none=True)
    heap_extension = fields.Nested(_HeapExtensionSchema, data_key=HEAP_USER_URN, allow_none=True)

    @pre_load
    def canonical(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        loaded = _canonical_keys(data, USER_NAMES.canonical)
        return {k: v for k, v in loaded.items() if k not in _DROPPED and k != "heap_extension"}

    @post_load(pass_original=True)
    def profile(self, data: dict[str, Any], original: Any, **kwargs: Any) -> IdpProfile:
        data = _in_sent_order(data, original, USER_NAMES.canonical)
        name = data.pop("name", None) or {}
        emails = data.get("emails") or []
        extra = {k: v for k, v in data.items() if k not in (*_MODELLED, "heap_extension")}
        extra = {k: v for k, v in extra.items() if v is not None and v != []}
        remaining_name = {k: v for k, v in name.items() if k not in _NAME_COLUMNS and v is not None}
        if remaining_name:
            extra["name"] = remaining_name
        for key, value in list(extra.items()):
            if key.lower().startswith("urn:") and isinstance(value, Mapping):
                extra[key] = _extension(key, value)
                if not extra[key]:
                    del extra[key]
        return IdpProfile(
            user_name=data["userName"],
            emails=tuple(
                EmailAddress(value=e["value"], type=e.get("type"), primary=bool(e.get("primary")))
                for e in emails
                if isinstance(e.get("value"), str)
            ),
            given_name=name.get("givenName", ""),
            family_name=name.get("familyName", ""),
            display_name=data.get("displayName") or None,
            external_id=data.get("externalId"),
            active=data.get("active"),
            heap_role=_heap_role(data),
            extra=extra,
        )


def _heap_role(data: Mapping[str, Any]) -> str | None:
    if "heapRole" in data:
        return data["heapRole"]  # type: ignore[no-any-return]
    if data.get("roles"):
        return role_of(data["roles"])
    extension = data.get("heap_extension")
    return extension.get("heapRole") if isinstance(extension, Mapping) else None


def role_of(roles: Any) -> str | None:
    """The Heap role Entra's ``roles`` name: the primary element's, else the only element's.

    SingleAppRoleAssignment POSTs ``[{"primary": true, "value": "Admin"}]`` but PATCHes the value
    as stringified JSON, ``{"value": "{\"id\":\"06b0…\",\"value\":\"Admin\",...}"}``;
    AppRoleAssignmentsComplex sends every role with ``primary: "false"``. Heap holds one role,
    so several roles with none primary can't be read as one: 400 invalidValue.
    """
    elements = _elements(roles)
    primary = [e for e in elements if e["primary"] is True]
    chosen = primary or elements
    if not chosen:
        return None
    if len(chosen) > 1:
        raise ScimError(
            400,
            f"roles: {len(chosen)} roles were sent and none is primary, but a Heap user has one"
            " role. In the identity provider, assign a single app role to the user, or mark one"
            ' role primary (Entra: map roles[primary eq "True"].value).',
            "invalidValue",
        )
    return _role_name(chosen[0]["value"])


def _role_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScimError(
            400, "roles: each value must be a string, a Heap role name.", "invalidValue"
        )
    app_role = quirks.app_role(value)
    if app_role is None:
        return value
    for key in ("value", "displayName"):
        name = lookup(app_role, key)
        if isinstance(name, str) and name.strip():
            return name
    raise ScimError(
        400,
        "roles: the app role sent as JSON has no value or displayName naming a Heap role.",
        "invalidValue",
    )


def heap_role_from(document: Mapping[str, Any], source: PatchOperation) -> str | None:
    """The Heap role one PATCH operation speaks of: ``roles`` (Entra), the Heap extension's
    ``heapRole``, or the top-level ``heapRole`` (Okta), read from the patched ``document``."""
    attr = source.path.attr
    if attr.attr_key == "roles":
        return role_of(lookup(document, "roles"))
    if attr.urn is not None:
        extension = lookup(document, HEAP_USER_URN)
        value = lookup(extension, "heapRole") if isinstance(extension, Mapping) else None
    else:
        value = lookup(document, "heapRole")
    return value if isinstance(value, str) else None


def _elements(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else []
    return [
        {"primary": quirks.as_boolean(lookup(i, "primary")), "value": lookup(i, "value")}
        for i in items
        if isinstance(i, Mapping)
    ]


def _extension(urn: str, extension: Mapping[str, Any]) -> dict[str, Any]:
    # Some clients repeat "schemas" inside an extension object; the resource's list is the one.
    result = {k: v for k, v in extension.items() if k.lower() != "schemas" and v is not None}
    if urn == ENTERPRISE_USER_URN:
        for key in list(result):
            if key.lower() == "manager":
                result[key] = quirks.reference(result[key])
    return result


def load_user(body: Any) -> IdpProfile:
    """A User body as an ``IdpProfile``; a body that is not an object is 400 invalidSyntax."""
    if not isinstance(body, Mapping):
        raise ScimError(400, "The body must be a JSON object (a User resource).", "invalidSyntax")
    _check_multi_values(body)
    profile: IdpProfile = _USER_SCHEMA.load(body)
    return profile


# One instance for every request: a marshmallow schema keeps no state between loads, and
# building one copies every declared field (110 us here, twice the load of Okta's body itself).
_USER_SCHEMA = UserSchema()


def _check_multi_values(body: Mapping[str, Any]) -> None:
    """Every list attribute, in the core schema or an extension, holds few enough values.

    Checked before marshmallow, which would otherwise validate (and report on) every one.
    """
    scopes = [body, *(v for k, v in body.items() if k.lower().startswith("urn:"))]
    for scope in scopes:
        if not isinstance(scope, Mapping):
            continue
        for key, value in scope.items():
            if isinstance(value, list) and len(value) > MAX_MULTI_VALUES:
                raise ScimError(
                    400,
                    f"{key[:60]} holds {len(value):,} values; a user keeps at most "
                    f"{MAX_MULTI_VALUES} per attribute.",
                    "invalidValue",
                )
