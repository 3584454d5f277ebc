"""services.audit and the unit of work: events per change, refusals recorded after rollback."""

from __future__ import annotations

from typing import cast

import pytest
from flask import Flask

from heap.errors import AlreadyExists, LastAdmin, NotFound, ScimManaged
from heap.extensions import db
from heap.models import Account, AuditOutcome, Role, Team
from heap.services import audit, directory, roles, teams, users
from heap.transaction import Attempt, unit_of_work
from tests.factories import AccountFactory, TeamFactory, UserFactory, role, scim_account
from tests.services.helpers import OPERATOR, admin_of, events, member_ids


def test_record_writes_with_the_change_and_lists_newest_first(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    other = cast(Account, AccountFactory.create())
    with unit_of_work():
        for n in range(5):
            audit.record(
                account.id,
                OPERATOR,
                f"test.{n}",
                audit.Target("thing", n),
                details={"n": n},
            )
        audit.record(account_id=other.id, actor=OPERATOR, action="test.other")
    page = directory.list_events(account=account, first=3)
    assert [e.action for e in page.items] == ["test.4", "test.3", "test.2"]
    newest = page.items[0]
    assert newest.target_id == "4" and newest.details == {"n": 4}
    assert (newest.actor_kind, newest.actor_id, newest.actor_label) == (
        "operator",
        None,
        "operator (cli)",
    )
    rest = directory.list_events(account=account, first=3, before_id=page.items[-1].id)
    assert [e.action for e in rest.items] == ["test.1", "test.0"]
    assert (page.total, page.has_next, rest.has_next) == (5, True, False)
    assert directory.list_events(account=other).total == 1


def test_an_event_rolls_back_with_its_change(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(RuntimeError), unit_of_work():
        audit.record(account_id=account.id, actor=OPERATOR, action="test.lost")
        raise RuntimeError("boom")
    assert directory.list_events(account=account).total == 0


def test_a_refused_change_leaves_nothing_half_applied(app: Flask) -> None:
    """remove() audits, then refuses: event and deletion roll back; the refusal stays."""
    account = cast(Account, AccountFactory.create())
    admin = admin_of(account)
    with pytest.raises(LastAdmin):
        users.remove(account=account, actor=admin, user_id=admin.user.id)
    db.session.expire_all()
    assert users.get(account=account, user_id=admin.user.id).is_active
    [event] = events(account)
    # Named as a success would name the teammate (SCIM id and email), so "why is this person
    # still here?" finds the refusal by the email.
    assert (event.action, event.outcome, event.target_id, event.target_label) == (
        "user.remove",
        AuditOutcome.REFUSED.value,
        admin.user.scim_identity.id,
        admin.user.email,
    )
    assert event.reason is not None and event.reason.startswith("LAST_ADMIN: ")
    assert (event.actor_kind, event.actor_id) == ("member", admin.id)
    found = directory.list_events(account=account, target=admin.user.email.upper())
    assert [e.id for e in found.items] == [event.id]


def test_a_refused_change_of_a_missing_team_is_audited_under_the_id_asked_for(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    with pytest.raises(NotFound):
        teams.rename(account=account, actor=OPERATOR, team_id=424242, name="Nope")
    [event] = events(account)
    assert (event.action, event.outcome, event.target_kind, event.target_id) == (
        "team.update",
        AuditOutcome.REFUSED.value,
        "team",
        "424242",
    )


def test_refusal_in_the_middle_of_a_multi_step_change_rolls_everything_back(app: Flask) -> None:
    account, _ = scim_account()
    team = cast(Team, TeamFactory.create(account=account))
    people = UserFactory.create_batch(2, account=account)
    with pytest.raises(AlreadyExists):
        teams.apply_changes(
            account=account,
            actor=OPERATOR,
            scim_id=team.scim_id,
            changes=[
                teams.AddMembers(teams.Members(user_ids=[p.id for p in people])),
                teams.Rename("Renamed"),
                teams.Rename(cast(Team, TeamFactory.create(account=account)).name),
            ],
        )
    db.session.expire_all()
    assert member_ids(team) == set()
    assert team.name != "Renamed"
    assert [(e.action, e.outcome) for e in events(account)] == [("team.update", "refused")]


def test_scim_mode_refusal_is_audited_with_its_code(app: Flask) -> None:
    account, _ = scim_account()
    with pytest.raises(ScimManaged):
        users.invite(account=account, actor=admin_of(account), email="new@example.com")
    [event] = events(account)
    assert (event.action, event.target_label, event.outcome) == (
        "user.invite",
        "new@example.com",
        "refused",
    )
    assert event.reason is not None and event.reason.startswith("SCIM_MANAGED: ")


def test_an_integrity_race_becomes_already_exists_and_is_audited(app: Flask) -> None:
    """A duplicate that slipped past the Python check (a parallel request) answers 409."""
    account = cast(Account, AccountFactory.create())
    attempt = Attempt(account.id, OPERATOR, "role.create", "role", target_label="Analyst")
    with pytest.raises(AlreadyExists), unit_of_work(attempt):
        db.session.add(Role(account_id=account.id, name="Analyst"))
        db.session.flush()
    assert [r.name for r in roles.list_roles(account=account)].count("Analyst") == 1
    [event] = events(account)
    assert (event.action, event.outcome) == ("role.create", "refused")
    assert event.reason is not None and event.reason.startswith("ALREADY_EXISTS: ")
    assert role(account, "Analyst").is_builtin
