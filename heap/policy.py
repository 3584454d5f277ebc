"""The SCIM-mode rules, decided once, from (account, actor, target). Pure: no I/O, no session.

Every service calls these before changing anything, so the GraphQL door, the SCIM door and the CLI
cannot disagree. Each function returns nothing and raises a ``HeapError`` naming the rule.
"""

from __future__ import annotations

from collections.abc import Callable

from heap.actors import Actor, IdentityProvider, Member, Operator
from heap.errors import (
    DomainVerifiedElsewhere,
    EmailInOtherAccount,
    EmailUnavailable,
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
    TeamNotLinked,
    TeamScimManaged,
)
from heap.models import Account, Role, Team, User

LAST_ADMIN_IN_APP = "This is the account's last Admin. Make another teammate an Admin first."
# One answer for every address an in-app invite may not take, whatever the reason: otherwise
# the answer tells the inviting Admin which addresses have a Heap account elsewhere.
EMAIL_UNAVAILABLE = (
    "Heap can't add this address from this account: it belongs to another Heap organization, "
    "or to an email domain another organization has verified. If this person should join, they "
    "can ask Heap support."
)


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


def ensure_may_mint_viewer_tokens(actor: Actor) -> None:
    """A viewer token signs in as its teammate: outside sign-in, only operators mint one."""
    if not isinstance(actor, Operator):
        raise Forbidden("Only Heap operators mint viewer tokens, with the operator commands.")


def ensure_may_verify_domains(actor: Actor) -> None:
    """Who owns a domain is checked outside Heap (DNS, contracts): only operators record it."""
    if not isinstance(actor, Operator):
        raise Forbidden("Only Heap operators verify email domains, with the operator commands.")


def ensure_address_available(
    account: Account,
    actor: Actor,
    *,
    email: str,
    domain_owner_id: int | None,
    holder_account_id: int | None,
    field: str,
) -> None:
    """Nobody adds an address another organization holds, or whose domain another verified.

    ``domain_owner_id``: the account that verified the address's domain, if any;
    ``holder_account_id``: the account of the active user holding the address, if any.
    Teammates inviting in Heap get one answer for both (``EMAIL_UNAVAILABLE``), so an invite
    does not reveal whether an address has a Heap account; the identity provider's admin and
    operators are told which rule refused, as they need it to act (SCIM's 409 stays explicit).
    """
    verified_elsewhere = domain_owner_id is not None and domain_owner_id != account.id
    held_elsewhere = holder_account_id is not None and holder_account_id != account.id
    if not (verified_elsewhere or held_elsewhere):
        return
    if isinstance(actor, Member):
        raise EmailUnavailable(EMAIL_UNAVAILABLE, field=field)
    if verified_elsewhere:
        domain = email.rpartition("@")[2]
        raise DomainVerifiedElsewhere(
            f"{email} is at {domain}, an email domain another Heap organization has verified: "
            "only that organization can add its addresses. Unassign this person from the Heap "
            "app in your identity provider, or ask Heap support if the domain is yours.",
            field=field,
        )
    raise EmailInOtherAccount(
        f"{email} already has a Heap account in another organization. That person must "
        "delete that account (or ask its Admin to remove them) before they can be "
        "provisioned here.",
        field=field,
    )


def enable_refusals(account: Account, actor: Actor) -> list[HeapError]:
    """Every rule refusing ``actor`` turning SCIM on, in a stable order: who asks, the plan,
    SSO, then SCIM's own state.

    All of them, not the first: an admin told only "upgrade" would upgrade and then learn that
    SSO is needed too. The front end shows the list; ``ensure_may_enable_scim`` raises it.
    """
    refusals: list[HeapError] = []
    try:
        ensure_admin(actor)
    except HeapError as error:
        refusals.append(error)
    if not account.is_premier:
        refusals.append(PlanRequired("SCIM provisioning is available on the Premier plan only."))
    if not account.sso_configured:
        refusals.append(
            SsoRequired("Configure single sign-on (SSO) before enabling SCIM provisioning.")
        )
    if account.scim_enabled:
        refusals.append(
            ScimAlreadyEnabled("SCIM provisioning is already enabled for this account.")
        )
    return refusals


def ensure_may_enable_scim(account: Account, actor: Actor) -> None:
    _refuse(enable_refusals(account, actor))


def _refuse(refusals: list[HeapError]) -> None:
    """Raise the first refusal, carrying the others (``HeapError.also``); nothing if none."""
    if refusals:
        first, *others = refusals
        first.also = tuple(others)
        raise first


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


def ensure_may_delete_team(account: Account, team: Team, actor: Actor) -> None:
    """The IdP deletes only teams it pushed or linked; other teams are Heap's to delete."""
    if isinstance(actor, IdentityProvider) and not team.scim_managed:
        ensure_idp_may_act(account)
        raise TeamNotLinked(
            f"Team {team.name!r} was made in Heap (or taken back by a Heap Admin), not pushed or "
            "linked by your identity provider, so Heap did not delete it. To stop pushing to "
            "it, unlink the group in your identity provider and leave the group in the app."
        )
    ensure_may_edit_team(account, team, actor)


def ensure_may_unlink_team(account: Account, team: Team, actor: Actor) -> None:
    """An Admin takes a team back from the IdP: members stay, name and members editable again."""
    ensure_admin(actor)
    if not team.scim_managed:
        raise TeamNotLinked(f"Team {team.name!r} is not linked to an identity provider group.")


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


def ensure_operator(actor: Actor) -> None:
    """Housekeeping across accounts (pruning the audit log and old tokens) is for operators only:
    the log is the account's evidence, and no one inside an account may erase it."""
    if not isinstance(actor, Operator):
        raise Forbidden("Only an operator (the flask CLI) can prune the audit log or tokens.")
