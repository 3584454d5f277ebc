"""The identity provider's changes to teammates: provision, update, deactivate, delete.

The SCIM door calls these; in-app changes to teammates are ``services.users``. What both share
(creating, deactivating and restoring a user) is ``services.lifecycle``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from sqlalchemy import Row, Select, bindparam, select

from heap import policy
from heap.actors import Actor
from heap.errors import AlreadyExists, Invalid, NotFound
from heap.extensions import db, execute_core
from heap.models import Account, Role, ScimIdentity, User
from heap.services import audit, lifecycle, records, roles
from heap.services.records import UserRecord
from heap.services.scim_settings import hold_access
from heap.text import repaired, repaired_json, require_storable, storable
from heap.transaction import Attempt, lock_account, unit_of_work

MAX_EXTERNAL_ID = 255
MAX_SCIM_ID = 36
# What Heap keeps as sent (nickName, title, phone numbers, the enterprise extension, custom
# extensions), serialised. Entra writes at most 100 extension values of 256 characters to an
# object and 15 on-premises extension attributes of 1,024; 64 KiB holds all of those with room.
MAX_KEPT_ATTRIBUTES_BYTES = 64 * 1024

_DEACTIVATED = (
    "Deactivated by the identity provider: sign-in, role, team memberships and seat removed; "
    "the SCIM identity is kept."
)
_PROVISIONED_INACTIVE = (
    "Provisioned as deactivated (active: false): no sign-in, role, teams or seat until the "
    "identity provider activates the user."
)
_DELETED = "Deleted by the identity provider, with its SCIM identity."
_NO_ADMIN_LEFT = (
    "The identity provider removed this account's last Admin ({email}): nobody can change "
    "settings, roles or teams in Heap until it sends Heap Role Admin for someone."
)


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
    ``active`` is ``None`` when the request did not send it: an update then keeps the current
    state, a provisioning creates an active user.
    """

    user_name: str
    emails: Sequence[EmailAddress] = ()
    given_name: str = ""
    family_name: str = ""
    display_name: str | None = None
    external_id: str | None = None
    active: bool | None = None
    heap_role: str | _Unset | None = UNSET
    extra: Mapping[str, Any] = field(default_factory=dict)


def email_for(profile: IdpProfile) -> str:
    """The Heap login email: ``userName`` when it is one, else the address the IdP sent.

    Okta with "Application username format: Email" sends the email as ``userName``; Entra often
    sends a UPN or object id there and the address in ``emails``.
    """
    if lifecycle.is_email(profile.user_name):
        return profile.user_name
    email = sent_email(profile)
    if email is None:
        raise Invalid(
            f"userName {profile.user_name!r} is not an email address and no email was sent. Heap "
            "signs people in by email: in Okta, set the Heap app's Application username format "
            "to Email (Sign On tab), or send a primary email.",
            field="userName",
        )
    return email


def sent_email(profile: IdpProfile) -> str | None:
    """The address the IdP sent for the person: primary, else work, else any that is one.

    Any: a client that types its only email "home" or "other" still names the person (generic
    SCIM clients do; Okta and Entra mark primary). Kept on the identity too, so an ``emails``
    filter finds the user by it even when the login email is an email-shaped UPN ``userName``.
    """
    candidates = [
        *(e for e in profile.emails if e.primary),
        *(e for e in profile.emails if (e.type or "").lower() == "work"),
        *profile.emails,
    ]
    return next((e.value for e in candidates if lifecycle.is_email(e.value)), None)


def read_user(*, account: Account, scim_id: str, with_teams: bool = False) -> UserRecord:
    """The account's user with this SCIM id as shown (``with_teams``: with its teams by name):
    what ``get_identity`` loads, as plain columns, in one statement."""
    rows: Sequence[Row[Any]] = ()
    if len(scim_id) <= MAX_SCIM_ID and storable(scim_id):
        query = _RECORD_WITH_TEAMS if with_teams else _RECORD
        rows = execute_core(query, {"scim_id": scim_id, "account_id": account.id}).all()
    if not rows:
        raise NotFound(f"No user with id {scim_id!r}.", field="id")
    return records.records(rows, with_teams=with_teams)[0]


def _record_by_id(*, with_teams: bool) -> Select[Any]:
    # The account in the WHERE, as ``get_identity`` compares it.
    query = records.select_records(with_teams=with_teams).where(
        ScimIdentity.id == bindparam("scim_id"), ScimIdentity.account_id == bindparam("account_id")
    )
    return query.order_by(*lifecycle.TEAM_ORDER) if with_teams else query


_RECORD = _record_by_id(with_teams=False)
_RECORD_WITH_TEAMS = _record_by_id(with_teams=True)


def get_identity(*, account: Account, scim_id: str) -> ScimIdentity:
    """The account's identity with this SCIM id and its user, to change: read afresh and locked
    until the transaction ends (after the account: ``hold_access``), in one statement. (A read
    that only shows the user is ``read_user``.)"""
    # An id no identity could have (too long, unstorable text) is simply unknown; PostgreSQL
    # would refuse to even compare a NUL-bearing string.
    identity = None
    if len(scim_id) <= MAX_SCIM_ID and storable(scim_id):
        # The account in the WHERE: another account's rows are never locked, not even briefly.
        query = select(ScimIdentity).where(
            ScimIdentity.id == scim_id, ScimIdentity.account_id == account.id
        )
        identity = db.session.scalars(lifecycle.lock_user_rows(query)).unique().one_or_none()
    lifecycle.known_both_ways(identity)
    if identity is None:
        raise NotFound(f"No user with id {scim_id!r}.", field="id")
    return identity


def provision(*, account: Account, actor: Actor, profile: IdpProfile) -> UserRecord:
    """Create a user, or restore this account's deactivated user with that ``userName``; the
    user as the answer shows it (in no team: a restore left every team at its deactivation). A
    record, not objects: a create has made none, and showing is all its caller does.

    Restoring keeps the SCIM ``id``, so a re-POST after a deactivation (Okta's reassign flow)
    never trips over Heap's own tombstone. A profile sent with ``active: false`` creates (or
    keeps) a deactivated tombstone instead: no role, teams or seat.
    """
    attempt = Attempt(account.id, actor, "user.provision", "user", target_label=_label(profile))
    with unit_of_work(attempt):
        hold_access(account=account, actor=actor)
        policy.ensure_may_add_or_remove_teammates(account, actor)
        _clean_user_name(profile.user_name)
        email = email_for(profile)
        # Nearly every POST is a new person: inserted first, if nobody claims anything.
        created = _create_if_unclaimed(account, actor, profile, email)
        if created is not None:
            return created
        # Who holds the address and the userName, in one statement.
        claims = lifecycle.claims_on(account=account, email=email, user_name=profile.user_name)
        identity = None
        if claims.user_name_taken:
            # Locked: two POSTs restoring one tombstone take turns, and the second sees it active.
            identity = lifecycle.find_identity(
                account=account, user_name=profile.user_name, lock=True
            )
        if identity is not None and identity.user.is_active:
            raise AlreadyExists(
                f"{profile.user_name} is already a user of this Heap account (id {identity.id}). "
                "Okta links to existing users found by userName; re-run the import to link it.",
                field="userName",
            )
        active = profile.active is not False
        # Checked for an inactive profile too: a second identity for a person Heap already has
        # would only fail later, at activation, with a less useful answer. A restore asks again:
        # whoever held the address may have changed while it waited for the lock.
        _ensure_email_free(
            account=account,
            actor=actor,
            email=email,
            sent_user_name=profile.user_name,
            claims=claims if identity is None else None,
        )
        role_value = None if profile.heap_role is UNSET else _clean_role_value(profile.heap_role)
        # Checked even for an inactive profile, so a later activation cannot trip over it.
        role = _idp_role(account, role_value)
        details, reason = _provisioned(active, role)
        if identity is None:
            return _creation(account, actor, profile, email, role_value, role)().record()
        user = identity.user
        if active:
            lifecycle.reactivate(user, role)
        identity.idp_role = role_value
        _apply_profile(identity, profile, email)
        action = "user.restore" if active else "user.update"
        lifecycle.record(account, actor, action, user, details=details, reason=reason)
    return UserRecord.of(identity)


def _create_if_unclaimed(
    account: Account, actor: Actor, profile: IdpProfile, email: str
) -> UserRecord | None:
    """The new person nearly every POST is, created with no read first: the insert itself checks
    that nobody claims the address or the userName (``lifecycle.create_user``).

    None, with nothing written, when anyone does or the profile would be refused: ``provision``
    then reads the claims and restores or refuses, in its own order (a taken userName is 409
    even when the Heap Role is unknown too).
    """
    try:
        role_value = None if profile.heap_role is UNSET else _clean_role_value(profile.heap_role)
        create = _creation(
            account, actor, profile, email, role_value, _idp_role(account, role_value)
        )
    except Invalid:
        return None
    # Apart from the checks above: a refusal caught here would leave the rows written so far.
    try:
        return create(unclaimed_only=True).record()
    except lifecycle.Claimed:
        return None


def _creation(
    account: Account,
    actor: Actor,
    profile: IdpProfile,
    email: str,
    role_value: str | None,
    role: Role,
) -> Callable[..., lifecycle.NewUser]:
    """The profile checked and cleaned now (``Invalid`` if it can't be stored); the call returned
    inserts the user (``unclaimed_only``: as ``lifecycle.create_user`` takes it)."""
    active = profile.active is not False
    details, reason = _provisioned(active, role)
    user_columns, identity_columns = _profile_columns(profile, email)
    user_name = identity_columns.pop("user_name")

    def create(*, unclaimed_only: bool = False) -> lifecycle.NewUser:
        return lifecycle.create_user(
            account=account,
            actor=actor,
            action="user.provision",
            role=role if active else None,
            user_name=user_name,
            identity={**identity_columns, "idp_role": role_value},
            details=details,
            reason=reason,
            unclaimed_only=unclaimed_only,
            **user_columns,
        )

    return create


def _provisioned(active: bool, role: Role) -> tuple[dict[str, Any], str | None]:
    """The audit details and reason of a provisioning (a creation or a restore)."""
    if active:
        return {"role": role.name}, None
    return {"active": False}, _PROVISIONED_INACTIVE


def modify(
    *,
    account: Account,
    actor: Actor,
    scim_id: str,
    edit: Callable[[ScimIdentity], IdpProfile],
    with_teams: bool = False,
) -> ScimIdentity:
    """Apply ``edit(current identity)`` as a full replace, read and write in one transaction.

    A PATCH is applied to the user's current document by ``edit``; anything ``edit`` raises
    rolls the whole request back, so operations are atomic. ``with_teams``: the user's teams
    are loaded too, before the commit (read afterwards, they would cost the caller a second
    connection from the pool).
    """
    with _changing(account, actor, "user.update", scim_id) as identity:
        profile = edit(identity)
        _clean_user_name(profile.user_name)
        user = identity.user
        email = email_for(profile)
        changes = _apply_identity_changes(account, actor, identity, profile, email)
        role_value = (
            identity.idp_role
            if profile.heap_role is UNSET
            else _clean_role_value(profile.heap_role)
        )
        # active None: not sent (a PUT leaving it out) keeps the current state.
        if profile.active is True and not user.is_active:
            _ensure_email_free(account=account, actor=actor, email=email, except_user=user)
            role = _idp_role(account, role_value)
            lifecycle.reactivate(user, role)
            identity.idp_role = role_value
            lifecycle.record(account, actor, "user.reactivate", user, details={"role": role.name})
        elif profile.active is False and user.is_active:
            _deactivate(account, actor, user)
        if profile.heap_role is not UNSET and role_value != identity.idp_role:
            # The IdP's value changed since it last spoke: it wins over any change made in Heap.
            role = _idp_role(account, role_value)
            if user.role is not None and user.role.id != role.id:
                policy.ensure_may_change_role(
                    account, actor, user, role, active_admins=lambda: _count_admins(account)
                )
                changes["role"] = {"from": user.role.name, "to": role.name}
                user.role = role
            identity.idp_role = role_value
        if changes:
            lifecycle.record(account, actor, "user.update", user, details=changes)
        if with_teams:
            lifecycle.load_teams(user)
    return identity


def delete(*, account: Account, actor: Actor, scim_id: str) -> None:
    """Remove the user and the SCIM identity for good (Entra's DELETE)."""
    with _changing(account, actor, "user.delete", scim_id) as identity:
        user = identity.user
        was_admin = user.is_admin
        lifecycle.record(account, actor, "user.delete", user, reason=_DELETED)
        db.session.delete(user)
        if was_admin:
            db.session.flush()
            _record_if_no_admin_left(account, actor, user)


@contextmanager
def _changing(account: Account, actor: Actor, action: str, scim_id: str) -> Iterator[ScimIdentity]:
    """The transaction of one IdP change to one user, and its first steps: the access check
    (ordered against disable and revoke), the SCIM-mode rule, the user read and locked (after
    the account: the one lock order), and the refusal's audit target."""
    attempt = Attempt(account.id, actor, action, "user", scim_id)
    with unit_of_work(attempt):
        hold_access(account=account, actor=actor)
        policy.ensure_may_add_or_remove_teammates(account, actor)
        identity = get_identity(account=account, scim_id=scim_id)
        attempt.aim(audit.user_target(identity.user))
        yield identity


# ---- helpers ----------------------------------------------------------------------------------


def _label(profile: IdpProfile) -> str:
    """How a refused provisioning is labelled in the log: by email when one was sent.

    Admins ask "why is ada@example.com not in Heap?"; Entra's userName may be a UPN or object id.
    """
    try:
        return email_for(profile)
    except Invalid:
        # The log must be writable whatever was sent: storable, no more than the column holds.
        return repaired(profile.user_name)[: lifecycle.MAX_EMAIL]


def _deactivate(account: Account, actor: Actor, user: User) -> None:
    was_admin = user.is_admin
    teams_left = lifecycle.deactivate(user)
    lifecycle.record(
        account,
        actor,
        "user.deactivate",
        user,
        details={"teams_left": teams_left},
        reason=_DEACTIVATED,
    )
    if was_admin:
        db.session.flush()
        _record_if_no_admin_left(account, actor, user)


def _count_admins(account: Account) -> int:
    """The account's active Admins, counted under the account's exclusive lock.

    IdP writes hold the account only shared (``hold_access``), so two of them could each count
    the other's Admin; this one waits for the others in flight and then counts what they did.
    """
    lock_account(account)
    return lifecycle.count_active_admins(account=account)


def _record_if_no_admin_left(account: Account, actor: Actor, user: User) -> None:
    """The IdP's removals always apply; when one leaves no Admin, the log says so."""
    if _count_admins(account) == 0:
        audit.record(
            account.id,
            actor,
            "account.no_admin",
            audit.account_target(account),
            reason=_NO_ADMIN_LEFT.format(email=user.email),
            details={"removed": user.email},
        )


def _ensure_email_free(
    *,
    account: Account,
    actor: Actor,
    email: str,
    except_user: User | None = None,
    sent_user_name: str | None = None,
    claims: lifecycle.Claims | None = None,
) -> None:
    holder = lifecycle.holder_in_account(
        account=account,
        actor=actor,
        email=email,
        except_user=except_user,
        field="userName",
        claims=claims,
    )
    if holder is None:
        return
    held_as = f"userName {holder.scim_identity.user_name!r} (id {holder.scim_identity.id})"
    if sent_user_name is None:
        raise AlreadyExists(
            f"{email} already belongs to another user of this Heap account, {held_as}.",
            field="userName",
        )
    if lifecycle.find_identity(account=account, user_name=sent_user_name) is not None:
        # A parallel POST of the same userName committed since this one looked it up: a retry
        # finds and links it, so there is nothing to change in the identity provider.
        raise AlreadyExists(
            f"{email} is already a teammate in this Heap account.", field="userName"
        )
    # Entra ID sends a UPN or object id as userName: its lookup by userName misses the teammate
    # Heap already has under the email, and it POSTs a second one.
    raise AlreadyExists(
        f"{email} is already a user of this Heap account under {held_as}, but your identity "
        f"provider sent userName {sent_user_name!r}. Heap matches users by userName: send "
        f"{holder.scim_identity.user_name!r} as this person's userName (in Okta, set the "
        "Application username format to Email; in Entra ID, map userName to the mail "
        "attribute), then retry.",
        field="userName",
    )


def _apply_identity_changes(
    account: Account, actor: Actor, identity: ScimIdentity, profile: IdpProfile, email: str
) -> dict[str, Any]:
    """Profile, ``userName`` and email changes; returns what changed, for the audit log."""
    user = identity.user
    changes: dict[str, Any] = {}
    if profile.user_name != identity.user_name:
        other = lifecycle.find_identity(account=account, user_name=profile.user_name)
        if other is not None and other.id != identity.id:
            raise AlreadyExists(
                f"Another user of this account already has userName {profile.user_name!r}.",
                field="userName",
            )
        changes["userName"] = {"from": identity.user_name, "to": profile.user_name}
    if email != user.email:
        # Whether the address is taken is the database's lower(), not Python's: they differ
        # beyond ASCII, and the unique index is what a wrong guess would run into.
        if user.is_active:
            _ensure_email_free(account=account, actor=actor, email=email, except_user=user)
        changes["email"] = {"from": user.email, "to": email}
    for attribute in ("given_name", "family_name", "display_name"):
        if getattr(profile, attribute) != getattr(user, attribute):
            changes[attribute] = True
    _apply_profile(identity, profile, email)
    return changes


def _apply_profile(identity: ScimIdentity, profile: IdpProfile, email: str) -> None:
    user_columns, identity_columns = _profile_columns(profile, email)
    for column, value in identity_columns.items():
        setattr(identity, column, value)
    for column, value in user_columns.items():
        setattr(identity.user, column, value)


def _profile_columns(profile: IdpProfile, email: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What Heap stores of a profile, checked and cleaned: the user's columns, the identity's."""
    identity = {
        "user_name": _clean_user_name(profile.user_name),
        "external_id": _clean_external_id(profile.external_id),
        "idp_managed": True,
        "extra": _clean_kept_attributes(profile.extra),
        "email": sent_email(profile),
    }
    user = {
        "email": email,
        "given_name": lifecycle.clean_name(profile.given_name, "name.givenName"),
        "family_name": lifecycle.clean_name(profile.family_name, "name.familyName"),
        "display_name": (
            lifecycle.clean_name(profile.display_name, "displayName")
            if profile.display_name
            else None
        ),
    }
    return user, identity


def _clean_kept_attributes(extra: Mapping[str, Any]) -> dict[str, Any]:
    # The doors refuse unstorable text, so any here was stored before they did and comes back
    # in the user's current document (a PATCH): written back repaired, never a 500.
    extra = repaired_json(extra)
    size = len(json.dumps(extra, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_KEPT_ATTRIBUTES_BYTES:
        raise Invalid(
            f"The attributes Heap keeps as sent (those it has no column for, custom extensions "
            f"included) take {size:,} bytes for this user; at most {MAX_KEPT_ATTRIBUTES_BYTES:,} "
            "are kept. Map fewer or shorter attributes to Heap in your identity provider."
        )
    return dict(extra)


def _clean_role_value(value: str | None) -> str | None:
    # Okta sends "" once the admin clears the attribute; that means "back to the default role".
    if value is None:
        return None
    value = require_storable(value, "heapRole").strip()
    return value or None


def _idp_role(account: Account, value: str | None) -> Role:
    if value is None:
        return lifecycle.default_role(account)
    role = roles.get_by_name(account=account, name=value)
    if role is None:
        raise Invalid(
            f"Heap Role {value!r} does not match a role in this Heap account. "
            f"{roles.valid_roles_sentence(account=account)} Set the Heap Role attribute in your "
            "identity provider to one of these names exactly, or leave it empty for the default.",
            field="heapRole",
        )
    return role


def _clean_external_id(value: str | None) -> str | None:
    if value is not None:
        require_storable(value, "externalId")
    if value is not None and len(value) > MAX_EXTERNAL_ID:
        raise Invalid(
            f"externalId is longer than {MAX_EXTERNAL_ID} characters.", field="externalId"
        )
    return value


def _clean_user_name(value: str) -> str:
    require_storable(value, "userName")
    if not value.strip():
        raise Invalid("userName is required.", field="userName")
    if len(value) > lifecycle.MAX_EMAIL:
        raise Invalid(
            f"userName is longer than {lifecycle.MAX_EMAIL} characters.", field="userName"
        )
    return value
