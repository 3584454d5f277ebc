"""Readers shared by the service tests: audit events and team members, straight from the DB."""

from __future__ import annotations

from typing import cast

from sqlalchemy import select

from heap.actors import Member
from heap.extensions import db
from heap.models import Account, AuditEvent, Team, TeamMembership, User
from tests.factories import UserFactory


def events(account: Account, action: str | None = None) -> list[AuditEvent]:
    """The account's audit events, oldest first, optionally of one action."""
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.account_id == account.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def member_ids(team: Team) -> set[int]:
    query = select(TeamMembership.user_id).where(TeamMembership.team_id == team.id)
    return set(db.session.scalars(query))


def admin_of(account: Account) -> Member:
    """A new active Admin of ``account``, as the acting teammate."""
    return Member(cast(User, UserFactory.create(account=account, admin=True)))


def analyst_of(account: Account) -> Member:
    return Member(cast(User, UserFactory.create(account=account)))
