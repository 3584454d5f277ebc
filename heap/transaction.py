"""One service call, one transaction: commit on success, roll back on any exception."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.base import NO_VALUE

from heap.actors import Actor, Member
from heap.errors import AlreadyExists, Busy, HeapError, Unauthenticated
from heap.extensions import db
from heap.models import Account, AuditOutcome, User
from heap.services import audit

log = logging.getLogger(__name__)

# PostgreSQL SQLSTATEs of a lost lock: deadlock_detected, serialization_failure,
# lock_not_available. SQLite says "database is locked" once busy_timeout runs out.
_CONTENTION_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


@dataclass
class Attempt:
    """What a service call is trying to do, so that a refusal can be audited after the rollback.

    It starts with the target as the caller named it (an id from the request); once the call has
    loaded the target, ``aim`` names it as a success would, so a refusal is found by the same
    search (a teammate's email, a team's name).
    """

    account_id: int
    actor: Actor
    action: str
    target_kind: str | None = None
    target_id: str | None = None
    target_label: str | None = None

    @classmethod
    def on_account(cls, account: Account, actor: Actor, action: str) -> Attempt:
        """An attempt on the account itself (its plan, SSO, SCIM), named as a success is."""
        return cls(account.id, actor, action, "account", str(account.id), account.name)

    def __post_init__(self) -> None:
        self.who = audit.who(self.actor)

    @property
    def target(self) -> audit.Target | None:
        if self.target_kind is None:
            return None
        return audit.Target(self.target_kind, self.target_id, self.target_label)

    def aim(self, target: audit.Target) -> None:
        self.target_kind, self.target_label = target.kind, target.label
        self.target_id = None if target.id is None else str(target.id)


# Set in the session's info once a unit of work has committed in it: a door that fails after
# that (reading back what it wrote) must not tell the client to retry a change already made.
CHANGES_COMMITTED = "heap.changes_committed"


@contextmanager
def unit_of_work(attempt: Attempt | None = None) -> Iterator[None]:
    """Run a block as one transaction; on a refusal, record it in its own transaction.

    A concurrent request that wins a unique index race surfaces here as an IntegrityError; it
    becomes ``AlreadyExists`` so the caller answers 409, never 500.
    """
    session = db.session
    try:
        yield
        _commit_keeping_state()
        session.info[CHANGES_COMMITTED] = True
    except IntegrityError as error:
        session.rollback()
        # The constraint's name, not the database's message: PostgreSQL's names the key's
        # value (an email, a token hash), which has no place in a log.
        log.info("unique constraint race on %s", _constraint_name(error))
        conflict = AlreadyExists(
            "This conflicts with a change made at the same time. Retry the request."
        )
        _record_refusal(attempt, conflict)
        raise conflict from error
    except HeapError as error:
        session.rollback()
        _record_refusal(attempt, error)
        raise
    except OperationalError as error:
        session.rollback()
        if not _is_contention(error):
            raise
        # Nothing was applied; the same request succeeds once the other change has committed.
        log.warning("lost a lock to a concurrent change: %s", error.orig)
        raise Busy(
            "Another change to the same records ran at the same moment. Retry the request."
        ) from error
    except BaseException:
        session.rollback()
        raise


def _constraint_name(error: IntegrityError) -> str:
    diagnostics = getattr(error.orig, "diag", None)
    name = getattr(diagnostics, "constraint_name", None)
    # SQLite's message names the columns only ("UNIQUE constraint failed: users.email").
    return str(name) if name else str(error.orig)


def _commit_keeping_state() -> None:
    """Commit without expiring what the transaction loaded and wrote.

    The caller (a door) answers with what it just wrote: expired, each object would be read
    back with one SELECT per row and relationship (four after a SCIM restore). Only this commit
    keeps its state. Whatever a later unit of work in the same session decides on is read
    under its own lock (``lock_account``, ``hold_access``, ``lock_user_rows``), which reloads
    the rows it locks; a plain ``session.get`` of an object still in the session may answer
    from memory, as it would within one transaction.
    """
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _is_contention(error: OperationalError) -> bool:
    if getattr(error.orig, "sqlstate", None) in _CONTENTION_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)


def lock_account(account: Account, actor: Actor | None = None) -> None:
    """Serialize this transaction with every other one that locks the same account.

    Call it as the first statement inside ``unit_of_work``, before any check that reads what a
    concurrent call could change (the last Admin, whether SCIM is on, the active tokens): a no-op
    UPDATE takes the account row's lock on PostgreSQL and SQLite's write lock, so a second caller
    waits for the first to commit (on SQLite up to its busy_timeout) and then decides on fresh
    data. The account is reloaded once the lock is held, as the caller's copy may be stale.

    A teammate acting in Heap is read again too: while this call waited, an Admin may have
    demoted or removed them, or the IdP deactivated them, and every rule that follows reads
    their role. Their session ends with that change, so the call is refused as signed out.
    """
    db.session.execute(
        update(Account)
        .where(Account.id == account.id)
        .values(id=Account.id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(account)
    if isinstance(actor, Member):
        _read_member_again(actor)


def _read_member_again(member: Member) -> None:
    # As loaded when they signed in; NO_VALUE if a rollback earlier in this request expired it
    # (reading it then would load the current value, or fail if the user is gone).
    state = inspect(member.user)
    if state.identity is None:  # never stored: there is no teammate to read again
        raise Unauthenticated(_SESSION_ENDED)
    signed_in_generation = state.attrs.session_generation.loaded_value
    user = db.session.execute(
        select(User)
        .where(User.id == state.identity[0])
        .options(joinedload(User.role))
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if user is None or not user.is_active:
        raise Unauthenticated(_SESSION_ENDED)
    if signed_in_generation is not NO_VALUE and user.session_generation != signed_in_generation:
        raise Unauthenticated(_SESSION_ENDED)


_SESSION_ENDED = (
    "Your Heap session ended while this change waited: you were removed, deactivated or signed "
    "out. Sign in again."
)


def take_sqlite_write_lock() -> None:
    """On SQLite, hold the database's write lock from now until the transaction ends.

    The sqlite3 driver begins a transaction only at the first INSERT, UPDATE or DELETE, so reads
    before it see whatever was committed at that moment, and another writer may commit in
    between. BEGIN IMMEDIATE takes the lock up front (waiting up to the busy timeout), so what
    this transaction reads stays current until it commits. It does nothing on PostgreSQL, or
    once the transaction has written (it holds the lock then).
    """
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not getattr(connection.connection.dbapi_connection, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _record_refusal(attempt: Attempt | None, error: HeapError) -> None:
    if attempt is None:
        return
    session = db.session
    try:
        audit.record(
            attempt.account_id,
            attempt.who,
            attempt.action,
            attempt.target,
            outcome=AuditOutcome.REFUSED,
            reason=f"{error.code}: {error.message}",
        )
        session.commit()
    except SQLAlchemyError:
        # The refusal itself must reach the caller even when the audit write cannot.
        session.rollback()
        log.exception("could not record refused %s", attempt.action)
