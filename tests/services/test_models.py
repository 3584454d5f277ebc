"""heap.models: the hybrid attributes answer the same in Python and in SQL, on every database, and
``ScimIdentity.heap_role_name`` shows the role a reactivation restores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from flask import Flask
from sqlalchemy import select, update

from heap.extensions import db
from heap.models import Account, ScimIdentity, Team, User
from heap.services import provisioning, teams, users
from heap.services.provisioning import IdpProfile
from tests.factories import (
    AccountFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
    role,
    role_name,
    scim_account,
)
from tests.services.helpers import idp_deactivates, idp_of, idp_replaces, reload

EARLY = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
LATE = datetime(2025, 6, 15, 17, 45, 12, 345678, tzinfo=UTC)


def _deactivated(account: Account) -> User:
    user = cast(User, UserFactory.create(account=account))
    user.deactivated_at = EARLY
    user.role = None
    db.session.commit()
    return user


def test_is_active_in_python_and_in_sql(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    active = cast(User, UserFactory.create(account=account))
    gone = _deactivated(account)
    assert (active.is_active, gone.is_active) == (True, False)
    ids = select(User.id).where(User.account_id == account.id)
    assert set(db.session.scalars(ids.where(User.is_active))) == {active.id}
    assert set(db.session.scalars(ids.where(~User.is_active))) == {gone.id}


@pytest.mark.parametrize(
    ("identity_at", "user_at", "expected"),
    [(LATE, EARLY, LATE), (EARLY, LATE, LATE), (LATE, LATE, LATE)],
    ids=["identity later", "user later", "same moment"],
)
def test_last_modified_is_the_later_row_in_python_and_in_sql(
    app: Flask, identity_at: datetime, user_at: datetime, expected: datetime
) -> None:
    account = cast(Account, AccountFactory.create())
    user = cast(User, UserFactory.create(account=account))
    UserFactory.create(account=account)  # another identity, whose times must not leak in
    scim_id = user.scim_identity.id
    # Core UPDATEs: explicit values win over the columns' onupdate.
    db.session.execute(update(User).where(User.id == user.id).values(updated_at=user_at))
    db.session.execute(
        update(ScimIdentity).where(ScimIdentity.id == scim_id).values(updated_at=identity_at)
    )
    db.session.commit()
    identity = reload(ScimIdentity, scim_id)
    assert identity.last_modified == expected
    # Standalone: no join to users in the enclosing query.
    alone = select(ScimIdentity.last_modified).where(ScimIdentity.id == scim_id)
    assert db.session.scalar(alone) == expected
    # As the SCIM filter uses it: inside page_users, which joins users itself.
    for moment, found in ((expected, False), (EARLY.replace(year=2023), True)):
        page = users.page_users(
            account=account, where=ScimIdentity.last_modified.expression > moment
        )
        assert (scim_id in {user.id for user in page.users}) is found, moment


def test_heap_role_name_of_an_active_user_is_its_role(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    # The IdP last said Architect; the role was changed in Heap since: Heap's role shows.
    user = cast(User, UserFactory.create(account=account, identity__idp_role="Architect"))
    user.role = role(account, "Consumer")
    db.session.commit()
    assert user.scim_identity.heap_role_name == "Consumer"


@pytest.mark.parametrize("sent", ["Architect", None])
def test_a_tombstone_shows_the_role_its_reactivation_restores(app: Flask, sent: str | None) -> None:
    account, _ = scim_account()  # default role: Analyst
    idp = idp_of(account)
    profile = IdpProfile(user_name="k@example.com", heap_role=sent)
    identity = provisioning.provision(account=account, actor=idp, profile=profile)
    idp_deactivates(account=account, actor=idp, scim_id=identity.id)
    tombstone = reload(ScimIdentity, identity.id)
    shown = tombstone.heap_role_name
    assert shown == sent
    # A reactivation that does not name a role (Entra's PATCH active: true).
    idp_replaces(
        account=account,
        actor=idp,
        scim_id=identity.id,
        profile=IdpProfile(user_name="k@example.com", active=True),
    )
    restored = reload(ScimIdentity, identity.id).user
    assert role_name(restored) == (shown or "Analyst")


def test_has_member_where_matches_on_the_members_identities(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    member = cast(User, UserFactory.create(account=account))
    outsider = cast(User, UserFactory.create(account=account))
    team = cast(Team, TeamFactory.create(account=account))
    empty = cast(Team, TeamFactory.create(account=account))
    TeamMembershipFactory.create(team=team, user=member)
    ids = select(Team.id).where(Team.account_id == account.id)

    def matching(scim_id: str) -> set[int]:
        return set(
            db.session.scalars(ids.where(teams.has_member_where(ScimIdentity.id == scim_id)))
        )

    assert matching(member.scim_identity.id) == {team.id}
    assert matching(outsider.scim_identity.id) == set()
    assert empty.id not in matching(member.scim_identity.id)
