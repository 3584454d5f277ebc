"""The SCIM-mode rules, one table: rule x actor x account state -> the refusal (or none).

Policy is pure, so every row builds transient models (never added to a session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from heap import policy
from heap.actors import Actor, IdentityProvider, Member, Operator
from heap.errors import (
    DomainVerifiedElsewhere,
    EmailInOtherAccount,
    EmailUnavailable,
    ErrorCode,
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
from heap.models import Account, Role, Team, User, utcnow

ADMIN, MEMBER, EX_ADMIN, IDP, OPERATOR = "admin", "member", "ex-admin", "idp", "operator"
CUSTOM_ROLE_ID = 7
KNOWN_FLAGS = {
    "free", "growth", "pro", "nosso", "scim", "linked", "last", "builtin", "default", "inuse",
    "promote", "verified", "held", "ours",
}  # fmt: skip


@dataclass(frozen=True)
class World:
    """One row's situation, as transient models."""

    account: Account
    actor: Actor
    flags: frozenset[str]

    @property
    def active_admins(self) -> int:
        return 1 if "last" in self.flags else 2


def _world(actor_kind: str, flags: str) -> World:
    flag_set = frozenset(flags.split())
    assert flag_set <= KNOWN_FLAGS, flag_set - KNOWN_FLAGS
    plan = next((p for p in ("free", "growth", "pro") if p in flag_set), "premier")
    account = Account(
        id=1,
        name="Acme",
        plan=plan,
        sso_configured="nosso" not in flag_set,
        scim_enabled="scim" in flag_set,
        scim_default_role_id=CUSTOM_ROLE_ID if "default" in flag_set else None,
    )
    admin_role = Role(id=1, account_id=1, name="Admin", is_builtin=True, is_admin=True)
    analyst_role = Role(id=3, account_id=1, name="Analyst", is_builtin=True, is_admin=False)
    actor: Actor
    if actor_kind == ADMIN:
        actor = Member(User(id=10, account_id=1, email="a@acme.example", role=admin_role))
    elif actor_kind == EX_ADMIN:
        user = User(id=11, account_id=1, email="x@acme.example", role=admin_role)
        user.deactivated_at = utcnow()
        actor = Member(user)
    elif actor_kind == MEMBER:
        actor = Member(User(id=12, account_id=1, email="m@acme.example", role=analyst_role))
    elif actor_kind == IDP:
        actor = IdentityProvider(token_id=5, token_prefix="heapscim_abcdef")
    else:
        actor = Operator()
    return World(account=account, actor=actor, flags=flag_set)


def _role(world: World) -> Role:
    builtin = "builtin" in world.flags
    return Role(
        id=1 if builtin else CUSTOM_ROLE_ID,
        account_id=1,
        name="Admin" if builtin else "Auditor",
        is_builtin=builtin,
        is_admin=builtin,
    )


def _change_role(world: World) -> None:
    """Demote an active Admin to Analyst, or (``promote``) make an Analyst an Admin."""
    admin = Role(id=1, account_id=1, name="Admin", is_builtin=True, is_admin=True)
    analyst = Role(id=3, account_id=1, name="Analyst", is_builtin=True, is_admin=False)
    promote = "promote" in world.flags
    target = User(id=20, account_id=1, email="t@acme.example", role=analyst if promote else admin)
    new_role = admin if promote else analyst
    policy.ensure_may_change_role(
        world.account, world.actor, target, new_role, active_admins=lambda: world.active_admins
    )


def _admin_target() -> User:
    admin = Role(id=1, account_id=1, name="Admin", is_builtin=True, is_admin=True)
    return User(id=21, account_id=1, email="boss@acme.example", role=admin)


def _remove_teammate(world: World) -> None:
    """Remove an active Admin (the last one, with ``last``)."""
    policy.ensure_may_remove_teammate(
        world.account, world.actor, _admin_target(), active_admins=lambda: world.active_admins
    )


def _edit_team(world: World) -> None:
    team = Team(id=3, account_id=1, name="Data", scim_managed="linked" in world.flags)
    policy.ensure_may_edit_team(world.account, team, world.actor)


def _team(world: World) -> Team:
    return Team(id=3, account_id=1, name="Data", scim_managed="linked" in world.flags)


def _address(world: World) -> None:
    """Add an address: at a domain verified elsewhere (or here, ``ours``), held elsewhere."""
    verified_by = 2 if "verified" in world.flags else 1 if "ours" in world.flags else None
    policy.ensure_address_available(
        world.account,
        world.actor,
        email="ceo@bigcorp.example",
        domain_owner_id=verified_by,
        holder_account_id=2 if "held" in world.flags else None,
        field="email",
    )


def _delete_role(world: World) -> None:
    policy.ensure_may_delete_role(
        world.account,
        _role(world),
        world.actor,
        users_with_role=3 if "inuse" in world.flags else 0,
    )


RULES: dict[str, Callable[[World], None]] = {
    "admin": lambda w: policy.ensure_admin(w.actor),
    "idp_may_act": lambda w: policy.ensure_idp_may_act(w.account),
    "enable_scim": lambda w: policy.ensure_may_enable_scim(w.account, w.actor),
    "manage_scim": lambda w: policy.ensure_may_manage_scim(w.account, w.actor),
    "teammates": lambda w: policy.ensure_may_add_or_remove_teammates(w.account, w.actor),
    "change_role": _change_role,
    "not_last_admin": lambda w: policy.ensure_not_last_admin(
        w.actor, active_admins=w.active_admins
    ),
    "remove_teammate": _remove_teammate,
    "edit_team": _edit_team,
    "delete_team": lambda w: policy.ensure_may_delete_team(w.account, _team(w), w.actor),
    "unlink_team": lambda w: policy.ensure_may_unlink_team(w.account, _team(w), w.actor),
    "verify_domains": lambda w: policy.ensure_may_verify_domains(w.actor),
    "mint_viewer_tokens": lambda w: policy.ensure_may_mint_viewer_tokens(w.actor),
    "address": _address,
    "create_team": lambda w: policy.ensure_may_create_team(w.account, w.actor),
    "manage_roles": lambda w: policy.ensure_may_manage_roles(w.actor),
    "rename_role": lambda w: policy.ensure_may_rename_role(_role(w), w.actor),
    "delete_role": _delete_role,
    "operator": lambda w: policy.ensure_operator(w.actor),
}

OK = None
# (rule, actor, account state, expected refusal). The default account is Premier with SSO, SCIM
# off, and two active Admins; flags change one thing each.
TABLE: list[tuple[str, str, str, type[HeapError] | None]] = [
    ("admin", ADMIN, "", OK),
    ("admin", MEMBER, "", Forbidden),
    ("admin", EX_ADMIN, "", Forbidden),
    ("admin", IDP, "scim", Forbidden),
    ("admin", OPERATOR, "", OK),
    ("idp_may_act", IDP, "scim", OK),
    ("idp_may_act", IDP, "", ScimNotEnabled),
    ("idp_may_act", IDP, "pro scim", PlanRequired),
    ("idp_may_act", IDP, "free", PlanRequired),
    ("idp_may_act", IDP, "nosso scim", OK),
    ("enable_scim", ADMIN, "", OK),
    ("enable_scim", ADMIN, "growth", PlanRequired),
    ("enable_scim", ADMIN, "nosso", SsoRequired),
    ("enable_scim", ADMIN, "free nosso", PlanRequired),
    ("enable_scim", ADMIN, "scim", ScimAlreadyEnabled),
    ("enable_scim", MEMBER, "", Forbidden),
    ("enable_scim", EX_ADMIN, "", Forbidden),
    ("enable_scim", IDP, "scim", Forbidden),
    ("enable_scim", OPERATOR, "", OK),
    ("enable_scim", OPERATOR, "pro", PlanRequired),
    ("enable_scim", OPERATOR, "nosso", SsoRequired),
    ("manage_scim", ADMIN, "scim", OK),
    ("manage_scim", ADMIN, "", ScimNotEnabled),
    # Off Premier, SCIM settings stay manageable: an Admin can still disable SCIM or revoke.
    ("manage_scim", ADMIN, "free scim", OK),
    ("manage_scim", MEMBER, "scim", Forbidden),
    ("manage_scim", IDP, "scim", Forbidden),
    ("manage_scim", OPERATOR, "scim", OK),
    ("manage_scim", OPERATOR, "", ScimNotEnabled),
    ("teammates", ADMIN, "", OK),
    ("teammates", ADMIN, "scim", ScimManaged),
    ("teammates", ADMIN, "nosso scim", ScimManaged),
    # SCIM enabled but the account left Premier: SCIM mode is idle, Heap edits the list again.
    ("teammates", ADMIN, "pro scim", OK),
    ("teammates", MEMBER, "", Forbidden),
    ("teammates", MEMBER, "scim", Forbidden),
    ("teammates", EX_ADMIN, "", Forbidden),
    ("teammates", IDP, "scim", OK),
    ("teammates", IDP, "", ScimNotEnabled),
    ("teammates", IDP, "free scim", PlanRequired),
    ("teammates", OPERATOR, "", OK),
    ("teammates", OPERATOR, "scim", ScimManaged),
    ("change_role", ADMIN, "", OK),
    ("change_role", ADMIN, "last", LastAdmin),
    ("change_role", ADMIN, "scim", OK),
    ("change_role", ADMIN, "scim last", LastAdmin),
    ("change_role", ADMIN, "last promote", OK),
    ("change_role", MEMBER, "", Forbidden),
    ("change_role", MEMBER, "scim promote", Forbidden),
    # The IdP may remove the last Admin, but not demote them (an emptied Heap Role mapping).
    ("change_role", IDP, "scim last", LastAdmin),
    ("change_role", IDP, "scim", OK),
    ("change_role", IDP, "scim last promote", OK),
    ("change_role", IDP, "last", ScimNotEnabled),
    ("change_role", IDP, "free scim", PlanRequired),
    ("change_role", OPERATOR, "", OK),
    ("change_role", OPERATOR, "scim last", LastAdmin),
    ("remove_teammate", ADMIN, "", OK),
    ("remove_teammate", ADMIN, "last", LastAdmin),
    ("remove_teammate", ADMIN, "scim", ScimManaged),
    ("remove_teammate", ADMIN, "scim last", ScimManaged),
    ("remove_teammate", MEMBER, "", Forbidden),
    ("remove_teammate", EX_ADMIN, "", Forbidden),
    ("remove_teammate", IDP, "scim last", OK),
    ("remove_teammate", IDP, "last", ScimNotEnabled),
    ("remove_teammate", OPERATOR, "", OK),
    ("remove_teammate", OPERATOR, "last", LastAdmin),
    ("not_last_admin", ADMIN, "", OK),
    ("not_last_admin", ADMIN, "last", LastAdmin),
    ("not_last_admin", ADMIN, "scim last", LastAdmin),
    ("not_last_admin", MEMBER, "last", LastAdmin),
    ("not_last_admin", IDP, "scim last", OK),
    ("not_last_admin", OPERATOR, "last", LastAdmin),
    ("not_last_admin", OPERATOR, "", OK),
    ("edit_team", ADMIN, "", OK),
    ("edit_team", ADMIN, "scim", OK),
    ("edit_team", ADMIN, "scim linked", TeamScimManaged),
    ("edit_team", ADMIN, "linked", OK),
    ("edit_team", ADMIN, "pro scim linked", OK),
    ("edit_team", MEMBER, "", Forbidden),
    ("edit_team", MEMBER, "scim linked", Forbidden),
    ("edit_team", IDP, "scim linked", OK),
    ("edit_team", IDP, "scim", OK),
    ("edit_team", IDP, "linked", ScimNotEnabled),
    ("edit_team", IDP, "growth scim linked", PlanRequired),
    ("edit_team", OPERATOR, "scim linked", TeamScimManaged),
    ("edit_team", OPERATOR, "scim", OK),
    # The IdP deletes only what it pushed or linked; Admins delete what the IdP does not own.
    ("delete_team", IDP, "scim linked", OK),
    ("delete_team", IDP, "scim", TeamNotLinked),
    ("delete_team", IDP, "linked", ScimNotEnabled),
    ("delete_team", ADMIN, "scim", OK),
    ("delete_team", ADMIN, "scim linked", TeamScimManaged),
    ("delete_team", MEMBER, "", Forbidden),
    ("delete_team", OPERATOR, "scim linked", TeamScimManaged),
    ("delete_team", OPERATOR, "", OK),
    ("unlink_team", ADMIN, "scim linked", OK),
    ("unlink_team", ADMIN, "pro scim linked", OK),
    ("unlink_team", ADMIN, "scim", TeamNotLinked),
    ("unlink_team", MEMBER, "scim linked", Forbidden),
    ("unlink_team", IDP, "scim linked", Forbidden),
    ("unlink_team", OPERATOR, "scim linked", OK),
    ("mint_viewer_tokens", OPERATOR, "", OK),
    ("mint_viewer_tokens", ADMIN, "", Forbidden),
    ("mint_viewer_tokens", MEMBER, "", Forbidden),
    ("mint_viewer_tokens", IDP, "scim", Forbidden),
    ("verify_domains", OPERATOR, "", OK),
    ("verify_domains", ADMIN, "", Forbidden),
    ("verify_domains", MEMBER, "", Forbidden),
    ("verify_domains", IDP, "scim", Forbidden),
    # In-app invites get one answer whatever the reason; the IdP and operators are told which.
    ("address", ADMIN, "", OK),
    ("address", ADMIN, "ours", OK),
    ("address", ADMIN, "verified", EmailUnavailable),
    ("address", ADMIN, "held", EmailUnavailable),
    ("address", ADMIN, "ours held", EmailUnavailable),
    ("address", MEMBER, "held", EmailUnavailable),
    ("address", IDP, "scim", OK),
    ("address", IDP, "scim ours", OK),
    ("address", IDP, "scim verified", DomainVerifiedElsewhere),
    ("address", IDP, "scim held", EmailInOtherAccount),
    ("address", IDP, "scim verified held", DomainVerifiedElsewhere),
    ("address", OPERATOR, "verified", DomainVerifiedElsewhere),
    ("address", OPERATOR, "held", EmailInOtherAccount),
    ("create_team", ADMIN, "", OK),
    ("create_team", ADMIN, "scim", OK),
    ("create_team", MEMBER, "", Forbidden),
    ("create_team", IDP, "scim", OK),
    ("create_team", IDP, "", ScimNotEnabled),
    ("create_team", IDP, "free scim", PlanRequired),
    ("create_team", OPERATOR, "scim", OK),
    ("manage_roles", ADMIN, "scim", OK),
    ("manage_roles", MEMBER, "", Forbidden),
    ("manage_roles", IDP, "scim", Forbidden),
    ("manage_roles", OPERATOR, "", OK),
    ("rename_role", ADMIN, "", OK),
    ("rename_role", ADMIN, "builtin", RoleBuiltIn),
    ("rename_role", MEMBER, "", Forbidden),
    ("rename_role", MEMBER, "builtin", Forbidden),
    ("rename_role", IDP, "scim", Forbidden),
    ("rename_role", OPERATOR, "", OK),
    ("rename_role", OPERATOR, "builtin", RoleBuiltIn),
    ("delete_role", ADMIN, "", OK),
    ("delete_role", ADMIN, "scim", OK),
    ("delete_role", ADMIN, "builtin", RoleBuiltIn),
    ("delete_role", ADMIN, "builtin inuse", RoleBuiltIn),
    ("delete_role", ADMIN, "scim default", RoleIsScimDefault),
    # SCIM off keeps the default role setting (and its foreign key): still refused.
    ("delete_role", ADMIN, "default", RoleIsScimDefault),
    ("delete_role", ADMIN, "default inuse", RoleIsScimDefault),
    ("delete_role", ADMIN, "inuse", RoleInUse),
    ("delete_role", MEMBER, "", Forbidden),
    ("delete_role", IDP, "scim", Forbidden),
    ("delete_role", OPERATOR, "", OK),
    ("delete_role", OPERATOR, "inuse", RoleInUse),
    # Pruning the audit log: the CLI only, never anyone inside an account, Admins included.
    ("operator", OPERATOR, "", OK),
    ("operator", ADMIN, "", Forbidden),
    ("operator", MEMBER, "", Forbidden),
    ("operator", IDP, "scim", Forbidden),
]


def _row_id(row: tuple[str, str, str, type[HeapError] | None]) -> str:
    rule, actor, flags, expected = row
    outcome = "ok" if expected is None else expected.code.value
    return f"{rule}-{actor}-{flags.replace(' ', '+') or 'default'}-{outcome}"


@pytest.mark.parametrize("row", TABLE, ids=[_row_id(row) for row in TABLE])
def test_policy(row: tuple[str, str, str, type[HeapError] | None]) -> None:
    rule, actor_kind, flags, expected = row
    world = _world(actor_kind, flags)
    if expected is None:
        RULES[rule](world)
        return
    with pytest.raises(HeapError) as raised:
        RULES[rule](world)
    assert type(raised.value) is expected
    assert raised.value.code == ErrorCode(expected.code)
    assert raised.value.message


def test_table_covers_every_rule_and_actor() -> None:
    public = {name for name in dir(policy) if name.startswith("ensure_")}
    assert len(public) == len(RULES)
    every_actor = {ADMIN, MEMBER, IDP, OPERATOR}
    for rule in RULES:
        # ensure_idp_may_act takes no actor: it is the account's side of the IdP's rules.
        wanted = {IDP} if rule == "idp_may_act" else every_actor
        assert {actor for r, actor, _, _ in TABLE if r == rule} >= wanted, rule


def test_removal_refusals_lists_every_rule_and_asks_for_admins_only_when_it_matters() -> None:
    world = _world(ADMIN, "scim last")
    counted: list[int] = []

    def admins() -> int:
        counted.append(1)
        return world.active_admins

    refusals = policy.removal_refusals(
        world.account, world.actor, _admin_target(), active_admins=admins
    )
    assert [type(r) for r in refusals] == [ScimManaged, LastAdmin]
    assert counted == [1]

    analyst = Role(id=3, account_id=1, name="Analyst", is_builtin=True, is_admin=False)
    teammate = User(id=22, account_id=1, email="t@acme.example", role=analyst)
    refusals = policy.removal_refusals(world.account, world.actor, teammate, active_admins=admins)
    assert [type(r) for r in refusals] == [ScimManaged]
    assert counted == [1]


@pytest.mark.parametrize(
    ("actor_kind", "flags", "expected"),
    [
        (ADMIN, "", []),
        (ADMIN, "growth nosso", [ErrorCode.PLAN_REQUIRED, ErrorCode.SSO_REQUIRED]),
        (
            ADMIN,
            "free nosso scim",
            [ErrorCode.PLAN_REQUIRED, ErrorCode.SSO_REQUIRED, ErrorCode.SCIM_ALREADY_ENABLED],
        ),
        (MEMBER, "pro", [ErrorCode.FORBIDDEN, ErrorCode.PLAN_REQUIRED]),
        (
            IDP,
            "scim nosso",
            [ErrorCode.FORBIDDEN, ErrorCode.SSO_REQUIRED, ErrorCode.SCIM_ALREADY_ENABLED],
        ),
        (OPERATOR, "growth nosso", [ErrorCode.PLAN_REQUIRED, ErrorCode.SSO_REQUIRED]),
    ],
)
def test_enable_refusals_are_all_there_in_order(
    actor_kind: str, flags: str, expected: list[ErrorCode]
) -> None:
    world = _world(actor_kind, flags)
    assert [r.code for r in policy.enable_refusals(world.account, world.actor)] == expected
    if not expected:
        policy.ensure_may_enable_scim(world.account, world.actor)
        return
    # The check raises the first and carries the rest, so a door can show every one.
    with pytest.raises(HeapError) as raised:
        policy.ensure_may_enable_scim(world.account, world.actor)
    assert [r.code for r in raised.value.every()] == expected
