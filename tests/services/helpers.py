"""Shared by the service tests: actors, and audit events and memberships read from the DB."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar, cast

from sqlalchemy import select

from heap.actors import Actor, IdentityProvider, Member, Operator
from heap.extensions import db
from heap.models import Account, AuditEvent, ScimIdentity, ScimToken, Team, TeamMembership, User
from heap.services import provisioning
from heap.services.provisioning import UNSET, IdpProfile
from scim.user_loader import load_user
from scim.user_resource import dump_user
from tests.factories import ScimTokenFactory, UserFactory

OPERATOR = Operator()

M = TypeVar("M")


def events(account: Account, action: str | None = None) -> list[AuditEvent]:
    """The account's audit events, oldest first, optionally of one action."""
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.account_id == account.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def reload(model: type[M], key: int | str) -> M:
    """The row read again from the database, as the next request would see it."""
    db.session.expire_all()
    found = db.session.get(model, key)
    assert found is not None
    return found


def member_ids(team: Team) -> set[int]:
    query = select(TeamMembership.user_id).where(TeamMembership.team_id == team.id)
    return set(db.session.scalars(query))


def admin_of(account: Account) -> Member:
    """A new active Admin of ``account``, as the acting teammate."""
    return Member(cast(User, UserFactory.create(account=account, admin=True)))


def analyst_of(account: Account) -> Member:
    return Member(cast(User, UserFactory.create(account=account)))


def idp_of(account: Account) -> IdentityProvider:
    """The identity provider, acting through a new SCIM token of ``account``."""
    return IdentityProvider.through(cast(ScimToken, ScimTokenFactory.create(account=account)))


# The identity provider's changes as the SCIM door makes them: every PUT and PATCH is one
# ``provisioning.modify`` call (a PATCH edits the user's current document first).


def idp_replaces(
    *, account: Account, actor: Actor, scim_id: str, profile: IdpProfile
) -> ScimIdentity:
    """Okta's PUT: ``profile`` as a full replace."""
    return provisioning.modify(
        account=account, actor=actor, scim_id=scim_id, edit=lambda _: profile
    )


def idp_deactivates(*, account: Account, actor: Actor, scim_id: str) -> ScimIdentity:
    """Okta's PATCH ``{"op": "replace", "value": {"active": false}}``."""

    def edit(identity: ScimIdentity) -> IdpProfile:
        current = load_user(dump_user(identity, fallback_names=False))
        return replace(current, heap_role=UNSET, active=False)

    return provisioning.modify(account=account, actor=actor, scim_id=scim_id, edit=edit)
