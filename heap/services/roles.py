"""Roles: the four built-ins every account starts with, and the custom ones Admins add."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from heap import policy
from heap.actors import Actor
from heap.errors import AlreadyExists, Invalid, NotFound
from heap.extensions import db
from heap.models import ADMIN_ROLE, BUILTIN_ROLES, Account, Role, User
from heap.services import audit
from heap.text import require_storable
from heap.transaction import Attempt, lock_account, unit_of_work

MAX_ROLE_NAME = 64


def seed_builtin(*, account: Account) -> None:
    """Add the built-in roles to a new account, inside the caller's transaction."""
    db.session.add_all(
        Role(account_id=account.id, name=name, is_builtin=True, is_admin=name == ADMIN_ROLE)
        for name in BUILTIN_ROLES
    )
    db.session.flush()


def list_roles(*, account: Account) -> Sequence[Role]:
    """Built-ins first in their fixed order, then custom roles by name."""
    roles = db.session.scalars(select(Role).where(Role.account_id == account.id)).all()
    order = {name: index for index, name in enumerate(BUILTIN_ROLES)}
    return sorted(
        roles, key=lambda role: (not role.is_builtin, order.get(role.name, 0), role.name.lower())
    )


def get(*, account: Account, role_id: int, field: str = "roleId") -> Role:
    role = db.session.get(Role, role_id)
    if role is None or role.account_id != account.id:
        raise NotFound("No such role in this account.", field=field)
    return role


def get_by_name(*, account: Account, name: str) -> Role | None:
    query = select(Role).where(Role.account_id == account.id, Role.name == name)
    return db.session.scalar(query)


def get_by_ref(*, account: Account, ref: str) -> Role:
    """A role by exact name, or by id when ``ref`` is a number (the CLI's ROLE argument)."""
    role = get_by_name(account=account, name=ref)
    if role is None and ref.isdigit():
        role = db.session.get(Role, int(ref))
    if role is None or role.account_id != account.id:
        raise NotFound(f"No role {ref!r}. {valid_roles_sentence(account=account)}", field="role")
    return role


def valid_roles_sentence(*, account: Account) -> str:
    names = ", ".join(role.name for role in list_roles(account=account))
    return f"Valid roles: {names}."


def create(*, account: Account, actor: Actor, name: str) -> Role:
    attempt = Attempt(account.id, actor, "role.create", "role", target_label=name)
    with unit_of_work(attempt):
        lock_account(account, actor)
        policy.ensure_may_manage_roles(actor)
        name = _clean_name(name)
        _ensure_name_free(account=account, name=name)
        role = Role(account_id=account.id, name=name)
        db.session.add(role)
        db.session.flush()
        audit.record(account.id, actor, "role.create", audit.role_target(role))
    return role


def rename(*, account: Account, actor: Actor, role_id: int, name: str) -> Role:
    attempt = Attempt(account.id, actor, "role.rename", "role", str(role_id))
    with unit_of_work(attempt):
        lock_account(account, actor)
        role = get(account=account, role_id=role_id)
        attempt.aim(audit.role_target(role))
        policy.ensure_may_rename_role(role, actor)
        name = _clean_name(name)
        if name != role.name:
            _ensure_name_free(account=account, name=name, except_role=role)
            old_name, role.name = role.name, name
            audit.record(
                account.id,
                actor,
                "role.rename",
                audit.Target("role", role.id, name),
                details={"from": old_name, "to": name},
            )
    return role


def delete(*, account: Account, actor: Actor, role_id: int) -> None:
    attempt = Attempt(account.id, actor, "role.delete", "role", str(role_id))
    with unit_of_work(attempt):
        lock_account(account, actor)
        role = get(account=account, role_id=role_id)
        attempt.aim(audit.role_target(role))
        in_use = db.session.scalar(select(func.count()).where(User.role_id == role.id)) or 0
        policy.ensure_may_delete_role(account, role, actor, users_with_role=in_use)
        audit.record(account.id, actor, "role.delete", audit.role_target(role))
        db.session.delete(role)


def _clean_name(name: str) -> str:
    name = " ".join(require_storable(name, "name").split())
    if not name:
        raise Invalid("A role needs a name.", field="name")
    if len(name) > MAX_ROLE_NAME:
        raise Invalid(f"Role names are at most {MAX_ROLE_NAME} characters.", field="name")
    return name


def _ensure_name_free(*, account: Account, name: str, except_role: Role | None = None) -> None:
    """Role names are unique in an account ignoring case, the built-ins included.

    An IdP's Heap Role must name a role exactly; beside the built-in "Admin", a custom "admin"
    holding none of its powers would turn a casing slip in Okta into the wrong role, and read as
    Admin to people. Compared with the database's lower(), as team names are.
    """
    query = select(Role).where(
        Role.account_id == account.id, func.lower(Role.name) == func.lower(name)
    )
    if any(holder is not except_role for holder in db.session.scalars(query)):
        raise AlreadyExists(f"A role named {name!r} already exists.", field="name")
