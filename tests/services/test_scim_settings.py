"""services.scim: enable, disable, default role, tokens, and authenticating a bearer token."""

from __future__ import annotations

from typing import cast

import pytest
from flask import Flask
from sqlalchemy import select

from heap.actors import IdentityProvider
from heap.errors import (
    Forbidden,
    NotFound,
    PlanRequired,
    ScimAlreadyEnabled,
    ScimNotEnabled,
    SsoRequired,
    TokenRevoked,
    Unauthenticated,
)
from heap.extensions import db
from heap.models import Account, AuditOutcome, ScimToken, Team, User
from heap.services import scim_settings
from tests.factories import (
    AccountFactory,
    ScimTokenFactory,
    TeamFactory,
    UserFactory,
    role,
    scim_account,
)
from tests.services.helpers import OPERATOR, admin_of, analyst_of, events


def _tokens(account: Account) -> list[ScimToken]:
    db.session.expire_all()
    return list(scim_settings.list_tokens(account=account))


def test_enable_turns_scim_on_and_returns_a_working_token(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    admin = admin_of(account)
    consumer = role(account, "Consumer")
    enabled, raw = scim_settings.enable(account=account, actor=admin, default_role_id=consumer.id)
    db.session.expire_all()
    assert enabled.scim_enabled is True
    assert enabled.scim_default_role_id == consumer.id
    assert enabled.scim_enabled_at is not None
    assert enabled.scim_enabled_by == admin.user.email
    [token] = _tokens(account)
    assert token.token_hash != raw and raw.startswith(token.prefix)
    assert token.created_by == admin.user.email
    found, actor = scim_settings.authenticate(raw_token=raw)
    assert found.id == account.id
    assert actor.token_id == token.id
    assert [e.action for e in events(account)] == ["scim.enable", "scim.mint_token"]
    assert events(account, "scim.enable")[0].details == {"default_role": "Consumer"}


@pytest.mark.parametrize(
    ("plan", "sso", "error"),
    [("pro", True, PlanRequired), ("free", False, PlanRequired), ("premier", False, SsoRequired)],
)
def test_enable_refusals_change_nothing(
    app: Flask, plan: str, sso: bool, error: type[Exception]
) -> None:
    account = cast(Account, AccountFactory.create(plan=plan, sso_configured=sso))
    with pytest.raises(error):
        scim_settings.enable(
            account=account, actor=admin_of(account), default_role_id=role(account, "Analyst").id
        )
    db.session.expire_all()
    assert (account.scim_enabled, account.scim_default_role_id) == (False, None)
    assert _tokens(account) == []
    [event] = events(account)
    assert (event.action, event.outcome) == ("scim.enable", AuditOutcome.REFUSED.value)


def test_enable_refused_for_a_non_admin_twice_or_with_a_foreign_role(app: Flask) -> None:
    account = cast(Account, AccountFactory.create())
    analyst = role(account, "Analyst")
    with pytest.raises(Forbidden):
        scim_settings.enable(account=account, actor=analyst_of(account), default_role_id=analyst.id)
    foreign = role(cast(Account, AccountFactory.create()), "Analyst")
    with pytest.raises(NotFound) as raised:
        scim_settings.enable(account=account, actor=OPERATOR, default_role_id=foreign.id)
    assert raised.value.field == "defaultRoleId"
    db.session.expire_all()
    assert account.scim_enabled is False
    assert _tokens(account) == []
    scim_settings.enable(account=account, actor=OPERATOR, default_role_id=analyst.id)
    with pytest.raises(ScimAlreadyEnabled):
        scim_settings.enable(account=account, actor=OPERATOR, default_role_id=analyst.id)
    assert len(_tokens(account)) == 1


def test_disable_revokes_tokens_unlinks_teams_and_keeps_users(app: Flask) -> None:
    account, raw = scim_account()
    second = ScimTokenFactory.create(account=account)
    linked = cast(Team, TeamFactory.create(account=account, scim_managed=True))
    UserFactory.create_batch(3, account=account)
    other, other_raw = scim_account()
    other_team = cast(Team, TeamFactory.create(account=other, scim_managed=True))

    scim_settings.disable(account=account, actor=admin_of(account))
    db.session.expire_all()
    assert account.scim_enabled is False
    assert all(token.revoked_at is not None for token in _tokens(account))
    assert linked.scim_managed is False
    assert db.session.scalar(select(Team).where(Team.id == linked.id)) is not None
    assert len(db.session.scalars(select(User).where(User.account_id == account.id)).all()) == 4
    for token in (raw, str(second.raw)):
        with pytest.raises(Unauthenticated):
            scim_settings.authenticate(raw_token=token)
    [event] = events(account, "scim.disable")
    assert event.details == {"tokens_revoked": 2, "teams_unlinked": 1}
    # Another account is untouched.
    assert other_team.scim_managed is True
    assert scim_settings.authenticate(raw_token=other_raw)[0].id == other.id
    with pytest.raises(ScimNotEnabled):
        scim_settings.disable(account=account, actor=OPERATOR)


def test_set_default_role(app: Flask) -> None:
    account, _ = scim_account()
    consumer = role(account, "Consumer")
    scim_settings.set_default_role(account=account, actor=OPERATOR, role_id=consumer.id)
    scim_settings.set_default_role(account=account, actor=OPERATOR, role_id=consumer.id)
    db.session.expire_all()
    assert account.scim_default_role_id == consumer.id
    [event] = events(account, "scim.set_default_role")
    assert event.target_label == "Consumer"
    with pytest.raises(NotFound):
        scim_settings.set_default_role(
            account=account,
            actor=OPERATOR,
            role_id=role(cast(Account, AccountFactory.create()), "Admin").id,
        )
    with pytest.raises(Forbidden):
        scim_settings.set_default_role(
            account=account, actor=analyst_of(account), role_id=role(account, "Admin").id
        )
    off = cast(Account, AccountFactory.create())
    with pytest.raises(ScimNotEnabled):
        scim_settings.set_default_role(account=off, actor=OPERATOR, role_id=role(off, "Admin").id)
    db.session.expire_all()
    assert account.scim_default_role_id == consumer.id


def test_rotate_keeps_the_old_token_working(app: Flask) -> None:
    account, old = scim_account()
    token, new = scim_settings.rotate_token(account=account, actor=admin_of(account))
    assert new != old
    assert scim_settings.authenticate(raw_token=old)[0].id == account.id
    _, actor = scim_settings.authenticate(raw_token=new)
    assert actor.token_id == token.id
    assert _tokens(account)[0].id == token.id  # newest first
    assert len(_tokens(account)) == 2
    with pytest.raises(Forbidden):
        scim_settings.rotate_token(account=account, actor=analyst_of(account))
    with pytest.raises(ScimNotEnabled):
        scim_settings.rotate_token(account=cast(Account, AccountFactory.create()), actor=OPERATOR)
    assert len(_tokens(account)) == 2


def test_revoke_takes_effect_on_the_next_authentication(app: Flask) -> None:
    account, raw = scim_account()
    keep, kept_raw = scim_settings.rotate_token(account=account, actor=OPERATOR)
    [revoked_row] = [t for t in _tokens(account) if t.id != keep.id]
    scim_settings.authenticate(raw_token=raw)
    scim_settings.revoke_token(account=account, actor=OPERATOR, token_id=revoked_row.id)
    with pytest.raises(Unauthenticated):
        scim_settings.authenticate(raw_token=raw)
    assert scim_settings.authenticate(raw_token=kept_raw)[0].id == account.id
    with pytest.raises(TokenRevoked):
        scim_settings.revoke_token(account=account, actor=OPERATOR, token_id=revoked_row.id)
    with pytest.raises(NotFound):
        scim_settings.revoke_token(account=scim_account()[0], actor=OPERATOR, token_id=keep.id)
    applied = [e for e in events(account, "scim.revoke_token") if e.outcome == "applied"]
    assert [e.target_id for e in applied] == [str(revoked_row.id)]


def test_authenticate_refusals(app: Flask) -> None:
    account, raw = scim_account()
    for bad in ("", "Bearer x", "heapscim_" + "A" * 43, raw + "x", raw.upper()):
        with pytest.raises(Unauthenticated):
            scim_settings.authenticate(raw_token=bad)
    account.plan = "pro"
    db.session.commit()
    with pytest.raises(PlanRequired):
        scim_settings.authenticate(raw_token=raw)
    account.plan = "premier"
    account.scim_enabled = False
    db.session.commit()
    with pytest.raises(ScimNotEnabled):
        scim_settings.authenticate(raw_token=raw)


def test_authenticate_records_last_use(app: Flask) -> None:
    account, raw = scim_account()
    [token] = _tokens(account)
    assert token.last_used_at is None
    _, actor = scim_settings.authenticate(raw_token=raw)
    assert isinstance(actor, IdentityProvider)
    db.session.expire_all()
    first = scim_settings.get_token(account=account, token_id=token.id).last_used_at
    assert first is not None
    # Within the precision window a second use does not write again.
    scim_settings.authenticate(raw_token=raw)
    db.session.expire_all()
    assert scim_settings.get_token(account=account, token_id=token.id).last_used_at == first
    # An old last use is refreshed.
    stored = scim_settings.get_token(account=account, token_id=token.id)
    stored.last_used_at = first - 2 * scim_settings.LAST_USED_PRECISION
    db.session.commit()
    scim_settings.authenticate(raw_token=raw)
    db.session.expire_all()
    refreshed = scim_settings.get_token(account=account, token_id=token.id).last_used_at
    assert refreshed is not None and refreshed >= first
