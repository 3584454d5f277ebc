"""The Heap domain as tables: accounts, roles, users, SCIM identities, teams, tokens, audit.

Uniqueness lives in the database, not only in Python, so that concurrent requests from several
app processes cannot create duplicates: every rule below that says "unique" is an index.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    case,
    func,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import ColumnElement

from heap.extensions import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    SQLite drops the offset on the way back; without this, values read from SQLite would be naive
    and compare or serialise differently from PostgreSQL's.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class Plan(StrEnum):
    FREE = "free"
    GROWTH = "growth"
    PRO = "pro"
    PREMIER = "premier"


class AuditOutcome(StrEnum):
    APPLIED = "applied"
    SKIPPED = "skipped"
    REFUSED = "refused"


BUILTIN_ROLES: tuple[str, ...] = ("Admin", "Architect", "Analyst", "Consumer")
ADMIN_ROLE = "Admin"


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("plan IN ('free', 'growth', 'pro', 'premier')", name="plan_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    plan: Mapped[str] = mapped_column(String(16), default=Plan.FREE.value)
    sso_configured: Mapped[bool] = mapped_column(Boolean, default=False)
    scim_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # use_alter: accounts and roles point at each other; the FK is added after both tables exist.
    scim_default_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("roles.id", use_alter=True, ondelete="RESTRICT")
    )
    scim_enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    scim_enabled_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    scim_default_role: Mapped[Role | None] = relationship(
        foreign_keys=[scim_default_role_id], post_update=True
    )

    @property
    def is_premier(self) -> bool:
        return self.plan == Plan.PREMIER.value

    @property
    def scim_active(self) -> bool:
        """SCIM mode: the IdP owns the teammate list. Off Premier, SCIM settings are kept, idle."""
        return self.scim_enabled and self.is_premier

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.name!r} {self.plan}>"


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Admin is the role that may change settings, roles and teams; only the built-in Admin has it.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    account: Mapped[Account] = relationship(foreign_keys=[account_id])

    def __repr__(self) -> str:
        return f"<Role {self.id} {self.name!r}>"


class User(Base):
    """A teammate. Deactivation keeps the row as a tombstone with no role, teams or seat."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_account_id_id", "account_id", "id"),
        # Only a removed user has no role: a role is never "in use" by a tombstone.
        CheckConstraint(
            "deactivated_at IS NOT NULL OR role_id IS NOT NULL", name="active_has_role"
        ),
        # ... and a removed user has none: a tombstone holding Admin would show it to the IdP,
        # whose read-modify-write PUT with active: true would then bring back an Admin.
        CheckConstraint(
            "deactivated_at IS NULL OR role_id IS NULL", name="deactivated_has_no_role"
        ),
        # A viewer token names a user id: SQLite must never hand a deleted user's id to the next
        # user (without AUTOINCREMENT it reuses the highest rowid). PostgreSQL ids come from a
        # sequence, which never goes back, so the option changes nothing there.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    given_name: Mapped[str] = mapped_column(String(255), default="")
    family_name: Mapped[str] = mapped_column(String(255), default="")
    display_name: Mapped[str | None] = mapped_column(String(255))
    role_id: Mapped[int | None] = mapped_column(
        ForeignKey("roles.id", ondelete="RESTRICT"), index=True
    )
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Carried in every viewer token and compared on each request; deactivation bumps it, so the
    # tokens minted before stay dead even after a reactivation.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship()
    role: Mapped[Role | None] = relationship()
    # Read-only: memberships change through set-based statements (services.memberships), never
    # through this collection. Loaded only when asked (a SCIM User's ``groups``), by name.
    teams: Mapped[list[Team]] = relationship(
        secondary="team_memberships",
        viewonly=True,
        order_by=lambda: (func.lower(Team.name), Team.id),
    )
    # The database cascades the delete; the ORM must not try to orphan the identity first.
    scim_identity: Mapped[ScimIdentity] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan", passive_deletes=True
    )

    @hybrid_property
    def is_active(self) -> bool:
        """Holds an account in Heap: not a deactivated tombstone. ``User.is_active`` in a query."""
        return self.deactivated_at is None

    @is_active.inplace.expression
    @classmethod
    def _is_active_expression(cls) -> ColumnElement[bool]:
        # IS NULL (and, negated, IS NOT NULL) as written: the partial unique index on emails
        # and the planner both see the plain column test.
        return cls.deactivated_at.is_(None)

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role is not None and self.role.is_admin

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"


class ScimIdentity(Base):
    """What the IdP knows a user by: the stable SCIM ``id``, ``userName`` as sent, ``externalId``.

    Every user has one (a user invited in Heap gets one with ``userName`` = email), so Okta's
    ``userName eq`` lookup finds teammates who existed before SCIM and links instead of creating.
    """

    __tablename__ = "scim_identities"
    __table_args__ = (
        Index("ix_scim_identities_account_id_external_id", "account_id", "external_id"),
        # GET /Users pages identities in this order: a page comes off the index.
        Index("ix_scim_identities_account_id_created_at_id", "account_id", "created_at", "id"),
        # A page's total (totalResults) counts the account's identities. Each index above
        # holds a value of every row beside the account, so PostgreSQL read the table instead;
        # the account alone, deduplicated (PostgreSQL 13+), is a twelfth of their size.
        Index("ix_scim_identities_account_id", "account_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    user_name: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(255))
    # The primary (else work) address the IdP sent, which may differ from the Heap login email
    # (Entra's email-shaped UPN as userName): an ``emails`` filter matches either.
    email: Mapped[str | None] = mapped_column(String(320))
    # True once the IdP created or linked this user: from then on Heap shows it as SCIM-managed.
    idp_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last Heap Role value the IdP sent; the role changes only when this value changes.
    idp_role: Mapped[str | None] = mapped_column(String(64))
    # Attributes Heap has no column for (nickName, title, the enterprise extension, ...), kept as
    # sent so that Okta's read-modify-write PUT and Entra's PATCHes round-trip.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="scim_identity")

    @hybrid_property
    def last_modified(self) -> datetime:
        """SCIM ``meta.lastModified``: a User resource is the identity and its user, so it changed
        when either row did (a Heap role change touches only the user)."""
        return max(self.updated_at, self.user.updated_at)

    @last_modified.inplace.expression
    @classmethod
    def _last_modified_expression(cls) -> ColumnElement[datetime]:
        # A correlated scalar subquery, so the expression stands alone: it needs no join to
        # users in the enclosing query and stays right when there is one (correlate_except keeps
        # the subquery's own users row instead of borrowing the outer one). CASE, because
        # PostgreSQL's greatest() and SQLite's two-argument max() are not the same function.
        # The lookup is by users' primary key, one row per identity.
        later = case((User.updated_at > cls.updated_at, User.updated_at), else_=cls.updated_at)
        return select(later).where(User.id == cls.user_id).correlate_except(User).scalar_subquery()

    @property
    def heap_role_name(self) -> str | None:
        """The Heap role this user shows the IdP (SCIM ``heapRole``).

        A tombstone holds no role: it shows the value the IdP last sent, ``idp_role``, which is
        the one a reactivation that does not name a role restores (``provisioning.modify``). None
        means the account's default role, and no ``heapRole`` is shown. Showing anything else
        would make Okta's read-modify-write PUT echo it back as the IdP's own word.
        """
        role = self.user.role
        return self.shown_role(None if role is None else role.name, self.idp_role)

    @staticmethod
    def shown_role(role_name: str | None, idp_role: str | None) -> str | None:
        """``heap_role_name`` from plain values: the user's role's name, else ``idp_role``."""
        return role_name if role_name is not None else idp_role

    def __repr__(self) -> str:
        return f"<ScimIdentity {self.id} {self.user_name!r}>"


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scim_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    # Linked to an IdP group: membership, name and deletion are read-only in Heap.
    scim_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship()

    def __repr__(self) -> str:
        return f"<Team {self.id} {self.name!r}>"


class TeamMembership(Base):
    __tablename__ = "team_memberships"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ScimToken(Base):
    """A SCIM bearer token. Only its SHA-256 is stored; the secret is shown once at creation."""

    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(24))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    account: Mapped[Account] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class VerifiedDomain(Base):
    """An email domain an operator confirmed an account owns: its addresses are that account's.

    ``domain`` is stored normalised (lower case, ASCII), so the unique constraint is exactly "a
    domain is verified by at most one account".
    """

    __tablename__ = "verified_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    verified_by: Mapped[str] = mapped_column(String(320))

    account: Mapped[Account] = relationship()


class AuditEvent(Base):
    """One change, skip or refusal: who did what to which thing, and why it did not happen."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str | None] = mapped_column(String(24))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_label: Mapped[str | None] = mapped_column(String(320))
    outcome: Mapped[str] = mapped_column(String(16), default=AuditOutcome.APPLIED.value)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    account: Mapped[Account] = relationship()


# Expression indexes are declared here, where the columns exist as objects.

# "Unique across all of Heap among users who hold an account": a deactivated user no longer holds
# the address, so another organisation may provision it.
Index(
    "uq_users_email_active",
    func.lower(User.email),
    unique=True,
    sqlite_where=User.deactivated_at.is_(None),
    postgresql_where=User.deactivated_at.is_(None),
)
# Okta's existence check is ``userName eq``, case-insensitive (RFC 7643 caseExact: false).
Index(
    "uq_scim_identities_account_id_user_name",
    ScimIdentity.account_id,
    func.lower(ScimIdentity.user_name),
    unique=True,
)
# ``emails.value eq``: the address the IdP sent, found case-insensitively.
Index(
    "ix_scim_identities_account_id_email",
    ScimIdentity.account_id,
    func.lower(ScimIdentity.email),
)
# Role names are unique ignoring case, so a custom "admin" can never sit beside Admin; the Heap
# Role attribute still has to name a role exactly.
Index("uq_roles_account_id_name", Role.account_id, func.lower(Role.name), unique=True)
# "Why is this user not in Heap?": the activity log is searched by target id or label.
Index("ix_audit_events_account_id_target_id", AuditEvent.account_id, AuditEvent.target_id)
Index(
    "ix_audit_events_account_id_target_label",
    AuditEvent.account_id,
    func.lower(AuditEvent.target_label),
)
# Team names compare case-insensitively: one key serves the unique rule and Okta's
# ``displayName eq`` lookup, so "Link Group" finds the team that creation would collide with.
Index("uq_teams_account_id_name", Team.account_id, func.lower(Team.name), unique=True)
# Pruning the audit log (``flask audit prune``) takes the oldest events first, batch by batch.
Index("ix_audit_events_occurred_at", AuditEvent.occurred_at)
