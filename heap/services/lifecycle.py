"""How a teammate joins and leaves Heap: the steps an in-app invite and IdP provisioning share.

Everything here runs inside the caller's ``unit_of_work`` and never opens one. The doors call
``services.users`` (in-app) and ``services.provisioning`` (the IdP), never this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Select, Table, and_, bindparam, func, insert, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import contains_eager, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningInsert

from heap import policy
from heap.actors import Actor
from heap.errors import Invalid
from heap.extensions import db, execute_core, execute_counting
from heap.models import (
    Account,
    AuditEvent,
    Role,
    ScimIdentity,
    Team,
    TeamMembership,
    User,
    VerifiedDomain,
    new_uuid,
    utcnow,
)
from heap.services import audit, domains, records
from heap.services.records import UserRecord
from heap.text import require_storable, storable

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

# Deliberately loose: one "@", something on each side, a dot in the domain. Deliverability is the
# IdP's business; Heap only needs to refuse values that are clearly not addresses.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 320
MAX_NAME = 255
# The role a teammate gets when nobody names one and no SCIM default applies. Built-in roles
# can't be renamed or deleted, so it always exists.
FALLBACK_ROLE = "Analyst"


def is_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and storable(value) and _EMAIL.match(value) is not None


def find_identity(*, account: Account, user_name: str, lock: bool = False) -> ScimIdentity | None:
    """This account's identity with ``user_name``, compared like the unique index compares.

    With ``lock``, the identity and its user are read afresh and their rows stay locked until
    the transaction ends (``lock_user_rows``).
    """
    query = _IDENTITY_BY_USER_NAME_LOCKED if lock else _IDENTITY_BY_USER_NAME
    found = db.session.scalar(query, {"account_id": account.id, "user_name": user_name})
    return known_both_ways(found)


def known_both_ways(identity: ScimIdentity | None) -> ScimIdentity | None:
    """``identity`` with its user's side of the one-to-one set, as the query that loaded the
    user from the identity already knows it: ``user.scim_identity`` (which audit events name
    users by) costs no statement then."""
    if identity is not None:
        set_committed_value(identity.user, "scim_identity", identity)
    return identity


def lock_user_rows(query: Select[ScimIdentity]) -> Select[ScimIdentity]:
    """``query`` (of identities) loading each identity's user too, both rows locked and fresh.

    The second step of the one lock order for user changes (the account first): two IdP writes
    to one user take turns, and a write waits for an Admin's role change and then sees it. FOR
    NO KEY UPDATE, the lock PostgreSQL's own UPDATE takes: it conflicts with the FOR SHARE that
    adding members takes on their user rows (``memberships.eligible``), so a user being
    deactivated is never added to a team meanwhile, but not with the KEY SHARE of foreign key
    checks. SQLite has one writer and ignores it.
    """
    return (
        query.join(ScimIdentity.user)
        .options(contains_eager(ScimIdentity.user).joinedload(User.role))
        # Only the identity and the user are locked: the role rides along (an outer join, which
        # PostgreSQL can't lock on its nullable side).
        .with_for_update(key_share=True, of=(ScimIdentity, User))
        .execution_options(populate_existing=True)
    )


# A user's teams, by name: after its own order, a query that loads teams sorts by this.
TEAM_ORDER = (func.lower(Team.name), Team.id)


# The lookups every provisioning makes, built once with bound parameters.
_IDENTITY_BY_USER_NAME = select(ScimIdentity).where(
    ScimIdentity.account_id == bindparam("account_id"),
    func.lower(ScimIdentity.user_name) == func.lower(bindparam("user_name")),
)
_IDENTITY_BY_USER_NAME_LOCKED = lock_user_rows(_IDENTITY_BY_USER_NAME)
_ACTIVE_BY_EMAIL = select(User).where(
    func.lower(User.email) == func.lower(bindparam("email")), User.is_active
)


def count_active_admins(*, account: Account) -> int:
    query = (
        select(func.count())
        .select_from(User)
        .join(Role, Role.id == User.role_id)
        .where(User.account_id == account.id, User.is_active, Role.is_admin)
    )
    return db.session.scalar(query) or 0


def find_active_by_email(*, email: str) -> User | None:
    """The teammate who holds this login email anywhere in Heap, if anyone does."""
    return db.session.scalar(_ACTIVE_BY_EMAIL, {"email": email.strip()})


@dataclass(frozen=True)
class Claims:
    """Who already claims an address, read in one statement before a teammate is added with it:
    the active teammate holding it anywhere in Heap, the account that verified its domain, and
    (asked by provisioning) whether this account has an identity with the ``userName``."""

    holder_id: int | None
    holder_account_id: int | None
    domain_owner_id: int | None
    user_name_taken: bool = False


def claims_on(*, account: Account, email: str, user_name: str | None = None) -> Claims:
    """What ``holder_in_account`` and provisioning decide on, in one round trip, not three."""
    row = execute_core(_CLAIMS, _claim_parameters(account, email, user_name)).one()
    return Claims(row.holder_id, row.holder_account_id, row.domain_owner_id, row.user_name_taken)


def _claim_parameters(account: Account, email: str, user_name: str | None) -> dict[str, Any]:
    domain = domains.email_domain(email)
    return {
        "email": email.strip(),
        "domains": domains.parents(domain) if domain else [],
        "account_id": account.id,
        "user_name": user_name,
    }


_ACTIVE_HOLDER = _ACTIVE_BY_EMAIL.order_by(None).limit(1)
_WITH_USER_NAME = select(ScimIdentity.id).where(
    ScimIdentity.account_id == bindparam("account_id"),
    func.lower(ScimIdentity.user_name) == func.lower(bindparam("user_name")),
)
# One row of scalar subqueries, each an index lookup; built once.
_CLAIMS = select(
    _ACTIVE_HOLDER.with_only_columns(User.id).scalar_subquery().label("holder_id"),
    _ACTIVE_HOLDER.with_only_columns(User.account_id).scalar_subquery().label("holder_account_id"),
    domains.OWNER.scalar_subquery().label("domain_owner_id"),
    _WITH_USER_NAME.exists().label("user_name_taken"),
)
# The same parameters, as the condition that nobody claims anything (``create_user`` with
# ``unclaimed_only``): no active holder anywhere, no domain another account verified (any of
# them, where ``domain_owner_id`` names one), no identity of this account with the userName.
_UNCLAIMED = and_(
    ~_ACTIVE_HOLDER.with_only_columns(User.id).exists(),
    ~select(VerifiedDomain.id)
    .where(
        VerifiedDomain.domain.in_(bindparam("domains", expanding=True)),
        VerifiedDomain.account_id != bindparam("account_id"),
    )
    .exists(),
    ~_WITH_USER_NAME.exists(),
)


def holder_in_account(
    *,
    account: Account,
    actor: Actor,
    email: str,
    except_user: User | None = None,
    field: str,
    claims: Claims | None = None,
) -> User | None:
    """The other active teammate of this account holding ``email``, or None if it is free.

    An address held in another organization, or at a domain another account verified, is
    refused by ``policy.ensure_address_available`` (worded for the actor); a holder in this
    account is returned so that each caller can tell its own reader what to do. ``claims``:
    already read for ``email`` in this transaction (``claims_on``).
    """
    claims = claims or claims_on(account=account, email=email)
    holder_id = claims.holder_id
    if except_user is not None and holder_id == except_user.id:
        holder_id = None
    policy.ensure_address_available(
        account,
        actor,
        email=email,
        domain_owner_id=claims.domain_owner_id,
        holder_account_id=None if holder_id is None else claims.holder_account_id,
        field=field,
    )
    return None if holder_id is None else db.session.get(User, holder_id)


def create_user(
    *,
    account: Account,
    actor: Actor,
    action: str,
    email: str,
    role: Role | None,
    user_name: str,
    given_name: str = "",
    family_name: str = "",
    display_name: str | None = None,
    identity: Mapping[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
    unclaimed_only: bool = False,
) -> NewUser:
    """A new user with an identity, and the audit event ``action`` saying who added them (with
    ``details`` and ``reason``), inserted now and complete; without a role, born deactivated.

    ``unclaimed_only``: only if nobody claims the address or the userName (what ``claims_on``
    reads), checked by the insert itself; else nothing is written and ``Claimed`` is raised. A
    caller that expects a new person (Okta's create) so spares the read before the insert.

    ``identity``: the SCIM identity's columns beyond its id and ``userName`` (what the IdP sent).
    Inserts on the tables, not the ORM's unit of work: creating is Okta's most frequent write,
    and the flush's bookkeeping cost more than the inserts themselves (3 rows and a commit:
    1.15 ms through the flush, 0.55 ms as table inserts, on SQLite here). On PostgreSQL the
    three rows are one statement (``_insert_all``); SQLite has no INSERT inside WITH, so there
    they are three. What is returned holds the values inserted: the caller shows them
    (``NewUser.record``) or works on them as objects (``NewUser.loaded``) with no SELECT.
    """
    now = utcnow()
    user_row = {
        "account_id": account.id,
        "email": email,
        "given_name": given_name,
        "family_name": family_name,
        "display_name": display_name,
        "role_id": None if role is None else role.id,
        "deactivated_at": None if role is not None else now,
        "session_generation": 0,
        "created_at": now,
        "updated_at": now,
    }
    identity_row = {
        "external_id": None,
        "email": None,
        "idp_managed": False,
        "idp_role": None,
        "extra": {},
        **(identity or {}),
        "id": new_uuid(),
        "account_id": account.id,
        "user_name": user_name,
        "created_at": now,
        "updated_at": now,
    }
    # Named as ``audit.user_target`` names a user: by SCIM id and email, both known already.
    target = audit.Target("user", identity_row["id"], email)
    event = audit.event(account.id, actor, action, target, details=details, reason=reason)
    claims = _claim_parameters(account, email, user_name) if unclaimed_only else {}
    user_parameters = {f"user_{name}": value for name, value in user_row.items()}
    if db.session.get_bind().dialect.name == "postgresql":
        parameters = {**claims, **user_parameters}
        parameters.update({f"identity_{name}": value for name, value in identity_row.items()})
        parameters.update({f"event_{name}": value for name, value in event.items()})
        all_rows = _INSERT_ALL_UNCLAIMED if unclaimed_only else _INSERT_ALL
        user_id = execute_core(all_rows, parameters).scalar_one_or_none()
        if user_id is None:
            raise Claimed
        audit.note_written([event])
    else:
        user_row_only = _INSERT_USER_UNCLAIMED if unclaimed_only else _INSERT_USER
        user_id = execute_core(user_row_only, {**claims, **user_parameters}).scalar_one_or_none()
        if user_id is None:
            raise Claimed
        execute_core(_INSERT_IDENTITY, {**identity_row, "user_id": user_id})
        audit.record_all([event])
    return NewUser(user_id, user_row, identity_row, role)


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user ``create_user`` inserted: its id and the values of its two rows, as written."""

    user_id: int
    user_columns: Mapping[str, Any]
    identity_columns: Mapping[str, Any]
    role: Role | None

    def record(self) -> UserRecord:
        """The user as a SCIM read would show it, built without objects: Okta's create answers
        with it. Objects made only to be shown cost that request 6% (served on SQLite here, 398
        creates a second with them, 422 without: their instrumented constructors, ``session.add``
        and the attributes set as loaded)."""
        user = self.user_columns
        # Named as a read labels them: the identity's columns, and the user's that it shows.
        return records.record(
            {
                **self.identity_columns,
                "email": user["email"],
                "given_name": user["given_name"],
                "family_name": user["family_name"],
                "display_name": user["display_name"],
                "deactivated_at": user["deactivated_at"],
                "user_updated_at": user["updated_at"],
                "role_name": None if self.role is None else self.role.name,
            }
        )

    def loaded(self) -> User:
        """The user, its identity and role as objects in the session, as if just read from it
        (once: a second call would add a second object for the same rows)."""
        user = _as_loaded(User(id=self.user_id, **self.user_columns))
        scim_identity = _as_loaded(ScimIdentity(user_id=self.user_id, **self.identity_columns))
        set_committed_value(user, "role", self.role)
        set_committed_value(user, "teams", [])
        set_committed_value(scim_identity, "user", user)
        set_committed_value(user, "scim_identity", scim_identity)
        return user


# Inserts on the tables themselves (an entity would take the ORM's bulk path): built once.
_USERS = User.metadata.tables[User.__tablename__]
_IDENTITIES = ScimIdentity.metadata.tables[ScimIdentity.__tablename__]
_EVENTS = AuditEvent.metadata.tables[AuditEvent.__tablename__]
_INSERT_IDENTITY = insert(_IDENTITIES)


class Claimed(Exception):
    """``create_user(unclaimed_only=True)`` found the address or the userName claimed: nothing
    was written. Never reaches a door: its caller reads the claims and decides."""


def _bound(table: Table, prefix: str, *, generated: str | None = "id") -> dict[str, Any]:
    """A parameter for each column the database does not generate, named ``prefix`` + column.

    Every column, as ``create_user`` gives a value for every column: a new column needs one
    there too (PostgreSQL's statement requires it; SQLite's inserts refuse an unknown key).
    """
    return {
        column.name: bindparam(f"{prefix}{column.name}", type_=column.type)
        for column in table.c
        if column.name != generated
    }


def _insert_user(*, unclaimed_only: bool) -> ReturningInsert[tuple[int]]:
    """The user's row, ``RETURNING id``; with ``unclaimed_only``, none if anyone claims it."""
    user = _bound(_USERS, "user_")
    row = select(*user.values())
    if unclaimed_only:
        row = row.where(_UNCLAIMED)
    return insert(_USERS).from_select(list(user), row).returning(_USERS.c.id)


def _insert_all(*, unclaimed_only: bool) -> Select[tuple[int]]:
    """PostgreSQL's create in one statement: the user, its identity holding the user's new id,
    and the event, as data-modifying CTEs (each runs whether or not the query reads it). The
    identity and the event are selected from the new user: no user, no identity and no event."""
    new_user = _insert_user(unclaimed_only=unclaimed_only).cte("new_user")
    identity = _bound(_IDENTITIES, "identity_", generated=None)  # its id is ours
    identity["user_id"] = new_user.c.id
    new_identity = (
        insert(_IDENTITIES)
        .from_select(list(identity), select(*identity.values()))
        .cte("new_identity")
    )
    event = _bound(_EVENTS, "event_")
    new_event = (
        insert(_EVENTS)
        .from_select(list(event), select(*event.values()).select_from(new_user))
        .cte("new_event")
    )
    return select(new_user.c.id).add_cte(new_identity, new_event)


_INSERT_USER = _insert_user(unclaimed_only=False)
_INSERT_USER_UNCLAIMED = _insert_user(unclaimed_only=True)
_INSERT_ALL = _insert_all(unclaimed_only=False)
_INSERT_ALL_UNCLAIMED = _insert_all(unclaimed_only=True)


def _as_loaded(instance: T) -> T:
    """``instance``, whose row was just inserted, in the session as if read from it."""
    make_transient_to_detached(instance)
    db.session.add(instance)
    return instance


def deactivate(user: User) -> int:
    """Access, role and seat gone, the row kept as a tombstone; how many teams the user left.

    Every viewer token minted so far dies here for good: a reactivation does not revive them.
    """
    user.deactivated_at = utcnow()
    user.role = None
    user.session_generation += 1
    return execute_counting(sql_delete(TeamMembership).where(TeamMembership.user_id == user.id))


def load_teams(user: User) -> None:
    """Read ``user.teams`` now, as this transaction leaves them (a deactivation above may have
    emptied them with a set-based DELETE the loaded collection would not know of)."""
    db.session.expire(user, ["teams"])
    user.teams  # noqa: B018 (the access loads the collection)


def reactivate(user: User, role: Role) -> None:
    user.deactivated_at = None
    user.role = role


def default_role(account: Account) -> Role:
    """The role for a teammate nobody named one for: the SCIM default, else Analyst.

    An account has a SCIM default role exactly while SCIM is enabled (disabling clears it).
    """
    if account.scim_default_role_id is not None:
        # By primary key: the role is usually in the session already (authenticate loads it
        # with the token), and then this costs no statement.
        default = db.session.get(Role, account.scim_default_role_id)
        if default is not None:
            return default
    role = db.session.scalar(
        select(Role).where(
            Role.account_id == account.id, Role.is_builtin, Role.name == FALLBACK_ROLE
        )
    )
    if role is None:
        raise Invalid("Choose a role for the new teammate.", field="roleId")
    return role


def clean_name(value: str, field_name: str) -> str:
    value = require_storable(value, field_name).strip()
    if len(value) > MAX_NAME:
        raise Invalid(f"{field_name} is longer than {MAX_NAME} characters.", field=field_name)
    return value


def record(
    account: Account,
    actor: Actor,
    action: str,
    user: User,
    *,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """A user event, targeted by SCIM id and email: what the front end searches the log by."""
    audit.record(
        account.id,
        actor,
        action,
        audit.user_target(user),
        details=details,
        reason=reason,
    )
