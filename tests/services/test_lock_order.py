"""The two doors racing: one lock order for user changes, and writes ordered against revocation.

Each call runs in its own thread with its own app context, session and database connection, as
two requests would (tests/services/racing.py). The first call stops inside its transaction after
its checks; the second is seen waiting on the lock, and gets it only once the first committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, select, update

from heap import policy
from heap.actors import IdentityProvider, Member
from heap.errors import HeapError, Invalid, PlanRequired, Unauthenticated
from heap.extensions import db
from heap.models import Account, AuditEvent, Plan, ScimIdentity, ScimToken, Team, User, utcnow
from heap.services import accounts, lifecycle, provisioning, scim_settings, teams, users
from heap.services.provisioning import IdpProfile
from heap.services.records import UserRecord
from tests.conftest import json_of
from tests.factories import TeamFactory, UserFactory, role, role_name, scim_account
from tests.services.helpers import OPERATOR, idp_deactivates
from tests.services.racing import (
    ACCOUNT_LOCK,
    FIRST,
    SECOND,
    WAITED,
    in_thread,
    is_scim_access_lock,
    race,
)


def _idp(token_id: int) -> IdentityProvider:
    return IdentityProvider.through(db.session.get_one(ScimToken, token_id))


def _profile(user_name: str, **kwargs: Any) -> IdpProfile:
    return IdpProfile(user_name=user_name, **kwargs)


# ---- an Admin's role change against the IdP's deactivation (finding 2) --------------------------


def test_a_role_change_racing_a_deactivation_never_leaves_a_deactivated_admin(
    app: Flask, client: FlaskClient
) -> None:
    """Seen on PostgreSQL: the row ended deactivated with role Admin, and Okta's next
    GET-then-PUT with active: true brought back an Admin that nobody assigned."""
    account, raw_token = scim_account()
    token_id = db.session.scalars(select(ScimToken.id)).one()
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    admin_role_id = role(account, "Admin").id
    identity = provisioning.provision(
        account=account, actor=_idp(token_id), profile=_profile("kim@example.com")
    )
    scim_id, account_id = identity.id, account.id
    user_id = db.session.get_one(ScimIdentity, scim_id).user_id

    def promote() -> Any:
        mine = db.session.get_one(Account, account_id)
        actor = Member(db.session.get_one(User, admin_id))
        return users.change_role(account=mine, actor=actor, user_id=user_id, role_id=admin_role_id)

    def deactivate() -> Any:
        mine = db.session.get_one(Account, account_id)
        return idp_deactivates(account=mine, actor=_idp(token_id), scim_id=scim_id)

    raced = race(
        app, first=promote, second=deactivate, pause_after=(policy, "ensure_may_change_role")
    )

    # The deactivation waited for the role change to commit (its access lock waits on the
    # account row the role change holds), then applied.
    assert is_scim_access_lock(raced.blocked_in)
    assert raced.events == [*WAITED, (SECOND, "commit")]
    assert isinstance(raced.results[FIRST], User)
    assert isinstance(raced.results[SECOND], ScimIdentity)
    db.session.expire_all()
    user = db.session.get_one(User, user_id)
    assert (user.is_active, role_name(user)) == (False, None)

    # Okta reactivates by reading the user and writing it back with active: true.
    headers = {"Authorization": f"Bearer {raw_token}"}
    current = json_of(client.get(f"/scim/v2/Users/{scim_id}", headers=headers))
    back = client.put(
        f"/scim/v2/Users/{scim_id}", json={**current, "active": True}, headers=headers
    )
    assert back.status_code == 200, back.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get_one(User, user_id)
    assert (user.is_active, role_name(user)) == (True, "Analyst")


def test_a_deactivation_racing_a_role_change_makes_the_change_refused(app: Flask) -> None:
    """The other order: the role change waits for the deactivation, then finds no role."""
    account, _ = scim_account()
    token_id = db.session.scalars(select(ScimToken.id)).one()
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    admin_role_id = role(account, "Admin").id
    identity = provisioning.provision(
        account=account, actor=_idp(token_id), profile=_profile("kim@example.com")
    )
    scim_id, account_id = identity.id, account.id
    user_id = db.session.get_one(ScimIdentity, scim_id).user_id

    def deactivate() -> Any:
        mine = db.session.get_one(Account, account_id)
        return idp_deactivates(account=mine, actor=_idp(token_id), scim_id=scim_id)

    def promote() -> Any:
        mine = db.session.get_one(Account, account_id)
        actor = Member(db.session.get_one(User, admin_id))
        return users.change_role(account=mine, actor=actor, user_id=user_id, role_id=admin_role_id)

    raced = race(
        app,
        first=deactivate,
        second=promote,
        pause_after=(policy, "ensure_may_add_or_remove_teammates"),
    )

    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    assert raced.events == [*WAITED, (SECOND, "rollback"), (SECOND, "commit")]
    assert isinstance(raced.results[FIRST], ScimIdentity)
    assert isinstance(raced.results[SECOND], Invalid)
    db.session.expire_all()
    user = db.session.get_one(User, user_id)
    assert (user.is_active, role_name(user)) == (False, None)


def test_the_database_refuses_a_deactivated_user_with_a_role(app: Flask) -> None:
    user = cast(User, UserFactory.create())
    user.deactivated_at = utcnow()
    with pytest.raises(Exception, match="deactivated_has_no_role"):
        db.session.commit()
    db.session.rollback()


# ---- revocation at write time (finding 8) -------------------------------------------------------


@pytest.mark.parametrize("authenticated", [False, True], ids=["service-call", "scim-door"])
def test_a_write_in_flight_when_scim_is_disabled_commits_before_the_disable(
    app: Flask, authenticated: bool
) -> None:
    """The disable waits for a write in flight, which takes one access lock. Started as the
    SCIM door starts it (``authenticate(hold=True)``), the authenticating read is that lock on
    PostgreSQL and ``hold_access`` takes no second one; SQLite takes its write lock in the unit
    of work either way."""
    account, raw_token = scim_account()
    db.session.execute(update(ScimToken).values(last_used_at=utcnow()))  # no stamp on auth
    db.session.commit()
    token_id = db.session.scalars(select(ScimToken.id)).one()
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    account_id = account.id
    access_locks: list[str] = []

    def provision() -> Any:
        mine_only = threading.get_ident()

        def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            if threading.get_ident() == mine_only and is_scim_access_lock(sql):
                access_locks.append(sql)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            if authenticated:
                mine, idp = scim_settings.authenticate(raw_token=raw_token, hold=True)
            else:
                mine, idp = db.session.get_one(Account, account_id), _idp(token_id)
            return provisioning.provision(
                account=mine, actor=idp, profile=_profile("late@example.com")
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", count)

    def disable() -> Any:
        mine = db.session.get_one(Account, account_id)
        return scim_settings.disable(account=mine, actor=Member(db.session.get_one(User, admin_id)))

    raced = race(
        app,
        first=provision,
        second=disable,
        pause_after=(policy, "ensure_may_add_or_remove_teammates"),
    )

    # The disable waited for the write in flight: the write committed first, then SCIM went off.
    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    assert raced.events == [*WAITED, (SECOND, "commit")]
    assert isinstance(raced.results[FIRST], UserRecord)
    assert isinstance(raced.results[SECOND], Account)
    assert len(access_locks) == 1, access_locks
    db.session.expire_all()
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.account_id == account_id).order_by(AuditEvent.id)
    ).all()
    assert actions[-2:] == ["user.provision", "scim.disable"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_writes_due_to_stamp_their_token_do_not_deadlock(app: Flask) -> None:
    """Two writes authenticate with one token while its lastUsedAt is due. Each holds the
    token FOR SHARE; had each then updated it, each would wait on the other (seen in review:
    PostgreSQL's deadlock detector failed one after a second). The hold is let go before the
    stamp: the second waits for the first, and both go on. (SQLite holds nothing when it
    authenticates.)"""
    _, raw_token = scim_account()  # never used: the first request of each is due to stamp

    def write() -> Any:
        return scim_settings.authenticate(raw_token=raw_token, hold=True)

    raced = race(app, first=write, second=write, pause_after=(policy, "ensure_idp_may_act"))

    assert raced.blocked_in.startswith("UPDATE scim_tokens"), raced.blocked_in
    assert all(isinstance(result, tuple) for result in raced.results.values()), raced.results


def test_a_write_after_the_token_is_revoked_applies_nothing(app: Flask) -> None:
    """Authenticated, then the token is revoked before the write: the write is refused."""
    account, raw_token = scim_account()
    admin = Member(cast(User, UserFactory.create(account=account, admin=True)))
    team = cast(Team, TeamFactory.create(account=account, name="Data", scim_managed=True))
    mine, idp = scim_settings.authenticate(raw_token=raw_token)
    scim_settings.revoke_token(account=account, actor=admin, token_id=idp.token_id)

    with pytest.raises(Unauthenticated, match="revoked"):
        provisioning.provision(account=mine, actor=idp, profile=_profile("late@example.com"))
    with pytest.raises(Unauthenticated, match="revoked"):
        teams.apply_changes(
            account=mine, actor=idp, scim_id=team.scim_id, changes=[teams.Rename("Renamed")]
        )
    db.session.expire_all()
    assert lifecycle.find_active_by_email(email="late@example.com") is None
    assert db.session.get_one(Team, team.id).name == "Data"
    refused = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.outcome == "refused").order_by(AuditEvent.id)
    ).all()
    assert refused == ["user.provision", "team.update"]


def _disable(account: Account, admin: Member) -> None:
    scim_settings.disable(account=account, actor=admin)


def _downgrade(account: Account, admin: Member) -> None:
    accounts.set_plan(account=account, actor=OPERATOR, plan=Plan.PRO)


_TURNED_OFF = pytest.mark.parametrize(
    ("change", "refusal"),
    # Disabling SCIM revokes every token: the write is told so, as a new request would be.
    [(_disable, Unauthenticated), (_downgrade, PlanRequired)],
    ids=["scim-disabled", "left-premier"],
)


@_TURNED_OFF
def test_a_write_after_scim_is_turned_off_elsewhere_applies_nothing(
    app: Flask, change: Callable[[Account, Member], None], refusal: type[HeapError]
) -> None:
    """The request authenticated while SCIM was on; another process turned it off before the
    write. The write's own session still holds the account as it was when it authenticated."""
    _turn_off_between_authentication_and_write(app, change, refusal, hold=False)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@_TURNED_OFF
def test_sqlite_reads_again_what_changed_since_a_write_authenticated(
    app: Flask, change: Callable[[Account, Member], None], refusal: type[HeapError]
) -> None:
    """As the SCIM door authenticates a write (``hold=True``). SQLite's read holds nothing; it
    notes the database's data_version, and ``hold_access`` reads the token and account again
    only if another connection committed since, as here. (PostgreSQL's read holds the rows, so
    the change waits for the write: test_a_write_in_flight_when_scim_is_disabled_...)"""
    _turn_off_between_authentication_and_write(app, change, refusal, hold=True)


def _turn_off_between_authentication_and_write(
    app: Flask, change: Callable[[Account, Member], None], refusal: type[HeapError], *, hold: bool
) -> None:
    account, raw_token = scim_account()
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    db.session.execute(update(ScimToken).values(last_used_at=utcnow()))  # no stamp on auth
    db.session.commit()
    authenticated = threading.Event()
    changed = threading.Event()

    def request() -> Any:
        mine, idp = scim_settings.authenticate(raw_token=raw_token, hold=hold)
        authenticated.set()
        assert changed.wait(timeout=30)
        return provisioning.provision(account=mine, actor=idp, profile=_profile("late@example.com"))

    results: list[Any] = []
    thread = in_thread(app, request, results)
    assert authenticated.wait(timeout=30)
    change(db.session.get_one(Account, account.id), Member(db.session.get_one(User, admin_id)))
    changed.set()
    thread.join(timeout=60)

    assert isinstance(results[0], refusal), results
    db.session.expire_all()
    assert lifecycle.find_active_by_email(email="late@example.com") is None


@pytest.mark.parametrize("hold", [False, True], ids=["read", "write"])
def test_a_reused_session_authenticates_on_the_rows_as_they_are_now(app: Flask, hold: bool) -> None:
    """A session that served an earlier unit of work keeps its objects (that commit keeps state).
    The plan downgraded since, from another connection, is seen by the next authentication all
    the same; a write on SQLite must not pair a current data_version with a stale account (seen
    in review: the write went through)."""
    account, raw_token = scim_account()
    account_id = account.id
    # First use: its lastUsedAt stamp is a unit of work that commits keeping state. Kept, as
    # ``g.account`` keeps the account in an app context that serves several requests: the
    # session maps its objects weakly, and only objects still referenced are found in it again.
    first = scim_settings.authenticate(raw_token=raw_token, hold=hold)

    def downgrade() -> None:
        accounts.set_plan(
            account=db.session.get_one(Account, account_id), actor=OPERATOR, plan=Plan.PRO
        )

    results: list[Any] = []
    in_thread(app, downgrade, results).join(timeout=30)
    assert results == [None]

    with pytest.raises(PlanRequired):
        scim_settings.authenticate(raw_token=raw_token, hold=hold)
    assert first[0].plan == Plan.PRO.value  # the kept account, read afresh


def test_other_actors_take_no_scim_lock(app: Flask) -> None:
    """An Admin's edits in Heap are not SCIM writes: SCIM being off does not concern them."""
    account, _ = scim_account()
    admin = Member(cast(User, UserFactory.create(account=account, admin=True)))
    scim_settings.disable(account=account, actor=admin)
    scim_settings.hold_access(account=account, actor=admin)
    assert teams.create(account=account, actor=admin, name="Made in Heap").scim_managed is False


def test_a_write_starting_during_a_disable_waits_for_it_without_deadlock(app: Flask) -> None:
    """The disable holds the account and is about to revoke the tokens; a write starting now
    must not take the token row first (the disable would then wait for it while it waits for
    the account: a deadlock). It waits for the disable instead, and is then refused."""
    account, raw_token = scim_account()
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    db.session.execute(update(ScimToken).values(last_used_at=utcnow()))  # no stamp on auth
    db.session.commit()
    account_id = account.id
    authenticated = threading.Event()

    def disable() -> Any:
        mine = db.session.get_one(Account, account_id)
        return scim_settings.disable(account=mine, actor=Member(db.session.get_one(User, admin_id)))

    def write() -> Any:
        mine, idp = scim_settings.authenticate(raw_token=raw_token)
        authenticated.set()
        return provisioning.provision(account=mine, actor=idp, profile=_profile("late@example.com"))

    raced = race(app, first=disable, second=write, pause_after=(policy, "ensure_may_manage_scim"))

    assert is_scim_access_lock(raced.blocked_in)
    assert raced.events == [*WAITED, (SECOND, "rollback"), (SECOND, "commit")]
    assert isinstance(raced.results[FIRST], Account)
    assert isinstance(raced.results[SECOND], Unauthenticated)
    db.session.expire_all()
    assert lifecycle.find_active_by_email(email="late@example.com") is None


# ---- an Admin's rights are read again under the account's lock (review) -------------------------


def test_an_admin_demoted_while_their_change_waited_is_refused(app: Flask) -> None:
    """The viewer was read as an Admin before the lock; another Admin's demotion committed
    meanwhile. Seen before the fix: the demoted teammate still promoted someone to Admin."""
    account, _ = scim_account()
    first_admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    second_admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    analyst_id = cast(User, UserFactory.create(account=account)).id
    admin_role_id, analyst_role_id = role(account, "Admin").id, role(account, "Analyst").id
    account_id = account.id

    def demote_the_second_admin() -> Any:
        mine = db.session.get_one(Account, account_id)
        actor = Member(db.session.get_one(User, first_admin_id))
        return users.change_role(
            account=mine, actor=actor, user_id=second_admin_id, role_id=analyst_role_id
        )

    def second_admin_promotes() -> Any:
        mine = db.session.get_one(Account, account_id)
        viewer = db.session.get_one(User, second_admin_id)  # signed in, an Admin still
        assert viewer.is_admin
        return users.change_role(
            account=mine, actor=Member(viewer), user_id=analyst_id, role_id=admin_role_id
        )

    raced = race(
        app,
        first=demote_the_second_admin,
        second=second_admin_promotes,
        pause_after=(policy, "ensure_may_change_role"),
    )

    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    assert raced.events[: len(WAITED)] == WAITED
    refusal = raced.results[SECOND]
    assert isinstance(refusal, HeapError) and refusal.code == "FORBIDDEN", raced
    db.session.expire_all()
    assert role_name(db.session.get_one(User, analyst_id)) == "Analyst"
    refused = db.session.scalars(select(AuditEvent).where(AuditEvent.outcome == "refused")).one()
    assert (refused.action, refused.actor_id) == ("user.change_role", str(second_admin_id))


def test_a_teammate_deactivated_while_their_change_waited_is_signed_out(app: Flask) -> None:
    account, _ = scim_account()
    token_id = db.session.scalars(select(ScimToken.id)).one()
    UserFactory.create(account=account, admin=True)
    leaving = provisioning.provision(
        account=account,
        actor=_idp(token_id),
        profile=_profile("leaving@example.com", heap_role="Admin"),
    )
    scim_id, account_id = leaving.id, account.id
    leaving_id = db.session.get_one(ScimIdentity, scim_id).user_id

    def idp_deactivates_them() -> Any:
        mine = db.session.get_one(Account, account_id)
        return idp_deactivates(account=mine, actor=_idp(token_id), scim_id=scim_id)

    def they_rotate_the_scim_token() -> Any:
        mine = db.session.get_one(Account, account_id)
        viewer = db.session.get_one(User, leaving_id)
        assert viewer.is_admin
        return scim_settings.rotate_token(account=mine, actor=Member(viewer))

    raced = race(
        app,
        first=idp_deactivates_them,
        second=they_rotate_the_scim_token,
        pause_after=(policy, "ensure_may_add_or_remove_teammates"),
    )

    assert raced.events[: len(WAITED)] == WAITED
    assert isinstance(raced.results[SECOND], Unauthenticated), raced
    db.session.expire_all()
    live = db.session.scalars(select(ScimToken).where(ScimToken.revoked_at.is_(None))).all()
    assert [token.id for token in live] == [token_id]  # no token minted by the departed Admin


# ---- unlinking a team in Heap against the IdP's DELETE (review) --------------------------------


@dataclass(frozen=True)
class _LinkedTeam:
    """A team the IdP pushed, and the two calls that race for it."""

    id: int
    unlink: Callable[[], Any]  # an Admin takes it back in Heap
    idp_deletes: Callable[[], Any]  # the IdP's DELETE /Groups/{id}


def _linked_team() -> _LinkedTeam:
    account, _ = scim_account()
    token_id = db.session.scalars(select(ScimToken.id)).one()
    admin_id = cast(User, UserFactory.create(account=account, admin=True)).id
    team = cast(Team, TeamFactory.create(account=account, scim_managed=True))
    team_id, team_scim_id, account_id = team.id, team.scim_id, account.id

    def unlink() -> Any:
        mine = db.session.get_one(Account, account_id)
        actor = Member(db.session.get_one(User, admin_id))
        return teams.unlink(account=mine, actor=actor, team_id=team_id)

    def idp_deletes() -> Any:
        mine = db.session.get_one(Account, account_id)
        return teams.delete(account=mine, actor=_idp(token_id), scim_id=team_scim_id)

    return _LinkedTeam(team_id, unlink, idp_deletes)


def test_an_idp_delete_waiting_on_an_unlink_finds_the_team_unlinked(app: Flask) -> None:
    team = _linked_team()

    raced = race(
        app,
        first=team.unlink,
        second=team.idp_deletes,
        pause_after=(policy, "ensure_may_unlink_team"),
    )

    assert is_scim_access_lock(raced.blocked_in)
    assert raced.events[: len(WAITED)] == WAITED
    refusal = raced.results[SECOND]
    assert isinstance(refusal, HeapError) and refusal.code == "TEAM_NOT_LINKED", raced
    db.session.expire_all()
    assert db.session.get_one(Team, team.id).scim_managed is False


def test_an_unlink_waiting_on_an_idp_delete_finds_the_team_gone(app: Flask) -> None:
    team = _linked_team()

    raced = race(
        app,
        first=team.idp_deletes,
        second=team.unlink,
        pause_after=(policy, "ensure_may_delete_team"),
    )

    assert raced.blocked_in.startswith(ACCOUNT_LOCK)
    assert raced.events[: len(WAITED)] == WAITED
    refusal = raced.results[SECOND]
    assert isinstance(refusal, HeapError) and refusal.code == "NOT_FOUND", raced
    db.session.expire_all()
    assert db.session.get(Team, team.id) is None


def test_a_teammate_deleted_after_a_rollback_in_their_request_is_signed_out(app: Flask) -> None:
    """A GraphQL request may send several mutations: a refused one rolls back, which expires
    the viewer read at sign-in; if they are deleted before the next, it refuses, never a 500."""
    account, _ = scim_account()
    viewer = cast(User, UserFactory.create(account=account, admin=True))
    UserFactory.create(account=account, admin=True)  # removing the viewer left an Admin
    analyst = cast(User, UserFactory.create(account=account))
    admin_role_id, viewer_id = role(account, "Admin").id, viewer.id
    db.session.commit()
    db.session.rollback()  # what a refused mutation leaves: every loaded object expired
    with db.engine.begin() as elsewhere:  # another Admin removes the viewer meanwhile
        elsewhere.execute(delete(ScimIdentity).where(ScimIdentity.user_id == viewer_id))
        elsewhere.execute(delete(User).where(User.id == viewer_id))

    with pytest.raises(Unauthenticated):
        users.change_role(
            account=account, actor=Member(viewer), user_id=analyst.id, role_id=admin_role_id
        )
    db.session.expire_all()
    assert role_name(db.session.get_one(User, analyst.id)) == "Analyst"
