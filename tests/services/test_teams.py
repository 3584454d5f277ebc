"""services.teams: create, rename, delete, set-based membership changes, SCIM-managed teams."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from flask import Flask

from heap.errors import AlreadyExists, Forbidden, Invalid, NotFound, TeamScimManaged
from heap.extensions import db
from heap.models import Account, Team, User
from heap.services import directory, teams
from heap.services.teams import (
    AddMembers,
    Members,
    RemoveAllMembers,
    RemoveMembers,
    Rename,
    ReplaceMembers,
    SetExternalId,
)
from tests.factories import (
    AccountFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
    scim_account,
)
from tests.services.helpers import (
    OPERATOR,
    admin_of,
    analyst_of,
    events,
    idp_of,
    member_ids,
    reload,
)


def _people(account: Account, n: int) -> list[User]:
    return cast(list[User], UserFactory.create_batch(n, account=account))


def test_create_by_a_member_and_by_the_idp(app: Flask) -> None:
    account, _ = scim_account()
    people = _people(account, 2)
    mine = teams.create(
        account=account,
        actor=admin_of(account),
        name="  Data   Science ",
        members=Members(user_ids=[people[0].id]),
    )
    theirs = teams.create(
        account=account,
        actor=idp_of(account),
        name="Okta Group",
        external_id="grp-1",
        members=Members(scim_ids=[people[1].scim_identity.id]),
    )
    mine, theirs = reload(Team, mine.id), reload(Team, theirs.id)
    assert (mine.name, mine.scim_managed) == ("Data Science", False)
    assert (theirs.name, theirs.scim_managed, theirs.external_id) == ("Okta Group", True, "grp-1")
    assert member_ids(mine) == {people[0].id}
    assert member_ids(theirs) == {people[1].id}
    assert directory.member_counts(team_ids=[theirs.id]) == {theirs.id: 1}
    assert [t.id for t in directory.list_teams(account=account).items] == [mine.id, theirs.id]
    assert teams.find_by_name(account=account, name="data science") is not None
    assert [e.action for e in events(account) if e.action.startswith("team.")] == [
        "team.create",
        "team.add_members",
        "team.create",
        "team.add_members",
    ]


def test_create_refusals(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    TeamFactory.create(account=account, name="Data")
    with pytest.raises(AlreadyExists):
        teams.create(account=account, actor=OPERATOR, name=" DATA ")
    with pytest.raises(Invalid):
        teams.create(account=account, actor=OPERATOR, name="   ")
    with pytest.raises(Invalid):
        teams.create(account=account, actor=OPERATOR, name="t" * 256)
    with pytest.raises(Forbidden):
        teams.create(account=account, actor=analyst_of(account), name="Mine")
    assert [t.name for t in directory.list_teams(account=account).items] == ["Data"]
    # Every refusal is in the activity log, invalid names too, under the name asked for.
    refused = [(e.action, e.target_label) for e in events(account) if e.outcome == "refused"]
    assert refused == [
        ("team.create", " DATA "),
        ("team.create", "   "),
        ("team.create", "t" * 256),
        ("team.create", "Mine"),
    ]
    # Names are per account.
    assert teams.create(account=cast(Account, AccountFactory.create()), actor=OPERATOR, name="Data")


def test_rename(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    team = cast(Team, TeamFactory.create(account=account, name="Data"))
    TeamFactory.create(account=account, name="Ops")
    teams.rename(account=account, actor=OPERATOR, team_id=team.id, name="data")  # case only
    teams.rename(account=account, actor=OPERATOR, team_id=team.id, name="data")  # no-op
    assert reload(Team, team.id).name == "data"
    with pytest.raises(AlreadyExists):
        teams.rename(account=account, actor=OPERATOR, team_id=team.id, name="OPS")
    with pytest.raises(NotFound):
        teams.rename(
            account=cast(Account, AccountFactory.create()),
            actor=OPERATOR,
            team_id=team.id,
            name="X",
        )
    assert reload(Team, team.id).name == "data"
    [event] = events(account, "team.rename")
    assert event.details == {"from": "Data", "to": "data"}


def test_team_names_compare_ignoring_non_ascii_case_on_every_database(app: Flask) -> None:
    """SQLite's own lower() folds ASCII only; the app's lower() folds "É" as PostgreSQL does, so
    "équipe" is the same name as "Équipe" on both databases."""
    account = cast(Account, AccountFactory.create())
    team = cast(Team, TeamFactory.create(account=account, name="Équipe"))
    with pytest.raises(AlreadyExists) as raised:
        teams.create(account=account, actor=OPERATOR, name="ÉQUIPE")
    assert raised.value.field == "name"
    assert teams.find_by_name(account=account, name="équipe") == team
    # A change of case is a rename of the same team, not a collision with itself.
    teams.rename(account=account, actor=OPERATOR, team_id=team.id, name="équipe")
    assert reload(Team, team.id).name == "équipe"


def test_delete_keeps_the_users(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    team = cast(Team, TeamFactory.create(account=account))
    person = cast(User, UserFactory.create(account=account))
    TeamMembershipFactory.create(team=team, user=person)
    teams.delete(account=account, actor=OPERATOR, team_id=team.id)
    db.session.expire_all()
    assert db.session.get(Team, team.id) is None
    assert db.session.get(User, person.id) is not None
    assert teams.find_by_name(account=account, name=team.name) is None
    [event] = events(account, "team.delete")
    assert event.target_id == team.scim_id
    with pytest.raises(NotFound):
        teams.delete(account=account, actor=OPERATOR, team_id=team.id)


def test_delete_by_scim_id(app: Flask) -> None:
    account, _ = scim_account()
    team = cast(Team, TeamFactory.create(account=account, scim_managed=True))
    with pytest.raises(NotFound):
        teams.delete(account=scim_account()[0], actor=OPERATOR, scim_id=team.scim_id)
    teams.delete(account=account, actor=idp_of(account), scim_id=team.scim_id)
    assert directory.list_teams(account=account).items == []


def test_add_members_is_idempotent_and_skips_strangers(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    team = cast(Team, TeamFactory.create(account=account))
    people = _people(account, 3)
    stranger = cast(User, UserFactory.create())
    gone = cast(User, UserFactory.create(account=account))
    gone.deactivated_at, gone.role = gone.created_at, None
    db.session.commit()

    teams.add_members(
        account=account,
        actor=OPERATOR,
        team_id=team.id,
        members=Members(user_ids=[people[0].id, people[1].id, stranger.id, gone.id, 999999]),
    )
    assert member_ids(team) == {people[0].id, people[1].id}
    teams.add_members(
        account=account,
        actor=OPERATOR,
        team_id=team.id,
        members=Members(user_ids=[people[1].id], scim_ids=[people[2].scim_identity.id]),
    )
    assert member_ids(team) == {p.id for p in people}
    teams.add_members(
        account=account,
        actor=OPERATOR,
        team_id=team.id,
        members=Members(user_ids=[p.id for p in people]),
    )
    assert member_ids(team) == {p.id for p in people}
    assert [e.details for e in events(account, "team.add_members")] == [{"added": 2}, {"added": 1}]
    skipped = events(account, "team.add_member")
    # This account's deactivated teammate is named as every user event names them (SCIM id and
    # email); a stranger from another organization and an unknown id are counted in one event
    # on the team, by the ids as sent.
    assert [(e.target_kind, e.target_id, e.target_label, e.outcome) for e in skipped] == [
        ("user", gone.scim_identity.id, gone.email, "skipped"),
        ("team", team.scim_id, team.name, "skipped"),
    ]
    assert skipped[0].details == {"team": team.scim_id}
    assert skipped[1].details == {"skipped": 2, "first": sorted([str(stranger.id), "999999"])}
    assert skipped[1].reason == (
        f"2 id(s) named no active user of this account and were not added to team {team.name!r}."
    )


def test_remove_members(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    team = cast(Team, TeamFactory.create(account=account))
    people = _people(account, 4)
    for person in people:
        TeamMembershipFactory.create(team=team, user=person)
    outsider = cast(User, UserFactory.create())
    teams.remove_members(
        account=account,
        actor=OPERATOR,
        team_id=team.id,
        members=Members(
            user_ids=[people[0].id, outsider.id], scim_ids=[people[1].scim_identity.id]
        ),
    )
    assert member_ids(team) == {people[2].id, people[3].id}
    teams.remove_members(
        account=account, actor=OPERATOR, team_id=team.id, members=Members(user_ids=[people[0].id])
    )
    assert [e.details for e in events(account, "team.remove_members")] == [{"removed": 2}]


def test_apply_changes_in_order(app: Flask) -> None:
    account, _ = scim_account()
    team = cast(Team, TeamFactory.create(account=account, scim_managed=True, name="G"))
    people = _people(account, 5)
    for person in people[:3]:
        TeamMembershipFactory.create(team=team, user=person)
    idp = idp_of(account)
    ids = [p.scim_identity.id for p in people]

    teams.apply_changes(
        account=account,
        actor=idp,
        scim_id=team.scim_id,
        changes=[ReplaceMembers(Members(scim_ids=[ids[2], ids[3]])), SetExternalId("ext-9")],
    )
    assert member_ids(reload(Team, team.id)) == {people[2].id, people[3].id}
    assert team.external_id == "ext-9"

    teams.apply_changes(
        account=account,
        actor=idp,
        scim_id=team.scim_id,
        changes=[
            Rename("G"),
            AddMembers(Members(scim_ids=[ids[4]])),
            RemoveMembers(Members(scim_ids=[ids[2]])),
            AddMembers(Members(scim_ids=[ids[0]])),
        ],
    )
    assert member_ids(reload(Team, team.id)) == {people[0].id, people[3].id, people[4].id}
    assert events(account, "team.rename") == []

    teams.apply_changes(
        account=account,
        actor=idp,
        scim_id=team.scim_id,
        changes=[RemoveAllMembers(), AddMembers(Members(scim_ids=[ids[1]])), Rename("H")],
    )
    assert member_ids(reload(Team, team.id)) == {people[1].id}
    assert team.name == "H"

    teams.apply_changes(
        account=account, actor=idp, scim_id=team.scim_id, changes=[ReplaceMembers(Members())]
    )
    assert member_ids(reload(Team, team.id)) == set()
    with pytest.raises(NotFound):
        teams.apply_changes(account=account, actor=idp, scim_id="missing", changes=[])


def test_scim_managed_team_refuses_member_edits_but_not_the_idp(app: Flask) -> None:
    account, _ = scim_account()
    linked = cast(Team, TeamFactory.create(account=account, scim_managed=True, name="Linked"))
    own = cast(Team, TeamFactory.create(account=account, name="Own"))
    person = cast(User, UserFactory.create(account=account))
    admin = admin_of(account)
    refused: list[Callable[[], object]] = [
        lambda: teams.rename(account=account, actor=admin, team_id=linked.id, name="X"),
        lambda: teams.delete(account=account, actor=admin, team_id=linked.id),
        lambda: teams.add_members(
            account=account, actor=admin, team_id=linked.id, members=Members(user_ids=[person.id])
        ),
        lambda: teams.remove_members(
            account=account, actor=admin, team_id=linked.id, members=Members(user_ids=[person.id])
        ),
    ]
    for attempt in refused:
        with pytest.raises(TeamScimManaged):
            attempt()
    assert reload(Team, linked.id).name == "Linked"
    assert member_ids(linked) == set()
    reasons = {
        e.reason.split(":")[0] for e in events(account) if e.outcome == "refused" if e.reason
    }
    assert reasons == {"TEAM_SCIM_MANAGED"}
    # Other teams stay editable in SCIM mode; the IdP edits the linked one.
    teams.add_members(
        account=account, actor=admin, team_id=own.id, members=Members(user_ids=[person.id])
    )
    teams.add_members(
        account=account,
        actor=idp_of(account),
        team_id=linked.id,
        members=Members(user_ids=[person.id]),
    )
    assert member_ids(own) == member_ids(linked) == {person.id}


def test_the_idps_first_change_links_an_unlinked_team(app: Flask) -> None:
    account, _ = scim_account()
    team = cast(Team, TeamFactory.create(account=account, name="Existing"))
    idp = idp_of(account)
    teams.apply_changes(
        account=account, actor=idp, scim_id=team.scim_id, changes=[Rename("Existing")]
    )
    assert reload(Team, team.id).scim_managed is True
    teams.apply_changes(account=account, actor=idp, scim_id=team.scim_id, changes=[])
    assert len(events(account, "team.link")) == 1
    with pytest.raises(TeamScimManaged):
        teams.rename(account=account, actor=admin_of(account), team_id=team.id, name="Mine")


def test_linked_team_is_editable_again_once_scim_is_off(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    team = cast(Team, TeamFactory.create(account=account, scim_managed=True))
    teams.rename(account=account, actor=admin_of(account), team_id=team.id, name="Free again")
    assert reload(Team, team.id).name == "Free again"


def test_the_idp_cannot_touch_teams_when_scim_is_off(app: Flask) -> None:
    account, _ = scim_account()
    team = cast(Team, TeamFactory.create(account=account))
    idp = idp_of(account)
    account.scim_enabled = False
    db.session.commit()
    with pytest.raises(Exception) as raised:
        teams.apply_changes(account=account, actor=idp, scim_id=team.scim_id, changes=[Rename("X")])
    assert raised.type.__name__ == "ScimNotEnabled"
    assert reload(Team, team.id).scim_managed is False
