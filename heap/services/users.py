"""Teammates as Heap changes them: looked up, invited, removed, given a role, and their SCIM
identities paged for the IdP. The identity provider's own changes are ``services.provisioning``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, func, select

from heap import policy
from heap.actors import Actor
from heap.errors import AlreadyExists, Invalid, NotFound
from heap.extensions import db, execute_core
from heap.models import Account, Role, ScimIdentity, User
from heap.services import audit, lifecycle, records, roles
from heap.services.records import UserRecord
from heap.transaction import Attempt, lock_account, unit_of_work

Ts = TypeVarTuple("Ts")

_REMOVED = "Removed in Heap by an Admin: the user and the SCIM identity are gone."


def get(*, account: Account, user_id: int, field: str = "userId", lock: bool = False) -> User:
    """The account's user; with ``lock``, its row is locked until the transaction ends and read
    afresh (take the account's lock first: the one lock order for user changes)."""
    user = (
        db.session.get(User, user_id, with_for_update={"key_share": True}, populate_existing=True)
        if lock
        else db.session.get(User, user_id)
    )
    if user is None or user.account_id != account.id:
        raise NotFound("No such user in this account.", field=field)
    return user


@dataclass(frozen=True)
class UserPage:
    total: int
    users: Sequence[UserRecord]


def page_users(
    *,
    account: Account,
    where: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int | None = None,
    with_teams: bool = False,
) -> UserPage:
    """One page of the account's SCIM users (active or not) as shown, oldest first, and the total.

    ``where`` is a condition on ``ScimIdentity``, ``User`` and the user's ``Role`` (a SCIM filter
    compiled by the door); it only narrows this account's identities. The order (created, id) is
    stable across pages, which Okta's import relies on.

    One statement, whatever the page size: the page's ids are picked in a subquery, on
    (account_id, created_at, id) and only joining users and roles when the filter needs them;
    the rows with their users, roles and (``with_teams``) teams are joined to it as plain columns
    (``records``: loading a page of objects cost more than everything else), and the total
    rides along as an uncorrelated subquery, counted once. (A window count over the picked rows
    kept every matching row to count them: at 100,000 users it spilled to disk and tripled
    the first page.)
    """
    picked = select(ScimIdentity.id, ScimIdentity.created_at).where(
        ScimIdentity.account_id == account.id
    )
    if where is not None:
        picked = _joined_users(picked).where(where)
    if limit == 0:
        return UserPage(total=_count(picked), users=())
    page = (
        picked.order_by(ScimIdentity.created_at, ScimIdentity.id)
        .offset(offset)
        .limit(limit)
        .subquery()
    )
    counted = _counted(picked).scalar_subquery().label("total")
    query = (
        records.select_records(with_teams=with_teams)
        .add_columns(counted)
        .join(page, page.c.id == ScimIdentity.id)
        .order_by(page.c.created_at, page.c.id, *(lifecycle.TEAM_ORDER if with_teams else ()))
    )
    rows = execute_core(query).all()
    # A page past the end carries no total: counted on its own then (an empty first page: 0).
    total = rows[0].total if rows else (_count(picked) if offset else 0)
    return UserPage(total=total, users=records.records(rows, with_teams=with_teams))


def _joined_users(query: Select[*Ts]) -> Select[*Ts]:
    # Outer: a deactivated user has no role, and stays listed (with active: false).
    return query.join(User, User.id == ScimIdentity.user_id).outerjoin(
        Role, Role.id == User.role_id
    )


def _count(picked: Select[*tuple[Any, ...]]) -> int:
    return db.session.scalar(_counted(picked)) or 0


def _counted(picked: Select[*tuple[Any, ...]]) -> Select[int]:
    return select(func.count()).select_from(picked.with_only_columns(ScimIdentity.id).subquery())


def count_active_admins(*, account: Account) -> int:
    return lifecycle.count_active_admins(account=account)


def invite(
    *,
    account: Account,
    actor: Actor,
    email: str,
    role_id: int | None = None,
    given_name: str = "",
    family_name: str = "",
) -> User:
    """Add a teammate from Heap; refused in SCIM mode, where the IdP owns the list.

    Without ``role_id`` the teammate gets the SCIM default role while SCIM is enabled (off
    Premier, invites are open again), else Analyst.
    """
    email = email.strip()
    with unit_of_work(Attempt(account.id, actor, "user.invite", "user", target_label=email)):
        # SCIM mode decided on fresh data: an invite racing the enabling of SCIM waits for it.
        lock_account(account, actor)
        policy.ensure_may_add_or_remove_teammates(account, actor)
        if not lifecycle.is_email(email):
            raise Invalid(f"{email!r} is not an email address.", field="email")
        role = (
            roles.get(account=account, role_id=role_id)
            if role_id is not None
            else lifecycle.default_role(account)
        )
        identity = lifecycle.find_identity(account=account, user_name=email)
        holder = lifecycle.holder_in_account(
            account=account, actor=actor, email=email, field="email"
        )
        if holder is not None or (identity is not None and identity.user.is_active):
            raise AlreadyExists(f"{email} is already a teammate.", field="email")
        given = lifecycle.clean_name(given_name, "givenName")
        family = lifecycle.clean_name(family_name, "familyName")
        details = {"role": role.name}
        if identity is None:
            user = lifecycle.create_user(
                account=account,
                actor=actor,
                action="user.invite",
                email=email,
                role=role,
                user_name=email,
                given_name=given,
                family_name=family,
                details=details,
            ).loaded()
        else:
            user = identity.user
            lifecycle.reactivate(user, role)
            user.given_name, user.family_name = given, family
            lifecycle.record(account, actor, "user.invite", user, details=details)
    return user


def remove(*, account: Account, actor: Actor, user_id: int) -> None:
    """Delete a teammate from Heap; refused in SCIM mode and for the last Admin."""
    attempt = Attempt(account.id, actor, "user.remove", "user", str(user_id))
    with unit_of_work(attempt):
        # Two Admins removing each other at once: the second waits and then counts one Admin.
        lock_account(account, actor)
        user = get(account=account, user_id=user_id, lock=True)
        attempt.aim(audit.user_target(user))
        policy.ensure_may_remove_teammate(
            account, actor, user, active_admins=lambda: count_active_admins(account=account)
        )
        lifecycle.record(account, actor, "user.remove", user, reason=_REMOVED)
        db.session.delete(user)


def issue_viewer_token(
    *, actor: Actor, email: str, sign: Callable[[User], str], valid_for_seconds: int
) -> str:
    """A viewer token for the active teammate with ``email``, minted outside sign-in (the CLI).

    It acts as that teammate (an Admin's acts as an Admin) until it expires, so minting one is
    audited like a change. ``sign`` makes the token; the service decides who gets one.
    """
    with unit_of_work():
        policy.ensure_may_mint_viewer_tokens(actor)
        user = lifecycle.find_active_by_email(email=email)
        if user is None:
            raise NotFound(f"No active teammate with email {email}.", field="email")
        token = sign(user)
        lifecycle.record(
            user.account,
            actor,
            "user.viewer_token",
            user,
            details={"valid_for_seconds": valid_for_seconds},
        )
    return token


def change_role(*, account: Account, actor: Actor, user_id: int, role_id: int) -> User:
    """Allowed in SCIM mode: the IdP's Heap Role wins only when its value next changes."""
    attempt = Attempt(account.id, actor, "user.change_role", "user", str(user_id))
    with unit_of_work(attempt):
        # Two Admins demoting each other at once: the second waits and then counts one Admin.
        lock_account(account, actor)
        user = get(account=account, user_id=user_id, lock=True)
        attempt.aim(audit.user_target(user))
        role = roles.get(account=account, role_id=role_id)
        if user.role is None:
            raise Invalid("Deactivated teammates have no role to change.", field="userId")
        policy.ensure_may_change_role(
            account, actor, user, role, active_admins=lambda: count_active_admins(account=account)
        )
        if user.role.id != role.id:
            old = user.role.name
            user.role = role
            lifecycle.record(
                account, actor, "user.change_role", user, details={"from": old, "to": role.name}
            )
    return user
