"""Text no column can hold: a NUL character (PostgreSQL refuses it) or an over-long externalId."""

from __future__ import annotations

from typing import cast

import pytest
from flask import Flask
from sqlalchemy import func, select

from heap.errors import Invalid, NotFound
from heap.extensions import db
from heap.models import Account, Role, Team, User
from heap.services import accounts, directory, provisioning, roles, teams, users
from heap.services.provisioning import EmailAddress, IdpProfile
from heap.services.teams import Members, SetExternalId
from tests.factories import AccountFactory, TeamFactory, UserFactory, scim_account
from tests.services.helpers import OPERATOR, idp_of, idp_replaces, member_ids

NUL = "\x00"


def test_a_group_id_with_a_nul_is_unknown(app: Flask) -> None:
    account, _ = scim_account()
    TeamFactory.create(account=account)
    for scim_id in (NUL, f"a{NUL}b", "x" * 37):
        with pytest.raises(NotFound):
            teams.get_by_scim_id(account=account, scim_id=scim_id)
        with pytest.raises(NotFound):
            teams.delete(account=account, actor=idp_of(account), scim_id=scim_id)


def test_team_names_with_a_nul_are_refused(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(Invalid) as refused:
        teams.create(account=account, actor=OPERATOR, name=f"Data{NUL}")
    assert refused.value.field == "name"
    team = teams.create(account=account, actor=OPERATOR, name="Data")
    with pytest.raises(Invalid):
        teams.rename(account=account, actor=OPERATOR, team_id=team.id, name=f"D{NUL}")
    assert db.session.scalar(select(func.count()).select_from(Team)) == 1


def test_role_and_account_names_with_a_nul_are_refused(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(Invalid) as refused:
        roles.create(account=account, actor=OPERATOR, name=f"Arch{NUL}itect")
    assert refused.value.field == "name"
    with pytest.raises(Invalid) as refused:
        accounts.create(actor=OPERATOR, name=f"Acme{NUL}", plan=accounts.parse_plan("free"))
    assert refused.value.field == "name"
    assert db.session.scalar(select(func.count()).select_from(Role)) == 4


def test_invite_with_a_nul_is_refused(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(Invalid) as refused:
        users.invite(account=account, actor=OPERATOR, email=f"a{NUL}@example.com")
    assert refused.value.field == "email"
    with pytest.raises(Invalid) as refused:
        users.invite(account=account, actor=OPERATOR, email="a@example.com", given_name=f"A{NUL}")
    assert refused.value.field == "givenName"
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        (IdpProfile(user_name=f"k{NUL}@example.com"), "userName"),
        (
            IdpProfile(user_name=f"k{NUL}", emails=[EmailAddress("k@example.com", primary=True)]),
            "userName",
        ),
        (IdpProfile(user_name="k@example.com", given_name=f"K{NUL}"), "name.givenName"),
        (IdpProfile(user_name="k@example.com", family_name=f"K{NUL}"), "name.familyName"),
        (IdpProfile(user_name="k@example.com", display_name=f"K{NUL}"), "displayName"),
        (IdpProfile(user_name="k@example.com", external_id=f"e{NUL}"), "externalId"),
        (IdpProfile(user_name="k@example.com", heap_role=f"Admin{NUL}"), "heapRole"),
    ],
)
def test_provisioning_with_a_nul_is_refused(app: Flask, profile: IdpProfile, field: str) -> None:
    account, _ = scim_account()
    with pytest.raises(Invalid) as refused:
        provisioning.provision(account=account, actor=idp_of(account), profile=profile)
    assert refused.value.field == field
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_an_update_with_a_nul_is_refused(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    identity = provisioning.provision(
        account=account, actor=idp, profile=IdpProfile(user_name="k@example.com")
    )
    renamed = IdpProfile(user_name=f"k{NUL}", emails=[EmailAddress("k@example.com", primary=True)])
    with pytest.raises(Invalid) as refused:
        idp_replaces(account=account, actor=idp, scim_id=identity.id, profile=renamed)
    assert refused.value.field == "userName"


def test_searching_for_a_nul_finds_nothing(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    UserFactory.create(account=account)
    TeamFactory.create(account=account)
    term = f"a{NUL}"
    found = directory.list_users(account=account, filters=directory.UserFilter(search=term))
    assert (found.total, list(found.items)) == (0, [])
    assert directory.list_teams(account=account, search=term).total == 0
    assert directory.list_events(account=account, target=term).total == 0


def test_a_member_id_with_a_nul_is_skipped(app: Flask) -> None:
    account, _ = scim_account()
    ada = cast(User, UserFactory.create(account=account))
    refs = [NUL, f"{NUL}" * 40, ada.scim_identity.id]
    team = teams.create(
        account=account, actor=idp_of(account), name="Data", members=Members(scim_ids=refs)
    )
    assert member_ids(team) == {ada.id}
    teams.apply_changes(
        account=account,
        actor=idp_of(account),
        scim_id=team.scim_id,
        changes=[teams.RemoveMembers(Members(scim_ids=[NUL]))],
    )
    assert member_ids(team) == {ada.id}


def test_a_group_external_id_longer_than_the_column_is_refused(app: Flask) -> None:
    account, _ = scim_account()
    idp = idp_of(account)
    with pytest.raises(Invalid) as refused:
        teams.create(account=account, actor=idp, name="Data", external_id="e" * 256)
    assert refused.value.field == "externalId"
    team = teams.create(account=account, actor=idp, name="Data", external_id="e" * 255)
    for external_id in ("e" * 256, f"e{NUL}"):
        with pytest.raises(Invalid) as refused:
            teams.apply_changes(
                account=account,
                actor=idp,
                scim_id=team.scim_id,
                changes=[SetExternalId(external_id)],
            )
        assert refused.value.field == "externalId"
