"""/Users: Heap teammates as SCIM User resources (RFC 7644 §3), as Okta and Entra ID drive them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from flask import Response, g, request

from heap.models import ScimIdentity
from heap.services import provisioning, users
from heap.services.provisioning import UNSET, IdpProfile
from heap.services.records import UserRecord
from scim import bp
from scim.attributes import USER_DOCUMENT, USER_FILTERS
from scim.body import request_json
from scim.constants import USER_URN
from scim.errors import ScimError
from scim.filter_sql import condition
from scim.meta import location
from scim.params import (
    Projection,
    filter_from,
    page_from,
    projection_from,
    search_parameters,
)
from scim.patch import PatchOperation, parse_patch
from scim.patch_document import apply_to_document
from scim.responses import list_response, scim_response
from scim.user_loader import heap_role_from, load_user
from scim.user_resource import dump_user, strip_fallback

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
    projection = projection_from(args, core_urn=USER_URN)
    found = users.page_users(
        account=g.account,
        where=condition(filter_from(args), USER_FILTERS),
        offset=page.offset,
        limit=page.count,
        with_teams=projection.includes("groups"),
    )
    resources = [projection.apply(dump_user(user)) for user in found.users]
    return list_response(resources, total=found.total, start_index=page.start_index)


@bp.get("/Users/<scim_id>")
def get_user(scim_id: str) -> Response:
    """One user, active or a deactivated tombstone (Entra reads both)."""
    projection = projection_from(request.args, core_urn=USER_URN)
    user = provisioning.read_user(
        account=g.account, scim_id=scim_id, with_teams=projection.includes("groups")
    )
    return scim_response(projection.apply(dump_user(user)))


@bp.post("/Users")
def create_user() -> Response:
    """Provision a user, or restore this account's deactivated one with that userName."""
    projection = _projection()
    profile = load_user(request_json())
    user = provisioning.provision(account=g.account, actor=g.actor, profile=profile)
    body = projection.apply(dump_user(user))
    return scim_response(body, 201, location=location(f"Users/{user.id}"))


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
    provisioning.delete(account=g.account, actor=g.actor, scim_id=scim_id)
    return scim_response(None, 204)


def _modify(scim_id: str, edit: Callable[[ScimIdentity], IdpProfile]) -> Response:
    projection = _projection()
    # `edit` runs inside the service's transaction, on the identity as read there, so a PUT or
    # PATCH never applies to a stale copy.
    identity = provisioning.modify(
        account=g.account,
        actor=g.actor,
        scim_id=scim_id,
        edit=edit,
        with_teams=projection.includes("groups"),
    )
    return scim_response(_dumped(identity, projection))


def _projection() -> Projection:
    """``attributes``/``excludedAttributes``, read before a write: one the door refuses must
    refuse the whole request, not answer 400 for a change already made."""
    return projection_from(request.args, core_urn=USER_URN)


def _dumped(identity: ScimIdentity, projection: Projection) -> dict[str, Any]:
    # Teams only when `groups` is wanted; ``provisioning.modify(with_teams=)`` loaded them.
    teams = identity.user.teams if projection.includes("groups") else ()
    return projection.apply(dump_user(UserRecord.of(identity, teams)))


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
    patched = apply_to_document(document, operations, schema=USER_DOCUMENT)
    profile = load_user(patched)
    spoken = [op for op in operations if op.path.attr.attr_key in _ROLE_ATTRIBUTES]
    if not spoken:
        # The document carries the current Heap role, which is not the IdP speaking about it.
        return replace(profile, heap_role=UNSET)
    # The attribute this PATCH last wrote is the IdP's word, whatever else the document holds.
    return replace(profile, heap_role=heap_role_from(patched, spoken[-1]))
