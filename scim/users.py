"""/Users: Heap teammates as SCIM User resources (RFC 7644 §3), as Okta and Entra ID drive them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from flask import Response, g, request
from sqlalchemy import ColumnElement, String, literal, or_
from sqlalchemy.sql.visitors import replacement_traverse

from heap.models import Role, ScimIdentity, User
from heap.services import users
from heap.services.users import UNSET, IdpProfile
from scim import bp
from scim.body import request_json
from scim.constants import HEAP_USER_URN, USER_URN
from scim.errors import ScimError
from scim.filter_sql import Attribute, MultiValued, condition, mapping_resolver
from scim.params import (
    Projection,
    filter_from,
    page_from,
    projection_from,
    search_parameters,
)
from scim.patch import PatchOperation, parse_patch
from scim.patch_document import USER_SCHEMA, apply_to_document
from scim.responses import list_response, scim_response
from scim.schemas import (
    dump_user,
    heap_role_from,
    load_user,
    location,
    strip_fallback,
)

_ROLE = Attribute(Role.name.expression, case_exact=True)  # a role must be named exactly


def _also_sent_email(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """The predicate on the Heap email, or the same predicate on the address the IdP sent.

    Entra may send an email-shaped UPN as userName (then the Heap email) and another work
    address; its uniqueness lookup by that address must still find the user.
    """

    def swap(element: Any, **_: Any) -> Any:
        if getattr(element, "table", None) is User.__table__ and element.key == "email":
            return ScimIdentity.email.expression
        return None

    no_options: dict[str, Any] = {}
    return or_(predicate, replacement_traverse(predicate, no_options, swap))


# A user's addresses are the Heap email and the address the IdP sent (usually the same):
# `emails[type eq "work"].value eq "x"` (Entra's uniqueness lookup) and `emails.value eq "x"`
# compare both, case-insensitively.
_EMAILS = MultiValued(
    resolve=mapping_resolver(
        {
            "value": Attribute(User.email.expression),
            "display": Attribute(User.email.expression),
            "type": Attribute(literal("work", String)),
            "primary": Attribute(literal(True), "boolean"),
        }
    ),
    exists=_also_sent_email,
)
_resolve = mapping_resolver(
    {
        "id": Attribute(ScimIdentity.id.expression, case_exact=True),
        # Okta's existence check; RFC 7643 makes userName caseExact: false.
        "userName": Attribute(ScimIdentity.user_name.expression),
        # Entra queries externalId first; ids are case-exact.
        "externalId": Attribute(ScimIdentity.external_id.expression, case_exact=True),
        "displayName": Attribute(User.display_name.expression),
        "name.givenName": Attribute(User.given_name.expression),
        "name.familyName": Attribute(User.family_name.expression),
        "name.formatted": Attribute(User.given_name + " " + User.family_name),
        "emails": _EMAILS,
        "active": Attribute(User.is_active.expression, "boolean"),
        "meta.created": Attribute(ScimIdentity.created_at.expression, "datetime"),
        "meta.lastModified": Attribute(ScimIdentity.last_modified.expression, "datetime"),
        "heapRole": _ROLE,
        f"{HEAP_USER_URN}:heapRole": _ROLE,
    },
    default_urns=[USER_URN],
)
# A PATCH speaks about the role only when it names one of these (any schema, any case).
_ROLE_ATTRIBUTES = ("heaprole", "roles")


@bp.get("/Users")
def list_users() -> Response:
    """A page of the account's users, optionally filtered (Okta import, existence checks)."""
    return _search(request.args)


@bp.post("/Users/.search")
def search_users() -> Response:
    """GET /Users with its parameters in a SearchRequest body (RFC 7644 §3.4.3)."""
    return _search(search_parameters(request_json()))


@bp.post("/.search")
def search_everything() -> Response:
    """Searching several resource types at once is not offered (RFC 7644 §3.4.3: 501)."""
    raise ScimError(
        501,
        "Search one resource type at a time: GET /Users or POST /Users/.search, GET /Groups or"
        " POST /Groups/.search.",
    )


def _search(args: Mapping[str, str]) -> Response:
    page = page_from(args)
    found = users.page_identities(
        account=g.account,
        where=condition(filter_from(args), _resolve),
        offset=page.offset,
        limit=page.count,
    )
    resources = _dump(found.identities, projection_from(args, core_urn=USER_URN))
    return list_response(resources, total=found.total, start_index=page.start_index)


@bp.get("/Users/<scim_id>")
def get_user(scim_id: str) -> Response:
    """One user, active or a deactivated tombstone (Entra reads both)."""
    identity = users.get_identity(account=g.account, scim_id=scim_id)
    return _resource(identity)


@bp.post("/Users")
def create_user() -> Response:
    """Provision a user, or restore this account's deactivated one with that userName."""
    profile = load_user(request_json())
    identity = users.provision(account=g.account, actor=g.actor, profile=profile)
    return _resource(identity, status=201)


@bp.put("/Users/<scim_id>")
def replace_user(scim_id: str) -> Response:
    """Full replace; Okta's read-modify-write PUT, and AIW apps' deactivation (active: false)."""
    profile = load_user(request_json())
    return _modify(scim_id, lambda current: strip_fallback(profile, current))


@bp.patch("/Users/<scim_id>")
def patch_user(scim_id: str) -> Response:
    """PatchOp applied to the user's current document, in order and atomically."""
    operations = parse_patch(request_json())
    return _modify(scim_id, lambda current: _patched(current, operations))


@bp.delete("/Users/<scim_id>")
def delete_user(scim_id: str) -> Response:
    """Entra's DELETE: the user and the SCIM identity go; a second DELETE is 404."""
    users.delete(account=g.account, actor=g.actor, scim_id=scim_id)
    return scim_response(None, 204)


def _modify(scim_id: str, edit: Callable[[ScimIdentity], IdpProfile]) -> Response:
    # `edit` runs inside the service's transaction, on the identity as read there, so a PUT or
    # PATCH never applies to a stale copy.
    identity = users.modify(account=g.account, actor=g.actor, scim_id=scim_id, edit=edit)
    return _resource(identity)


def _resource(identity: ScimIdentity, status: int = 200) -> Response:
    body = _dump([identity], projection_from(request.args, core_urn=USER_URN))[0]
    url = location(f"Users/{identity.id}") if status == 201 else None
    return scim_response(body, status, location=url)


def _dump(identities: Sequence[ScimIdentity], projection: Projection) -> list[dict[str, Any]]:
    # Teams are read only when `groups` is wanted, for the whole page in one query.
    wanted = projection.includes("groups")
    teams = users.teams_of(user_ids=[i.user_id for i in identities]) if wanted else {}
    return [projection.apply(dump_user(i, teams=teams.get(i.user_id, ()))) for i in identities]


def _one_role_list(operation: PatchOperation) -> PatchOperation:
    """A whole ``roles`` add replaces the list: Heap holds one role.

    Entra adds each new app role as stringified JSON and removes roles by a value that never
    matches the element it first POSTed; appended, an old primary role would stay in the list
    and win again at the next ``remove`` (a role the IdP took away, granted back).
    """
    path = operation.path
    whole_roles = path.attr.attr_key == "roles" and path.value_filter is None
    if operation.op == "add" and whole_roles and path.attr.sub_attr is None:
        return replace(operation, op="replace")
    return operation


def _patched(identity: ScimIdentity, operations: list[PatchOperation]) -> IdpProfile:
    # Without stand-in names, so a PATCH of other attributes never stores them.
    document = dump_user(identity, fallback_names=False)
    operations = [_one_role_list(op) for op in operations]
    patched = apply_to_document(document, operations, schema=USER_SCHEMA)
    profile = load_user(patched)
    spoken = [op for op in operations if op.path.attr.attr_key in _ROLE_ATTRIBUTES]
    if not spoken:
        # The document carries the current Heap role, which is not the IdP speaking about it.
        return replace(profile, heap_role=UNSET)
    # The attribute this PATCH last wrote is the IdP's word, whatever else the document holds.
    return replace(profile, heap_role=heap_role_from(patched, spoken[-1]))
