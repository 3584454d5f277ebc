"""/Groups: Heap teams as SCIM groups, for Okta Group Push and Entra ID group provisioning.

Each view parses the request, makes one service call and dumps the result. A PATCH never reads the
member list: membership changes are commands the service runs as set-based statements, and the
response is 204 unless the client asks for attributes (RFC 7644 §3.5.2 allows either).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response, g, request

from heap.models import Team
from heap.services import teams
from scim import bp
from scim.attributes import GROUP_FILTERS
from scim.body import request_json
from scim.constants import GROUP_URN
from scim.errors import ScimError
from scim.filter_match import lookup
from scim.filter_sql import condition
from scim.group_patch import checked_count, group_changes, member_ids
from scim.meta import location, meta
from scim.params import (
    Projection,
    filter_from,
    page_from,
    projection_from,
    search_parameters,
)
from scim.patch import parse_patch
from scim.responses import list_response, scim_response


@bp.get("/Groups")
def list_groups() -> Response:
    """Every team of the account, linked or not, so Okta's "Link Group" can pick any of them."""
    return _search(request.args)


@bp.post("/Groups/.search")
def search_groups() -> Response:
    """GET /Groups with its parameters in a SearchRequest body (RFC 7644 §3.4.3)."""
    return _search(search_parameters(request_json()))


def _search(args: Mapping[str, str]) -> Response:
    page = page_from(args)
    projection = projection_from(args, core_urn=GROUP_URN)
    found = teams.page_teams(
        account=g.account,
        where=condition(filter_from(args), GROUP_FILTERS),
        offset=page.offset,
        limit=page.count,
    )
    return list_response(
        _dump_many(found.teams, projection), total=found.total, start_index=page.start_index
    )


@bp.get("/Groups/<group_id>")
def get_group(group_id: str) -> Response:
    """One team; Entra asks with excludedAttributes=members, which skips the member query."""
    team = teams.get_by_scim_id(account=g.account, scim_id=group_id)
    return scim_response(_dump_one(team, _projection()))


@bp.post("/Groups")
def create_group() -> Response:
    """A new SCIM-managed team; a team of that name already -> 409 uniqueness."""
    projection = _projection()
    body = _body()
    team = teams.create(
        account=g.account,
        actor=g.actor,
        name=_display_name(body),
        external_id=_external_id(body),
        members=teams.Members(scim_ids=_members(body)),
    )
    return scim_response(_dump_one(team, projection), 201, location=location(_path(team)))


@bp.put("/Groups/<group_id>")
def replace_group(group_id: str) -> Response:
    """Okta's AIW integrations push membership by GET, then PUT with the whole member list."""
    projection = _projection()
    body = _body()
    changes: list[teams.TeamChange] = [teams.Rename(_display_name(body))]
    # An attribute left out of a PUT is not asserted (RFC 7644 §3.5.1 lets the server keep it):
    # a PUT without "members" must not wipe the team. "members": [] or null does empty it.
    if _has(body, "members"):
        changes.append(teams.ReplaceMembers(teams.Members(scim_ids=_members(body))))
    if _has(body, "externalId"):
        changes.append(teams.SetExternalId(_external_id(body)))
    team = teams.apply_changes(account=g.account, actor=g.actor, scim_id=group_id, changes=changes)
    return scim_response(_dump_one(team, projection))


@bp.patch("/Groups/<group_id>")
def patch_group(group_id: str) -> Response:
    """Membership and name changes as Okta and Entra send them; 204 unless attributes are asked."""
    projection = _projection()
    changes = group_changes(parse_patch(_body(), schema_urns=(GROUP_URN,)))
    team = teams.apply_changes(account=g.account, actor=g.actor, scim_id=group_id, changes=changes)
    if not _projection_asked():
        # Entra: "Returning a body with a list of all the members isn't advisable"; Okta takes 204.
        return scim_response(None, 204)
    return scim_response(_dump_one(team, projection))


@bp.delete("/Groups/<group_id>")
def delete_group(group_id: str) -> Response:
    """Okta's "Unlink pushed group" with "Delete the group in the target app"; users stay."""
    teams.delete(account=g.account, actor=g.actor, scim_id=group_id)
    return scim_response(None, 204)


# ---------------------------------------------------------------------------------------------
# Parsing


def _body() -> Mapping[str, Any]:
    body = request_json()
    if not isinstance(body, Mapping):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    return body


def _has(body: Mapping[str, Any], name: str) -> bool:
    return any(isinstance(key, str) and key.lower() == name.lower() for key in body)


def _display_name(body: Mapping[str, Any]) -> str:
    name = lookup(body, "displayName")
    if not isinstance(name, str) or not name.strip():
        raise ScimError(400, "displayName is required: the name of the team.", "invalidValue")
    return name


def _external_id(body: Mapping[str, Any]) -> str | None:
    # Entra sends externalId (its object id) on create; it is kept and returned as sent.
    value = lookup(body, "externalId")
    if value is not None and not isinstance(value, str):
        raise ScimError(400, "externalId must be a string.", "invalidValue")
    return value


def _members(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The member ids of a POST or PUT body; ``"members": null`` (or none) names nobody."""
    value = lookup(body, "members")
    ids = () if value is None else member_ids(value, "members")
    checked_count(ids)
    return ids


def _projection() -> Projection:
    """``attributes``/``excludedAttributes``, read before a write: one the door refuses must
    refuse the whole request, not answer 400 for a change already made."""
    return projection_from(request.args, core_urn=GROUP_URN)


def _projection_asked() -> bool:
    wanted = {"attributes", "excludedattributes"}
    return any(key.lower() in wanted for key in request.args)


# ---------------------------------------------------------------------------------------------
# Dumping


def _dump_one(team: Team, projection: Projection) -> dict[str, Any]:
    return _dump_many([team], projection)[0]


def _dump_many(found: Sequence[Team], projection: Projection) -> list[dict[str, Any]]:
    # Members are loaded only when wanted, for the whole page in one query: Entra's
    # excludedAttributes=members on a 10,000-member team costs no membership read at all.
    members = teams.members_by_team(teams=found) if projection.includes("members") else None
    return [
        projection.apply(_resource(team, None if members is None else members[team.id]))
        for team in found
    ]


def _resource(team: Team, members: Sequence[teams.MemberRef] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"schemas": [GROUP_URN], "id": team.scim_id}
    if team.external_id is not None:
        resource["externalId"] = team.external_id
    resource["displayName"] = team.name
    if members is not None:
        # Members are always users; ``display`` is Heap's (their userName), not a stored label.
        resource["members"] = [
            {
                "value": m.scim_id,
                "display": m.user_name,
                "type": "User",
                "$ref": location(f"Users/{m.scim_id}"),
            }
            for m in members
        ]
    resource["meta"] = meta(
        "Group", created=team.created_at, last_modified=team.updated_at, path=_path(team)
    )
    return resource


def _path(team: Team) -> str:
    return f"Groups/{team.scim_id}"
