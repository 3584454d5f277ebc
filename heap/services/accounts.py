"""Accounts (Heap organisations): creation, plan and SSO."""

from __future__ import annotations

from sqlalchemy import select

from heap import policy
from heap.actors import Actor
from heap.errors import AlreadyExists, Invalid, NotFound
from heap.extensions import db
from heap.models import ADMIN_ROLE, Account, Plan
from heap.services import audit, lifecycle, roles
from heap.text import require_storable
from heap.transaction import Attempt, unit_of_work

MAX_ACCOUNT_NAME = 255


def get_by_ref(*, ref: str) -> Account:
    """An account by name, or by id when ``ref`` is a number (the CLI's ACCOUNT argument)."""
    account = db.session.scalar(select(Account).where(Account.name == ref))
    if account is None and ref.isdigit():
        account = db.session.get(Account, int(ref))
    if account is None:
        raise NotFound(f"No account named or numbered {ref!r}.", field="account")
    return account


def find_by_name(*, name: str) -> Account | None:
    return db.session.scalar(select(Account).where(Account.name == name))


def any_exist() -> bool:
    return db.session.scalar(select(Account.id).limit(1)) is not None


def parse_plan(value: str) -> Plan:
    try:
        return Plan(value.strip().lower())
    except ValueError:
        known = ", ".join(plan.value for plan in Plan)
        raise Invalid(f"Unknown plan {value!r}; choose one of {known}.", field="plan") from None


def create(
    *,
    actor: Actor,
    name: str,
    plan: Plan,
    sso_configured: bool = False,
    admin_email: str | None = None,
) -> Account:
    """A new account with the built-in roles; operators only (sign-up lives elsewhere).

    With ``admin_email``, its first Admin is invited in the same transaction: if that is refused
    (not an address, a teammate of another organization), no account is left behind.
    """
    name = " ".join(require_storable(name, "name").split())
    if not name or len(name) > MAX_ACCOUNT_NAME:
        raise Invalid(
            f"An account needs a name of 1 to {MAX_ACCOUNT_NAME} characters.", field="name"
        )
    if name.isdigit():
        # The CLI takes "an id or a name": a numeric name would be ambiguous.
        raise Invalid("An account name cannot be only digits.", field="name")
    with unit_of_work():
        policy.ensure_admin(actor)
        if find_by_name(name=name) is not None:
            raise AlreadyExists(f"An account named {name!r} already exists.", field="name")
        account = Account(name=name, plan=plan.value, sso_configured=sso_configured)
        db.session.add(account)
        db.session.flush()
        roles.seed_builtin(account=account)
        audit.record(
            account.id,
            actor,
            "account.create",
            audit.Target("account", account.id, name),
            details={"plan": plan.value, "sso_configured": sso_configured},
        )
        if admin_email is not None:
            _add_first_admin(account=account, actor=actor, email=admin_email.strip())
    return account


def _add_first_admin(*, account: Account, actor: Actor, email: str) -> None:
    if not lifecycle.is_email(email):
        raise Invalid(f"{email!r} is not an email address.", field="email")
    # A new account has no teammates and no domains: the address can only be held elsewhere.
    lifecycle.holder_in_account(account=account, actor=actor, email=email, field="email")
    admin = roles.get_by_ref(account=account, ref=ADMIN_ROLE)
    lifecycle.create_user(
        account=account,
        actor=actor,
        action="user.invite",
        email=email,
        role=admin,
        user_name=email,
        details={"role": admin.name},
    )


def set_plan(*, account: Account, actor: Actor, plan: Plan) -> Account:
    """Leaving Premier keeps SCIM settings but idles them: the SCIM door answers 403 meanwhile."""
    with unit_of_work(Attempt.on_account(account, actor, "account.set_plan")):
        policy.ensure_admin(actor)
        if account.plan != plan.value:
            old_plan, account.plan = account.plan, plan.value
            audit.record(
                account.id,
                actor,
                "account.set_plan",
                audit.account_target(account),
                details={"from": old_plan, "to": plan.value},
            )
    return account


def configure_sso(*, account: Account, actor: Actor, configured: bool) -> Account:
    attempt = Attempt.on_account(account, actor, "account.configure_sso")
    with unit_of_work(attempt):
        policy.ensure_admin(actor)
        if account.sso_configured != configured:
            account.sso_configured = configured
            audit.record(
                account.id,
                actor,
                "account.configure_sso",
                audit.account_target(account),
                details={"sso_configured": configured},
            )
    return account
