"""Which teams the IdP owns (finding 5): it deletes only teams it pushed or linked, and an Admin
can take a linked team back with unlinkTeam."""

# factory-boy factories are untyped (see the tests.factories override in pyproject.toml).
# mypy: disable-error-code="no-untyped-call,attr-defined"

from __future__ import annotations

from typing import Any, cast

from flask.testing import FlaskClient
from sqlalchemy import select

from heap.extensions import db
from heap.models import AuditEvent, Team, TeamMembership, User
from tests.conftest import json_of
from tests.factories import TeamFactory, TeamMembershipFactory, UserFactory, scim_account
from tests.graph.conftest import gid, gql, post, top_level_codes, viewer_token

GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
UNLINK = """mutation ($input: UnlinkTeamInput!) {
  unlinkTeam(input: $input) { team { name scimManaged memberCount } userErrors { code field } }
}"""
RENAME = """mutation ($input: RenameTeamInput!) {
  renameTeam(input: $input) { team { name } userErrors { code } }
}"""


def _scim(client: FlaskClient, token: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    return client.open(f"/scim/v2{path}", method=method, headers=headers, json=body)


def _okta_push(team: Team) -> dict[str, Any]:
    """Okta's rename-with-every-push operation (idp-behaviour.md §1.10)."""
    value = {"id": team.scim_id, "displayName": team.name}
    return {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": value}]}


def _team(team_id: int) -> Team:
    db.session.expire_all()
    return db.session.get_one(Team, team_id)


def test_the_idp_cannot_delete_a_team_made_in_heap(client: FlaskClient) -> None:
    """Seen: DELETE /Groups/{id} on a team an Admin made by hand answered 204."""
    account, token = scim_account()
    made_here = cast(Team, TeamFactory.create(account=account, name="Made here"))
    response = _scim(client, token, "DELETE", f"/Groups/{made_here.scim_id}")
    assert response.status_code == 403
    assert json_of(response) == {
        "schemas": [ERROR_URN],
        "status": "403",
        "detail": "Team 'Made here' was made in Heap (or taken back by a Heap Admin), not pushed "
        "or linked by your identity provider, so Heap did not delete it. To stop pushing to it, "
        "unlink the group in your identity provider and leave the group in the app.",
    }
    assert _team(made_here.id).name == "Made here"
    [refusal] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "team.delete")
    ).all()
    assert refusal.outcome == "refused"
    assert (refusal.reason or "").startswith("TEAM_NOT_LINKED: ")


def test_the_idp_deletes_the_teams_it_pushed_or_linked(client: FlaskClient) -> None:
    account, token = scim_account()
    pushed = json_of(
        _scim(client, token, "POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "Pushed"})
    )
    assert _scim(client, token, "DELETE", f"/Groups/{pushed['id']}").status_code == 204
    # "Link Group": Okta's first push to an existing team links it; then it may delete it.
    existing = cast(Team, TeamFactory.create(account=account, name="Existing"))
    assert (
        _scim(
            client, token, "PATCH", f"/Groups/{existing.scim_id}", _okta_push(existing)
        ).status_code
        == 204
    )
    assert _scim(client, token, "DELETE", f"/Groups/{existing.scim_id}").status_code == 204
    db.session.expire_all()
    assert db.session.scalars(select(Team.name).where(Team.account_id == account.id)).all() == []


def test_an_admin_unlinks_a_team_and_okta_relinks_it_only_by_pushing_again(
    client: FlaskClient,
) -> None:
    account, token = scim_account()
    admin = cast(User, UserFactory.create(account=account, admin=True))
    member = cast(User, UserFactory.create(account=account))
    team = cast(Team, TeamFactory.create(account=account, name="Data", scim_managed=True))
    TeamMembershipFactory.create(team=team, user=member)

    # Linked: read-only in Heap.
    renamed = gql(
        client, RENAME, {"input": {"teamId": gid("Team", team.id), "name": "Mine"}}, as_=admin
    )
    assert renamed["renameTeam"]["userErrors"] == [{"code": "TEAM_SCIM_MANAGED"}]

    unlinked = gql(client, UNLINK, {"input": {"teamId": gid("Team", team.id)}}, as_=admin)
    assert unlinked["unlinkTeam"] == {
        "team": {"name": "Data", "scimManaged": False, "memberCount": 1},
        "userErrors": [],
    }
    renamed = gql(
        client, RENAME, {"input": {"teamId": gid("Team", team.id), "name": "Mine"}}, as_=admin
    )
    assert renamed["renameTeam"] == {"team": {"name": "Mine"}, "userErrors": []}
    # Unlinking again, or a team never linked: refused with a code.
    again = gql(client, UNLINK, {"input": {"teamId": gid("Team", team.id)}}, as_=admin)
    assert again["unlinkTeam"]["userErrors"] == [{"code": "TEAM_NOT_LINKED", "field": None}]

    # Okta deleting it now is refused: the team is Heap's again.
    assert _scim(client, token, "DELETE", f"/Groups/{team.scim_id}").status_code == 403
    # Okta still holding its id and pushing again links it again (Okta's "Link Group").
    pushed = _scim(client, token, "PATCH", f"/Groups/{team.scim_id}", _okta_push(_team(team.id)))
    assert pushed.status_code == 204
    assert _team(team.id).scim_managed is True
    members = db.session.scalars(
        select(TeamMembership.user_id).where(TeamMembership.team_id == team.id)
    )
    assert list(members) == [member.id]
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.target_id == team.scim_id, AuditEvent.outcome == "applied")
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["team.unlink", "team.rename", "team.link"]


def test_only_admins_unlink_teams(client: FlaskClient) -> None:
    account, _ = scim_account()
    team = cast(Team, TeamFactory.create(account=account, scim_managed=True))
    teammate = cast(User, UserFactory.create(account=account))
    body = post(
        client,
        UNLINK,
        {"input": {"teamId": gid("Team", team.id)}},
        token=viewer_token(client.application, teammate),
    )
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert _team(team.id).scim_managed is True
    other = scim_account()[0]
    stranger = cast(User, UserFactory.create(account=other, admin=True))
    foreign = gql(client, UNLINK, {"input": {"teamId": gid("Team", team.id)}}, as_=stranger)
    assert foreign["unlinkTeam"]["userErrors"] == [{"code": "NOT_FOUND", "field": ["teamId"]}]
