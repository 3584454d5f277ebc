"""Teammates: invited and removed in Heap, or provisioned, updated and deactivated by the IdP."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import contains_eager

from heap import policy
from heap.actors import Actor
from heap.errors import AlreadyExists, EmailInOtherAccount, Invalid, NotFound
from heap.extensions import db
from heap.models import Account, Role, ScimIdentity, Team, TeamMembership, User, utcnow
from heap.services import audit, roles
from heap.transaction import Attempt, unit_of_work

# Deliberately loose: one "@", something on each side, a dot in the domain. Deliverability is the
# IdP's business; Heap only needs to refuse values that are clearly not addresses.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 320
MAX_NAME = 255
MAX_EXTERNAL_ID = 255
MAX_SCIM_ID = 36


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET


@dataclass(frozen=True)
class EmailAddress:
    value: str
    type: str | None = None
    primary: bool = False


@dataclass(frozen=True)
class IdpProfile:
    """A user as the identity provider describes it, already off the wire.

    ``heap_role`` is ``UNSET`` when the request did not speak about the role (a PATCH of other
    attributes), ``None`` when it was absent or empty in a full replace, else the value as sent.
    """

    user_name: str
    emails: Sequence[EmailAddress] = ()
    given_name: str = ""
    family_name: str = ""
    display_name: str | None = None
    external_id: str | None = None
    active: bool = True
    heap_role: str | _Unset | None = UNSET
    extra: Mapping[str, Any] = field(default_factory=dict)


def is_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and _EMAIL.match(value) is not None


def email_for(profile: IdpProfile) -> str:
    """The Heap login email: ``userName`` when it is one, else the primary, work or any address.

    Okta with "Application username format: Email" sends the email as ``userName``; Entra often
    sends a UPN or object id there and the address in ``emails``.
    """
    if is_email(profile.user_name):
        return profile.user_name
    # Primary first, then work; then any address, as a client that types its only email "home"
    # or "other" still names the person (generic SCIM clients do; Okta and Entra mark primary).
    candidates = [
        *(e for e in profile.emails if e.primary),
        *(e for e in profile.emails if (e.type or "").lower() == "work"),
        *profile.emails,
    ]
    for address in candidates:
        if is_email(address.value):
            return address.value
    raise Invalid(
        f"userName {profile.user_name!r} is not an email address and no email was sent. Heap "
        "signs people in by email: in Okta, set the Heap app's Application username format to "
        "Email (Sign On tab), or send a primary email.",
        field="userName",
    )


def get(*, account: Account, user_id: int, field: str = "userId") -> User:
    user = db.session.get(User, user_id)
    if user is None or user.account_id != account.id:
        raise NotFound("No such user in this account.", field=field)
    return user


def get_identity(*, account: Account, scim_id: str) -> ScimIdentity:
    # An id no identity could have (too long, NUL) is simply unknown; PostgreSQL would refuse
    # to even compare a NUL-bearing string.
    plausible = len(scim_id) <= MAX_SCIM_ID and "\x00" not in scim_id
    identity = db.session.get(ScimIdentity, scim_id) if plausible else None
    if identity is None or identity.account_id != account.id:
        raise NotFound(f"No user with id {scim_id!r}.", field="id")
    return identity


def find_identity(*, account: Account, user_name: str) -> ScimIdentity | None:
    query = select(ScimIdentity).where(
        ScimIdentity.account_id == account.id,
        func.lower(ScimIdentity.user_name) == func.lower(user_name),
    )
    return db.session.scalar(query)


@dataclass(frozen=True)
class IdentityPage:
    total: int
    identities: Sequence[ScimIdentity]


def page_identities(
    *,
    account: Account,
    where: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> IdentityPage:
    """One page of the account's SCIM identities (active or not), oldest first, and the total.

    ``where`` is a condition on ``ScimIdentity``, ``User`` and the user's ``Role`` (a SCIM filter
    compiled by the door); it only narrows this account's identities. The order (created, id) is
    stable across pages, which Okta's import relies on.
    """
    conditions = [ScimIdentity.account_id == account.id]
    if where is not None:
        conditions.append(where)
    joined = (
        select(ScimIdentity)
        .join(User, User.id == ScimIdentity.user_id)
        # Outer: a deactivated user has no role, and stays listed (with active: false).
        .outerjoin(Role, Role.id == User.role_id)
        .where(*conditions)
    )
    count = select(func.count()).select_from(joined.with_only_columns(ScimIdentity.id).subquery())
    total = db.session.scalar(count) or 0
    if limit == 0:
        return IdentityPage(total=total, identities=())
    query = (
        joined.options(contains_eager(ScimIdentity.user).contains_eager(User.role))
        .order_by(ScimIdentity.created_at, ScimIdentity.id)
        .offset(offset)
        .limit(limit)
    )
    return IdentityPage(total=total, identities=db.session.scalars(query).unique().all())


def teams_of(*, user_ids: Collection[int]) -> dict[int, list[Team]]:
    """Each user's teams by name, in one query for a whole page of users."""
    if not user_ids:
        return {}
    query = (
        select(TeamMembership.user_id, Team)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(TeamMembership.user_id.in_(user_ids))
        .order_by(func.lower(Team.name), Team.id)
    )
    found: dict[int, list[Team]] = {}
    for user_id, team in db.session.execute(query).all():
        found.setdefault(user_id, []).append(team)
    return found


def find_active_by_email(*, email: str) -> User | None:
    """The teammate who holds this login email anywhere in Heap, if anyone does."""
    query = select(User).where(
        func.lower(User.email) == func.lower(email.strip()), User.deactivated_at.is_(None)
    )
    return db.session.scalar(query)


def count_active_admins(*, account: Account) -> int:
    query = (
        select(func.count())
        .select_from(User)
        .join(Role, Role.id == User.role_id)
        .where(User.account_id == account.id, User.deactivated_at.is_(None), Role.is_admin)
    )
    return db.session.scalar(query) or 0


# ---- in-app changes (GraphQL, CLI) ----------------------------------------------------------


def invite(
    *,
    account: Account,
    actor: Actor,
    email: str,
    role_id: int | None = None,
    given_name: str = "",
    family_name: str = "",
) -> User:
    """Add a teammate from Heap; refused in SCIM mode, where the IdP owns the list."""
    email = email.strip()
    with unit_of_work(Attempt(account.id, actor, "user.invite", "user", target_label=email)):
        policy.ensure_may_add_or_remove_teammates(account, actor)
        if not is_email(email):
            raise Invalid(f"{email!r} is not an email address.", field="email")
        role = (
            roles.get(account=account, role_id=role_id)
            if role_id is not None
            else _default_role(account)
        )
        identity = find_identity(account=account, user_name=email)
        if identity is not None and identity.user.is_active:
            raise AlreadyExists(f"{email} is already a teammate.", field="email")
        _ensure_email_free(account=account, email=email, field="email")
        if identity is None:
            user = _create_user(account=account, email=email, role=role, user_name=email)
        else:
            user = identity.user
            _reactivate(user, role)
        user.given_name = _clean_name(given_name, "givenName")
        user.family_name = _clean_name(family_name, "familyName")
        _record(account, actor, "user.invite", user, details={"role": role.name})
    return user


def remove(*, account: Account, actor: Actor, user_id: int) -> None:
    """Delete a teammate from Heap; refused in SCIM mode and for the last Admin."""
    with unit_of_work(Attempt(account.id, actor, "user.remove", "user", str(user_id))):
        policy.ensure_may_add_or_remove_teammates(account, actor)
        user = get(account=account, user_id=user_id)
        if user.is_admin:
            policy.ensure_not_last_admin(actor, active_admins=count_active_admins(account=account))
        _record(account, actor, "user.remove", user)
        db.session.delete(user)


def change_role(*, account: Account, actor: Actor, user_id: int, role_id: int) -> User:
    """Allowed in SCIM mode: the IdP's Heap Role wins only when its value next changes."""
    with unit_of_work(Attempt(account.id, actor, "user.change_role", "user", str(user_id))):
        user = get(account=account, user_id=user_id)
        role = roles.get(account=account, role_id=role_id)
        if user.role is None:
            raise Invalid("Deactivated teammates have no role to change.", field="userId")
        policy.ensure_may_change_role(
            account, actor, user, role, active_admins=count_active_admins(account=account)
        )
        if user.role.id != role.id:
            old = user.role.name
            user.role = role
            _record(
                account, actor, "user.change_role", user, details={"from": old, "to": role.name}
            )
    return user


# ---- the identity provider's changes (SCIM) -------------------------------------------------


def provision(*, account: Account, actor: Actor, profile: IdpProfile) -> ScimIdentity:
    """Create a user, or restore this account's deactivated user with that ``userName``.

    Restoring keeps the SCIM ``id``, so a re-POST after a deactivation (Okta's reassign flow)
    never trips over Heap's own tombstone.
    """
    attempt = Attempt(account.id, actor, "user.provision", "user", target_label=profile.user_name)
    with unit_of_work(attempt):
        policy.ensure_may_add_or_remove_teammates(account, actor)
        email = email_for(profile)
        identity = find_identity(account=account, user_name=profile.user_name)
        if identity is not None and identity.user.is_active:
            raise AlreadyExists(
                f"{profile.user_name} is already a user of this Heap account (id {identity.id}). "
                "Okta links to existing users found by userName; re-run the import to link it.",
                field="userName",
            )
        _ensure_email_free(account=account, email=email)
        role_value = None if profile.heap_role is UNSET else _clean_role_value(profile.heap_role)
        role = _idp_role(account, role_value)
        if identity is None:
            user = _create_user(
                account=account, email=email, role=role, user_name=profile.user_name
            )
            identity = user.scim_identity
            action = "user.provision"
        else:
            user = identity.user
            _reactivate(user, role)
            action = "user.restore"
        identity.idp_role = role_value
        _apply_profile(identity, profile, email)
        _record(account, actor, action, user, details={"role": role.name})
    return identity


def update(*, account: Account, actor: Actor, scim_id: str, profile: IdpProfile) -> ScimIdentity:
    """Apply a full replace (PUT)."""
    return modify(account=account, actor=actor, scim_id=scim_id, edit=lambda _: profile)


def modify(
    *,
    account: Account,
    actor: Actor,
    scim_id: str,
    edit: Callable[[ScimIdentity], IdpProfile],
) -> ScimIdentity:
    """Apply ``edit(current identity)`` as a full replace, read and write in one transaction.

    A PATCH is applied to the user's current document by ``edit``; anything ``edit`` raises
    rolls the whole request back, so operations are atomic.
    """
    with unit_of_work(Attempt(account.id, actor, "user.update", "user", scim_id)):
        policy.ensure_may_add_or_remove_teammates(account, actor)
        identity = get_identity(account=account, scim_id=scim_id)
        profile = edit(identity)
        user = identity.user
        email = email_for(profile)
        changes = _apply_identity_changes(account, identity, profile, email)
        role_value = (
            identity.idp_role
            if profile.heap_role is UNSET
            else _clean_role_value(profile.heap_role)
        )
        if profile.active and not user.is_active:
            _ensure_email_free(account=account, email=email, except_user=user)
            role = _idp_role(account, role_value)
            _reactivate(user, role)
            identity.idp_role = role_value
            _record(account, actor, "user.reactivate", user, details={"role": role.name})
        elif not profile.active and user.is_active:
            _deactivate(user)
            _record(account, actor, "user.deactivate", user)
        if profile.heap_role is not UNSET and role_value != identity.idp_role:
            # The IdP's value changed since it last spoke: it wins over any change made in Heap.
            role = _idp_role(account, role_value)
            identity.idp_role = role_value
            if user.role is not None and user.role.id != role.id:
                changes["role"] = {"from": user.role.name, "to": role.name}
                user.role = role
        if changes:
            _record(account, actor, "user.update", user, details=changes)
    return identity


def deactivate(*, account: Account, actor: Actor, scim_id: str) -> ScimIdentity:
    """Remove from Heap (access, teams, seat) but keep the SCIM identity readable."""
    with unit_of_work(Attempt(account.id, actor, "user.deactivate", "user", scim_id)):
        policy.ensure_may_add_or_remove_teammates(account, actor)
        identity = get_identity(account=account, scim_id=scim_id)
        if identity.user.is_active:
            _deactivate(identity.user)
            _record(account, actor, "user.deactivate", identity.user)
    return identity


def delete(*, account: Account, actor: Actor, scim_id: str) -> None:
    """Remove the user and the SCIM identity for good (Entra's DELETE)."""
    with unit_of_work(Attempt(account.id, actor, "user.delete", "user", scim_id)):
        policy.ensure_may_add_or_remove_teammates(account, actor)
        identity = get_identity(account=account, scim_id=scim_id)
        _record(account, actor, "user.delete", identity.user)
        db.session.delete(identity.user)


# ---- helpers ----------------------------------------------------------------------------------


def _create_user(*, account: Account, email: str, role: Role, user_name: str) -> User:
    user = User(account_id=account.id, email=email, role=role)
    user.scim_identity = ScimIdentity(account_id=account.id, user_name=user_name)
    db.session.add(user)
    db.session.flush()
    return user


def _deactivate(user: User) -> None:
    user.deactivated_at = utcnow()
    user.role = None
    db.session.execute(sql_delete(TeamMembership).where(TeamMembership.user_id == user.id))


def _reactivate(user: User, role: Role) -> None:
    user.deactivated_at = None
    user.role = role


def _apply_identity_changes(
    account: Account, identity: ScimIdentity, profile: IdpProfile, email: str
) -> dict[str, Any]:
    """Profile, ``userName`` and email changes; returns what changed, for the audit log."""
    user = identity.user
    changes: dict[str, Any] = {}
    if profile.user_name != identity.user_name:
        other = find_identity(account=account, user_name=profile.user_name)
        if other is not None and other.id != identity.id:
            raise AlreadyExists(
                f"Another user of this account already has userName {profile.user_name!r}.",
                field="userName",
            )
        changes["userName"] = {"from": identity.user_name, "to": profile.user_name}
    if email != user.email:
        if email.lower() != user.email.lower() and user.is_active:
            _ensure_email_free(account=account, email=email, except_user=user)
        changes["email"] = {"from": user.email, "to": email}
    for attribute in ("given_name", "family_name", "display_name"):
        if getattr(profile, attribute) != getattr(user, attribute):
            changes[attribute] = True
    _apply_profile(identity, profile, email)
    return changes


def _apply_profile(identity: ScimIdentity, profile: IdpProfile, email: str) -> None:
    user = identity.user
    identity.user_name = _clean_user_name(profile.user_name)
    identity.external_id = _clean_external_id(profile.external_id)
    identity.idp_managed = True
    identity.extra = dict(profile.extra)
    user.email = email
    user.given_name = _clean_name(profile.given_name, "name.givenName")
    user.family_name = _clean_name(profile.family_name, "name.familyName")
    user.display_name = (
        _clean_name(profile.display_name, "displayName") if profile.display_name else None
    )


def _ensure_email_free(
    *, account: Account, email: str, except_user: User | None = None, field: str = "userName"
) -> None:
    holder = find_active_by_email(email=email)
    if holder is None or holder is except_user:
        return
    if holder.account_id == account.id:
        raise AlreadyExists(f"{email} is already a teammate in this Heap account.", field=field)
    raise EmailInOtherAccount(
        f"{email} already has a Heap account in another organization. That person must delete "
        "that account (or ask its Admin to remove them) before they can be provisioned here.",
        field=field,
    )


def _clean_role_value(value: str | None) -> str | None:
    # Okta sends "" once the admin clears the attribute; that means "back to the default role".
    if value is None:
        return None
    value = value.strip()
    return value or None


def _idp_role(account: Account, value: str | None) -> Role:
    if value is None:
        return _default_role(account)
    role = roles.get_by_name(account=account, name=value)
    if role is None:
        raise Invalid(
            f"Heap Role {value!r} does not match a role in this Heap account. "
            f"{roles.valid_roles_sentence(account=account)} Set the Heap Role attribute in your "
            "identity provider to one of these names exactly, or leave it empty for the default.",
            field="heapRole",
        )
    return role


def _default_role(account: Account) -> Role:
    if account.scim_default_role is not None:
        return account.scim_default_role
    role = roles.get_by_name(account=account, name="Analyst")
    if role is None:
        raise Invalid("Choose a role for the new teammate.", field="roleId")
    return role


def _clean_name(value: str, field_name: str) -> str:
    value = value.strip()
    if len(value) > MAX_NAME:
        raise Invalid(f"{field_name} is longer than {MAX_NAME} characters.", field=field_name)
    return value


def _clean_external_id(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_EXTERNAL_ID:
        raise Invalid(
            f"externalId is longer than {MAX_EXTERNAL_ID} characters.", field="externalId"
        )
    return value


def _clean_user_name(value: str) -> str:
    if not value.strip():
        raise Invalid("userName is required.", field="userName")
    if len(value) > MAX_EMAIL:
        raise Invalid(f"userName is longer than {MAX_EMAIL} characters.", field="userName")
    return value


def _record(
    account: Account,
    actor: Actor,
    action: str,
    user: User,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record(
        account_id=account.id,
        actor=actor,
        action=action,
        target_kind="user",
        target_id=user.scim_identity.id,
        target_label=user.email,
        details=details,
    )
