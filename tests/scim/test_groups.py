"""/Groups as Okta Group Push and Entra ID use it: the bodies from research/idp-behaviour.md
§1.7-1.11 and §2.1, checklist items 36-48, on SQLite and PostgreSQL.

Membership is asserted from the team_memberships table, responses as whole bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from heap.extensions import db
from heap.models import Account, AuditEvent, ScimIdentity, Team, TeamMembership, User, utcnow
from tests.conftest import json_of
from tests.factories import TeamFactory, TeamMembershipFactory, UserFactory, scim_account

GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BASE = "http://localhost/scim/v2"


@dataclass
class Idp:
    """An identity provider holding this account's SCIM token."""

    client: FlaskClient
    account: Account
    token: str

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, **query: str
    ) -> Any:
        return self.client.open(
            f"/scim/v2{path}",
            method=method,
            query_string=query,
            data=None if body is None else json.dumps(body),
            content_type="application/scim+json",
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def user(self, **kwargs: Any) -> User:
        return cast(User, UserFactory.create(account=self.account, **kwargs))

    def team(self, members: Sequence[User] = (), **kwargs: Any) -> Team:
        team = cast(Team, TeamFactory.create(account=self.account, **kwargs))
        for user in members:
            TeamMembershipFactory.create(team=team, user=user)
        return team


@pytest.fixture
def idp(app: Flask, client: FlaskClient) -> Idp:
    account, token = scim_account()
    return Idp(client, account, token)


def sid(user: User) -> str:
    return user.scim_identity.id


def patch(*operations: Mapping[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def member_scim_ids(team: Team) -> set[str]:
    """The team's members as SCIM ids, straight from the table."""
    query = (
        select(ScimIdentity.id)
        .join(TeamMembership, TeamMembership.user_id == ScimIdentity.user_id)
        .where(TeamMembership.team_id == team.id)
    )
    return set(db.session.scalars(query))


def fresh(team: Team) -> Team:
    db.session.expire_all()
    found = db.session.get(Team, team.id)
    assert found is not None
    return found


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def resource(team: Team, members: Sequence[User] | None = ()) -> dict[str, Any]:
    """The Group resource the IdP must see for ``team`` (members sorted by Heap user id)."""
    team = fresh(team)
    body: dict[str, Any] = {"schemas": [GROUP_URN], "id": team.scim_id}
    if team.external_id is not None:
        body["externalId"] = team.external_id
    body["displayName"] = team.name
    if members is not None:
        body["members"] = [
            {
                "value": sid(u),
                "display": u.scim_identity.user_name,
                "type": "User",
                "$ref": f"{BASE}/Users/{sid(u)}",
            }
            for u in sorted(members, key=lambda u: u.id)
        ]
    body["meta"] = {
        "resourceType": "Group",
        "created": stamp(team.created_at),
        "lastModified": stamp(team.updated_at),
        "location": f"{BASE}/Groups/{team.scim_id}",
    }
    return body


def listing(resources: list[dict[str, Any]], total: int, start: int = 1) -> dict[str, Any]:
    return {
        "schemas": [LIST_URN],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def error(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return body


def audit(account: Account, action: str) -> list[AuditEvent]:
    db.session.expire_all()
    query = select(AuditEvent).where(
        AuditEvent.account_id == account.id, AuditEvent.action == action
    )
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


@dataclass
class Statements:
    sql: list[str] = field(default_factory=list)

    @property
    def writes(self) -> list[str]:
        verbs = ("INSERT", "UPDATE", "DELETE")
        return [s for s in self.sql if s.lstrip().upper().startswith(verbs)]

    def touching(self, table: str) -> list[str]:
        return [s for s in self.sql if table in s]


@contextmanager
def statements() -> Iterator[Statements]:
    """Every SQL statement sent to the database meanwhile.

    The test shares the request's session; rolling back expires everything it holds, so the
    request loads what it needs as in production."""
    db.session.rollback()
    seen = Statements()

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.sql.append(sql)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


# ---------------------------------------------------------------------------------------------
# GET /Groups: listing, filters, projection (checklist 36-38, 48)


def test_list_shows_every_team_linked_or_not_in_a_stable_order(idp: Idp) -> None:
    alice, bob = idp.user(), idp.user()
    linked = idp.team([bob, alice], name="Data Team", scim_managed=True, external_id="okta-1")
    plain = idp.team(name="Design")
    empty = idp.team(name="Ops")
    other_account, _ = scim_account()
    TeamFactory.create(account=other_account, name="Hidden")

    # Okta's "Refresh App Groups" pages by 100; here by 2 to see the pages join up.
    first = idp.call("GET", "/Groups", startIndex="1", count="2")
    second = idp.call("GET", "/Groups", startIndex="3", count="2")
    beyond = idp.call("GET", "/Groups", startIndex="4", count="2")
    only_total = idp.call("GET", "/Groups", count="0")

    assert first.status_code == 200
    assert first.mimetype == "application/scim+json"
    assert json_of(first) == listing(
        [resource(linked, [alice, bob]), resource(plain)], total=3, start=1
    )
    assert json_of(second) == listing([resource(empty)], total=3, start=3)
    assert json_of(beyond) == listing([], total=3, start=4)
    assert json_of(only_total) == listing([], total=3, start=1)


def test_display_name_filter_matches_like_team_names_so_okta_links(idp: Idp) -> None:
    team = idp.team(name="Test SCIMv2")

    # Okta's existence check before creating a push group (§1.7), any case, extra spaces.
    exact = idp.call("GET", "/Groups", filter='displayName eq "Test SCIMv2"')
    folded = idp.call("GET", "/Groups", filter='DISPLAYNAME Eq "  test   scimv2 "')
    # Entra's form (§2.1): excludedAttributes=members with the filter.
    entra = idp.call(
        "GET", "/Groups", excludedAttributes="members", filter='displayName eq "TEST SCIMV2"'
    )
    missing = idp.call("GET", "/Groups", filter='displayName eq "Test SCIMv3"')

    assert json_of(exact) == listing([resource(team)], total=1)
    assert json_of(folded) == listing([resource(team)], total=1)
    assert json_of(entra) == listing([resource(team, None)], total=1)
    # Entra's Test Connection wants an empty list, never 404.
    assert missing.status_code == 200
    assert json_of(missing) == listing([], total=0)


def test_filters_on_id_external_id_members_and_meta(idp: Idp) -> None:
    alice, bob = idp.user(), idp.user()
    first = idp.team([alice], name="First", external_id="ext-1")
    second = idp.team([alice, bob], name="Second", external_id="EXT-2")
    third = idp.team(name="Third")
    later = utcnow().isoformat()
    fresh(third).updated_at = datetime(2099, 1, 1, tzinfo=UTC)
    db.session.commit()

    def found(text: str) -> list[str]:
        response = idp.call("GET", "/Groups", filter=text, excludedAttributes="members")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [r["displayName"] for r in json_of(response)["Resources"]]

    assert found(f'id eq "{second.scim_id}"') == ["Second"]
    assert found('externalId eq "ext-1"') == ["First"]
    assert found('externalId eq "ext-2"') == []  # externalId is caseExact (RFC 7643 §3.1)
    assert found(f'members.value eq "{sid(bob)}"') == ["Second"]
    assert found(f'members[value eq "{sid(alice)}"]') == ["First", "Second"]
    assert found(f'members eq "{sid(alice)}" and displayName sw "s"') == ["Second"]
    assert found(f'meta.lastModified gt "{later}"') == ["Third"]
    assert found('meta.resourceType eq "Group" and not (displayName eq "third")') == [
        "First",
        "Second",
    ]
    assert found(f'id eq "{first.scim_id}" or externalId pr') == ["First", "Second"]


def test_unknown_filter_attribute_is_invalid_filter(idp: Idp) -> None:
    response = idp.call("GET", "/Groups", filter='name eq "x"')
    bad_syntax = idp.call("GET", "/Groups", filter='displayName eq "x')

    assert response.status_code == 400
    assert json_of(response) == error(
        400,
        "Invalid filter: filtering on name is not supported; supported attributes: displayName, "
        "externalId, id, members, meta.created, meta.lastModified, meta.resourceType.",
        "invalidFilter",
    )
    assert json_of(bad_syntax) == error(
        400, "Invalid filter: unterminated string starting at character 16.", "invalidFilter"
    )


def test_nul_characters_are_400_not_a_database_error(idp: Idp) -> None:
    # PostgreSQL text can't hold NUL: caught at the door, on both databases alike.
    team = idp.team(name="Data", scim_managed=True)
    escaped = idp.call("GET", "/Groups", filter='displayName eq "a\\u0000"')
    raw = idp.call("GET", "/Groups", filter='displayName eq "a\x00"')
    created = idp.call("POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "a\x00"})
    removed = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch({"op": "remove", "path": 'members[value eq "a\\u0000"]'}),
    )
    added = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch({"op": "add", "path": "members", "value": [{"value": "a\x00"}]}),
    )

    nul_filter = error(
        400,
        "Invalid filter: the value at character 16 contains a NUL character or an unpaired"
        " UTF-16 surrogate; send valid Unicode text.",
        "invalidFilter",
    )
    assert json_of(escaped) == nul_filter
    assert json_of(raw) == nul_filter
    unstorable = (
        "the text contains a NUL character or an unpaired UTF-16 surrogate (a value cut in the"
        " middle of a character). Send valid Unicode text."
    )
    assert json_of(created) == error(400, f"displayName: {unstorable}", "invalidValue")
    assert json_of(added) == error(
        400, f"Operations[0].value[0].value: {unstorable}", "invalidValue"
    )
    assert json_of(removed) == error(
        400,
        "Invalid PATCH: operation 1: invalid path 'members[value eq \"a\\\\u0000\"]': "
        "the value at character 18 contains a NUL character or an unpaired UTF-16 surrogate;"
        " send valid Unicode text.",
        "invalidPath",
    )
    assert [
        t.name for t in db.session.scalars(select(Team).where(Team.account_id == idp.account.id))
    ] == ["Data"]


def test_excluded_members_are_never_loaded(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], name="Big")

    with statements() as listed:
        many = idp.call("GET", "/Groups", excludedAttributes="members")
    with statements() as fetched:
        one = idp.call("GET", f"/Groups/{team.scim_id}", excludedAttributes="members")
    with statements() as named:
        only_name = idp.call("GET", f"/Groups/{team.scim_id}", attributes="displayName")

    assert json_of(many) == listing([resource(team, None)], total=1)
    assert json_of(one) == resource(team, None)
    assert json_of(only_name) == {
        "schemas": [GROUP_URN],
        "id": team.scim_id,
        "displayName": "Big",
    }
    for seen in (listed, fetched, named):
        assert seen.touching("team_memberships") == []


def test_members_of_a_page_load_in_one_query(idp: Idp) -> None:
    people = [idp.user() for _ in range(4)]
    teams = [idp.team(people[: n + 1], name=f"Team {n}") for n in range(4)]

    with statements() as seen:
        response = idp.call("GET", "/Groups")

    assert json_of(response) == listing(
        [resource(team, people[: n + 1]) for n, team in enumerate(teams)], total=4
    )
    assert len(seen.touching("team_memberships")) == 1


def test_get_one_group_and_404s(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], name="Data Team")
    other_account, _ = scim_account()
    foreign = cast(Team, TeamFactory.create(account=other_account))

    found = idp.call("GET", f"/Groups/{team.scim_id}")
    unknown = idp.call("GET", "/Groups/9b1c0d4e-0000-4000-8000-000000000000")
    theirs = idp.call("GET", f"/Groups/{foreign.scim_id}")

    assert found.status_code == 200
    assert json_of(found) == resource(team, [alice])
    assert unknown.status_code == 404
    assert json_of(unknown) == error(
        404, "No group with id '9b1c0d4e-0000-4000-8000-000000000000'."
    )
    # Another account's group looks exactly like one that does not exist.
    assert theirs.status_code == 404
    assert json_of(theirs) == error(404, f"No group with id {foreign.scim_id!r}.")


# ---------------------------------------------------------------------------------------------
# POST, PUT, DELETE (checklist 39, 46, 47)


def test_okta_creates_a_push_group(idp: Idp) -> None:
    response = idp.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP_URN], "displayName": "Test SCIMv2", "members": []},
    )

    assert response.status_code == 201
    team = db.session.scalars(select(Team).where(Team.account_id == idp.account.id)).one()
    assert response.headers["Location"] == f"{BASE}/Groups/{team.scim_id}"
    assert json_of(response) == resource(team, [])
    assert team.scim_managed is True
    assert team.created_at == team.updated_at
    assert [e.target_id for e in audit(idp.account, "team.create")] == [team.scim_id]


def test_entra_creates_a_group_with_its_schema_and_external_id(idp: Idp) -> None:
    # Entra's create body (§2.1): an extra schema URN and externalId, no members.
    response = idp.call(
        "POST",
        "/Groups",
        {
            "schemas": [
                GROUP_URN,
                "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
            ],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1DisplayName",
            "meta": {"resourceType": "Group"},
        },
    )

    assert response.status_code == 201
    team = db.session.scalars(select(Team).where(Team.account_id == idp.account.id)).one()
    assert team.external_id == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert json_of(response) == resource(team, [])


def test_create_with_members_adds_only_eligible_people(idp: Idp) -> None:
    alice = idp.user()
    gone = idp.user(deactivated_at=utcnow())
    response = idp.call(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP_URN],
            "displayName": "Launch",
            "members": [{"value": sid(alice), "display": "a"}, {"value": sid(gone)}],
        },
    )

    assert response.status_code == 201
    team = db.session.scalars(select(Team).where(Team.account_id == idp.account.id)).one()
    assert member_scim_ids(team) == {sid(alice)}
    assert json_of(response) == resource(team, [alice])
    assert [e.target_id for e in audit(idp.account, "team.add_member")] == [sid(gone)]


def test_create_with_a_taken_name_is_409_uniqueness(idp: Idp) -> None:
    idp.team(name="Data Team")

    response = idp.call("POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "data TEAM"})
    nameless = idp.call("POST", "/Groups", {"schemas": [GROUP_URN], "displayName": " "})

    assert response.status_code == 409
    assert json_of(response) == error(409, "A team named 'data TEAM' already exists.", "uniqueness")
    assert nameless.status_code == 400
    assert json_of(nameless) == error(
        400, "displayName is required: the name of the team.", "invalidValue"
    )
    assert db.session.scalar(select(Team.name).where(Team.account_id == idp.account.id)) == (
        "Data Team"
    )


def test_okta_aiw_put_replaces_name_and_members(idp: Idp) -> None:
    alice, bob, carol = idp.user(), idp.user(), idp.user()
    team = idp.team([alice, bob], name="Old", scim_managed=True)
    # AIW: Okta GETs the group and PUTs it back with the full member list (display: null).
    current = json_of(idp.call("GET", f"/Groups/{team.scim_id}"))
    current["displayName"] = "New"
    current["members"] = [{"value": sid(bob), "display": None}, {"value": sid(carol)}]

    response = idp.call("PUT", f"/Groups/{team.scim_id}", current)

    assert response.status_code == 200
    assert member_scim_ids(team) == {sid(bob), sid(carol)}
    assert json_of(response) == resource(team, [bob, carol])
    assert fresh(team).name == "New"


def test_put_without_members_keeps_them_and_empty_members_clears_them(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], name="Keep")

    kept = idp.call("PUT", f"/Groups/{team.scim_id}", {"schemas": [GROUP_URN], "displayName": "K"})
    assert kept.status_code == 200
    assert member_scim_ids(team) == {sid(alice)}

    cleared = idp.call(
        "PUT",
        f"/Groups/{team.scim_id}",
        {"schemas": [GROUP_URN], "displayName": "K", "members": []},
    )
    assert cleared.status_code == 200
    assert member_scim_ids(team) == set()
    assert json_of(cleared) == resource(team, [])


def test_delete_removes_the_team_not_its_users(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], name="Gone", scim_managed=True)
    scim_id = team.scim_id

    response = idp.call("DELETE", f"/Groups/{scim_id}")
    again = idp.call("GET", f"/Groups/{scim_id}")

    assert response.status_code == 204
    assert response.get_data() == b""
    assert again.status_code == 404
    db.session.expire_all()
    assert db.session.get(Team, team.id) is None
    assert db.session.scalars(select(TeamMembership)).all() == []
    user = db.session.get(User, alice.id)
    assert user is not None and user.is_active


# ---------------------------------------------------------------------------------------------
# PATCH: every shape Okta and Entra send (checklist 40-45)


def test_okta_membership_push_removes_and_adds(idp: Idp) -> None:
    leaving, staying, joining = idp.user(), idp.user(), idp.user()
    team = idp.team([leaving, staying], scim_managed=True)

    # §1.9, Okta's body verbatim with our ids.
    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        {
            "schemas": [PATCH_URN],
            "Operations": [
                {"op": "remove", "path": f'members[value eq "{sid(leaving)}"]'},
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": sid(joining), "display": "test.user@okta.local"}],
                },
            ],
        },
    )

    assert response.status_code == 204
    assert response.get_data() == b""
    assert member_scim_ids(team) == {sid(staying), sid(joining)}


def test_add_is_idempotent(idp: Idp) -> None:
    alice, bob = idp.user(), idp.user()
    team = idp.team([alice], scim_managed=True)
    body = patch({"op": "add", "path": "members", "value": [{"value": sid(alice)}]})

    again = idp.call("PATCH", f"/Groups/{team.scim_id}", body)
    more = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch(
            {"op": "add", "path": "members", "value": [{"value": sid(bob)}, {"value": sid(bob)}]}
        ),
    )
    twice = idp.call("PATCH", f"/Groups/{team.scim_id}", body)

    assert [again.status_code, more.status_code, twice.status_code] == [204, 204, 204]
    assert member_scim_ids(team) == {sid(alice), sid(bob)}
    assert [e.details for e in audit(idp.account, "team.add_members")] == [{"added": 1}]


def test_entra_adds_with_capitalised_op_and_null_ref(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team(scim_managed=True)

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        {
            "schemas": [PATCH_URN],
            "Operations": [
                {
                    "name": "addMember",
                    "op": "Add",
                    "path": "members",
                    "value": [{"$ref": None, "value": sid(alice)}],
                }
            ],
        },
    )

    assert response.status_code == 204
    assert member_scim_ids(team) == {sid(alice)}


def test_entra_remove_with_a_value_list_removes_only_those(idp: Idp) -> None:
    alice, bob, carol, outsider = idp.user(), idp.user(), idp.user(), idp.user()
    team = idp.team([alice, bob, carol], scim_managed=True)

    # Entra's default form (§3): read literally under the RFC it would empty the group.
    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        {
            "schemas": [PATCH_URN],
            "Operations": [
                {
                    "op": "Remove",
                    "path": "members",
                    "value": [{"value": sid(alice)}, {"value": sid(outsider)}],
                }
            ],
        },
    )

    assert response.status_code == 204
    assert member_scim_ids(team) == {sid(bob), sid(carol)}


def test_remove_by_filter_including_entra_or_form_and_non_members(idp: Idp) -> None:
    alice, bob, carol, outsider = idp.user(), idp.user(), idp.user(), idp.user()
    team = idp.team([alice, bob, carol], scim_managed=True)

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch(
            {"op": "remove", "path": f'members[value eq "{sid(outsider)}"]'},
            {
                "op": "Remove",
                "path": f'members[value eq "{sid(alice)}" or value eq "{sid(bob)}"]',
            },
        ),
    )

    assert response.status_code == 204
    assert member_scim_ids(team) == {sid(carol)}


def test_remove_all_members(idp: Idp) -> None:
    alice, bob = idp.user(), idp.user()
    team = idp.team([alice, bob], scim_managed=True)

    response = idp.call(
        "PATCH", f"/Groups/{team.scim_id}", patch({"op": "remove", "path": "members"})
    )

    assert response.status_code == 204
    assert member_scim_ids(team) == set()
    assert [u.id for u in db.session.scalars(select(User).order_by(User.id))] == [
        alice.id,
        bob.id,
    ]


def test_okta_replace_members_sets_exactly_the_eligible_ones(idp: Idp) -> None:
    alice, bob, carol = idp.user(), idp.user(), idp.user()
    gone = idp.user(deactivated_at=utcnow())
    team = idp.team([alice, bob], scim_managed=True)

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        {
            "schemas": [PATCH_URN],
            "Operations": [
                {
                    "op": "replace",
                    "path": "members",
                    "value": [
                        {"value": sid(bob), "display": "bob"},
                        {"value": sid(carol), "display": "carol"},
                        {"value": sid(gone), "display": "gone"},
                    ],
                }
            ],
        },
    )

    assert response.status_code == 204
    assert member_scim_ids(team) == {sid(bob), sid(carol)}


def test_okta_rename_with_unchanged_name_writes_nothing(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], name="Test SCIMv2", scim_managed=True)
    before = fresh(team).updated_at
    # §1.10: sent with every membership push, no path, the group's id inside the value.
    body = patch({"op": "replace", "value": {"id": team.scim_id, "displayName": "Test SCIMv2"}})
    idp.call("GET", f"/Groups/{team.scim_id}")  # the token's last-use stamp is written here

    with statements() as seen:
        response = idp.call("PATCH", f"/Groups/{team.scim_id}", body)

    assert response.status_code == 204
    assert seen.writes == []
    assert member_scim_ids(team) == {sid(alice)}
    assert fresh(team).updated_at == before
    assert audit(idp.account, "team.rename") == []


def test_okta_rename_with_a_new_name_keeps_members(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], name="Test SCIMv2", scim_managed=True)

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch({"op": "replace", "value": {"id": team.scim_id, "displayName": "Test SCIMv3"}}),
    )

    assert response.status_code == 204
    assert fresh(team).name == "Test SCIMv3"
    assert member_scim_ids(team) == {sid(alice)}
    assert [e.details for e in audit(idp.account, "team.rename")] == [
        {"from": "Test SCIMv2", "to": "Test SCIMv3"}
    ]


def test_entra_renames_by_display_name_path(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], name="Group1DisplayName", scim_managed=True)

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch(
            {"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a2694"}
        ),
    )

    assert response.status_code == 204
    assert fresh(team).name == "1879db59-3bdf-4490-ad68-ab880a2694"
    assert member_scim_ids(team) == {sid(alice)}


def test_rename_onto_another_team_is_409_and_changes_nothing(idp: Idp) -> None:
    alice, bob = idp.user(), idp.user()
    idp.team(name="Taken")
    team = idp.team([alice], name="Mine", scim_managed=True)

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch(
            {"op": "add", "path": "members", "value": [{"value": sid(bob)}]},
            {"op": "replace", "path": "displayName", "value": "taken"},
        ),
    )

    assert response.status_code == 409
    assert json_of(response) == error(409, "A team named 'taken' already exists.", "uniqueness")
    # All or nothing: the add before the failed rename was rolled back.
    assert member_scim_ids(team) == {sid(alice)}
    assert fresh(team).name == "Mine"


def test_patch_answers_200_with_the_group_when_attributes_are_asked(idp: Idp) -> None:
    alice, bob = idp.user(), idp.user()
    team = idp.team([alice], name="Asked", scim_managed=True)
    body = patch({"op": "add", "path": "members", "value": [{"value": sid(bob)}]})

    full = idp.call("PATCH", f"/Groups/{team.scim_id}", body, attributes="members,displayName")
    slim = idp.call("PATCH", f"/Groups/{team.scim_id}", body, excludedAttributes="members")

    assert full.status_code == 200
    expected = resource(team, [alice, bob])
    del expected["meta"]
    assert json_of(full) == expected
    assert slim.status_code == 200
    assert json_of(slim) == resource(team, None)


def test_malformed_patches_are_400_and_unknown_groups_404(idp: Idp) -> None:
    team = idp.team(scim_managed=True)
    url = f"/Groups/{team.scim_id}"

    bad_path = idp.call("PATCH", url, patch({"op": "add", "path": "owners", "value": ["x"]}))
    no_path = idp.call("PATCH", url, patch({"op": "remove"}))
    not_json = idp.client.patch(
        f"/scim/v2{url}",
        data="nope",
        content_type="application/scim+json",
        headers={"Authorization": f"Bearer {idp.token}"},
    )
    unknown = idp.call("PATCH", "/Groups/no-such-group", patch({"op": "remove", "path": "members"}))

    assert (bad_path.status_code, json_of(bad_path)["scimType"]) == (400, "invalidPath")
    assert json_of(no_path) == error(
        400, 'Invalid PATCH: operation 1: remove needs a "path" naming what to remove.', "noTarget"
    )
    assert json_of(not_json) == error(400, "The request body is not valid JSON.", "invalidSyntax")
    assert json_of(unknown) == error(404, "No group with id 'no-such-group'.")


def test_entra_validator_empty_operations_is_a_no_op(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team([alice], scim_managed=True)

    response = idp.call("PATCH", f"/Groups/{team.scim_id}", patch())

    assert response.status_code == 204
    assert member_scim_ids(team) == {sid(alice)}


# ---------------------------------------------------------------------------------------------
# Heap's rules (checklist 41, §1.8 linking, deactivation)


def test_unknown_deactivated_and_foreign_ids_are_skipped_and_audited(idp: Idp) -> None:
    alice = idp.user()
    gone = idp.user(deactivated_at=utcnow())
    other_account, _ = scim_account()
    foreign = cast(User, UserFactory.create(account=other_account))
    team = idp.team(name="Rules", scim_managed=True)
    unknown = "00000000-0000-4000-8000-000000000000"

    response = idp.call(
        "PATCH",
        f"/Groups/{team.scim_id}",
        patch(
            {
                "op": "add",
                "path": "members",
                "value": [
                    {"value": sid(alice)},
                    {"value": unknown},
                    {"value": sid(gone)},
                    {"value": sid(foreign)},
                ],
            }
        ),
    )

    assert response.status_code == 204
    assert member_scim_ids(team) == {sid(alice)}
    skipped = audit(idp.account, "team.add_member")
    # The deactivated teammate by name; the unknown and the foreign id in one event on the team.
    assert [(e.target_id, e.target_label, e.outcome, e.reason, e.details) for e in skipped] == [
        (
            sid(gone),
            gone.email,
            "skipped",
            "Not added to team 'Rules': no active user with this id in this account.",
            {"team": team.scim_id},
        ),
        (
            team.scim_id,
            "Rules",
            "skipped",
            "2 id(s) named no active user of this account and were not added to team 'Rules'.",
            {"skipped": 2, "first": sorted([unknown, sid(foreign)])},
        ),
    ]


def test_first_push_links_an_existing_team(idp: Idp) -> None:
    alice = idp.user()
    team = idp.team(name="Made in Heap")
    assert team.scim_managed is False

    # "Link Group": Okta finds the team by name, then pushes to its id.
    found = json_of(idp.call("GET", "/Groups", filter='displayName eq "made in heap"'))
    group_id = found["Resources"][0]["id"]
    response = idp.call(
        "PATCH",
        f"/Groups/{group_id}",
        patch({"op": "replace", "value": {"id": group_id, "displayName": "Made in Heap"}}),
    )
    idp.call(
        "PATCH",
        f"/Groups/{group_id}",
        patch({"op": "add", "path": "members", "value": [{"value": sid(alice)}]}),
    )

    assert response.status_code == 204
    assert fresh(team).scim_managed is True
    assert [e.target_id for e in audit(idp.account, "team.link")] == [team.scim_id]
    assert member_scim_ids(team) == {sid(alice)}


def test_deactivating_a_user_drops_their_memberships(idp: Idp) -> None:
    alice, bob = idp.user(), idp.user()
    team = idp.team([alice, bob], scim_managed=True)
    other = idp.team([alice], scim_managed=True)

    response = idp.call(
        "PATCH", f"/Users/{sid(alice)}", patch({"op": "replace", "value": {"active": False}})
    )

    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert member_scim_ids(team) == {sid(bob)}
    assert member_scim_ids(other) == set()
    group = json_of(idp.call("GET", f"/Groups/{team.scim_id}"))
    assert group["members"] == [
        {
            "value": sid(bob),
            "display": bob.email,
            "type": "User",
            "$ref": f"{BASE}/Users/{sid(bob)}",
        }
    ]


# ---------------------------------------------------------------------------------------------
# Cost: set-based statements, the same count whatever the size of the change


def test_statement_count_does_not_grow_with_the_number_of_members(idp: Idp) -> None:
    people = [idp.user() for _ in range(202)]
    team = idp.team(people[201:], scim_managed=True)
    url = f"/Groups/{team.scim_id}"
    idp.call("GET", url, excludedAttributes="members")  # the token's last-use stamp

    def add(users: Sequence[User]) -> Statements:
        value = [{"value": sid(u), "display": u.email} for u in users]
        with statements() as seen:
            response = idp.call(
                "PATCH", url, patch({"op": "add", "path": "members", "value": value})
            )
        assert response.status_code == 204
        return seen

    def remove(users: Sequence[User]) -> Statements:
        # Okta: one operation per member removed.
        ops = [{"op": "remove", "path": f'members[value eq "{sid(u)}"]'} for u in users]
        with statements() as seen:
            response = idp.call("PATCH", url, patch(*ops))
        assert response.status_code == 204
        return seen

    one, many = add(people[:1]), add(people[1:201])
    assert member_scim_ids(team) == {sid(u) for u in people}
    one_out, many_out = remove(people[:1]), remove(people[1:101])
    assert member_scim_ids(team) == {sid(u) for u in people[101:]}

    assert len(one.sql) == len(many.sql)
    assert len(one_out.sql) == len(many_out.sql)
    assert len(many.touching("team_memberships")) == 1
    assert len(many_out.touching("team_memberships")) == 1
