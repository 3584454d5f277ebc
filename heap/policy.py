"""The SCIM-mode rules, decided once, from (account, actor, target). Pure: no I/O, no session.

Every service calls these before changing anything, so the GraphQL door, the SCIM door and the CLI
cannot disagree. Each function returns nothing and raises a ``HeapError`` naming the rule.
"""

from __future__ import annotations

from collections.abc import Callable

from heap.actors import Actor, IdentityProvider, Member
from heap.errors import (
    Forbidden,
    HeapError,
    LastAdmin,
    PlanRequired,
    RoleBuiltIn,
    RoleInUse,
    RoleIsScimDefault,
    ScimAlreadyEnabled,
    ScimManaged,
    ScimNotEnabled,
    SsoRequired,
    TeamScimManaged,
)
from heap.models import Account, Role, Team, User

LAST_ADMIN_IN_APP = "This is the account's last Admin. Make another teammate an Admin first."


def ensure_admin(actor: Actor) -> None:
    """Settings, roles and teams are changed by Admins (and operators), never by the IdP."""
    if isinstance(actor, IdentityProvider):
        raise Forbidden("The identity provider cannot change account settings.")
    if isinstance(actor, Member) and not actor.user.is_admin:
        raise Forbidden("Only an Admin of this account can do this.")


def ensure_idp_may_act(account: Account) -> None:
    """The SCIM door is open only while the account is on Premier with SCIM enabled."""
    if not account.is_premier:
        raise PlanRequired(
            "SCIM provisioning needs the Premier plan; this account is on "
            f"{account.plan.capitalize()}. Contact your Customer Success Manager to upgrade."
        )
    if not account.scim_enabled:
        raise ScimNotEnabled(
            "SCIM provisioning is turned off for this account. An Admin can enable it in Heap "
            "under Account > Manage > Account settings."
        )


def ensure_may_enable_scim(account: Account, actor: Actor) -> None:
    ensure_admin(actor)
    if not account.is_premier:
        raise PlanRequired("SCIM provisioning is available on the Premier plan only.")
    if not account.sso_configured:
        raise SsoRequired("Configure single sign-on (SSO) before enabling SCIM provisioning.")
    if account.scim_enabled:
        raise ScimAlreadyEnabled("SCIM provisioning is already enabled for this account.")


def ensure_may_manage_scim(account: Account, actor: Actor) -> None:
    """Default role, tokens and disabling: only once SCIM is on."""
    ensure_admin(actor)
    if not account.scim_enabled:
        raise ScimNotEnabled("SCIM provisioning is not enabled for this account.")


def ensure_may_add_or_remove_teammates(account: Account, actor: Actor) -> None:
    """In SCIM mode, teammates come and go only through the IdP."""
    if isinstance(actor, IdentityProvider):
        ensure_idp_may_act(account)
        return
    ensure_admin(actor)
    if account.scim_active:
        raise ScimManaged(
            "Teammates are managed in your identity provider while SCIM provisioning is on: "
            "assign or unassign them to the Heap app there."
        )


def ensure_may_change_role(
    account: Account, actor: Actor, user: User, role: Role, *, active_admins: Callable[[], int]
) -> None:
    """Roles stay editable in Heap in SCIM mode; no role change leaves the account without an Admin.

    The IdP may deactivate or delete anyone (a departed person must lose access), but a role
    change from it that would demote the last Admin is refused: an Okta admin clearing the Heap
    Role mapping sends "" (the default role) for everyone, which must not demote every Admin.
    ``active_admins`` is asked only when the answer matters (an Admin is being demoted).
    """
    if isinstance(actor, IdentityProvider):
        ensure_idp_may_act(account)
    else:
        ensure_admin(actor)
    if not (user.is_admin and not role.is_admin) or active_admins() > 1:
        return
    if isinstance(actor, IdentityProvider):
        raise LastAdmin(
            f"{user.email} is the only Admin of this Heap account: Heap Role {role.name} (an "
            "empty Heap Role means the default role) would leave the account with no Admin. "
            "Give Heap Role Admin to someone else first (in Okta: the Heap Role attribute of "
            "their Heap app assignment), then change this person's role."
        )
    raise LastAdmin(LAST_ADMIN_IN_APP)


def removal_refusals(
    account: Account, actor: Actor, user: User, *, active_admins: Callable[[], int]
) -> list[HeapError]:
    """Every rule refusing ``actor`` removing ``user`` from Heap, in order.

    The front end shows them all before the click; ``ensure_may_remove_teammate`` raises the
    first. ``active_admins`` is asked only when the answer matters (the user is an Admin).
    """
    refusals: list[HeapError] = []
    try:
        ensure_may_add_or_remove_teammates(account, actor)
    except HeapError as error:
        refusals.append(error)
    if user.is_admin:
        try:
            ensure_not_last_admin(actor, active_admins=active_admins())
        except HeapError as error:
            refusals.append(error)
    return refusals


def ensure_may_remove_teammate(
    account: Account, actor: Actor, user: User, *, active_admins: Callable[[], int]
) -> None:
    refusals = removal_refusals(account, actor, user, active_admins=active_admins)
    if refusals:
        raise refusals[0]


def ensure_not_last_admin(actor: Actor, *, active_admins: int) -> None:
    """The IdP is the source of truth and may remove anyone; people in Heap may not lock it."""
    if isinstance(actor, IdentityProvider):
        return
    if active_admins <= 1:
        raise LastAdmin(LAST_ADMIN_IN_APP)


def ensure_may_edit_team(account: Account, team: Team, actor: Actor) -> None:
    """Membership, name and deletion of a team linked to an IdP group belong to the IdP."""
    if isinstance(actor, IdentityProvider):
        ensure_idp_may_act(account)
        return
    ensure_admin(actor)
    if team.scim_managed and account.scim_active:
        raise TeamScimManaged(
            f"Team {team.name!r} is linked to a group in your identity provider; change its "
            "name and members there."
        )


def ensure_may_create_team(account: Account, actor: Actor) -> None:
    if isinstance(actor, IdentityProvider):
        ensure_idp_may_act(account)
        return
    ensure_admin(actor)


def ensure_may_manage_roles(actor: Actor) -> None:
    ensure_admin(actor)


def ensure_may_rename_role(role: Role, actor: Actor) -> None:
    ensure_admin(actor)
    if role.is_builtin:
        raise RoleBuiltIn(f"{role.name} is a built-in role and cannot be renamed.")


def ensure_may_delete_role(
    account: Account, role: Role, actor: Actor, *, users_with_role: int
) -> None:
    ensure_admin(actor)
    if role.is_builtin:
        raise RoleBuiltIn(f"{role.name} is a built-in role and cannot be deleted.")
    if account.scim_default_role_id == role.id:
        raise RoleIsScimDefault(
            f"{role.name} is the SCIM default role. Choose another default role first."
        )
    if users_with_role:
        raise RoleInUse(
            f"{users_with_role} teammate(s) have the role {role.name}. "
            "Give them another role first."
        )
