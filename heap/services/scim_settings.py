"""SCIM settings and tokens: enable, disable, default role, mint, rotate, revoke, authenticate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, Row, Select, bindparam, literal_column, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from heap import policy, tokens
from heap.actors import Actor, IdentityProvider, Member
from heap.errors import NotFound, TokenRevoked, Unauthenticated
from heap.extensions import db, execute_core, execute_counting
from heap.models import Account, Role, ScimToken, Team, utcnow
from heap.services import audit, roles
from heap.transaction import Attempt, lock_account, take_sqlite_write_lock, unit_of_work

# Writing last_used_at on every request would make each SCIM read a write (and contend for
# SQLite's single writer); a minute's precision is all the token list shows.
LAST_USED_PRECISION = timedelta(minutes=1)


def enable(*, account: Account, actor: Actor, default_role_id: int) -> tuple[Account, str]:
    """Turn SCIM on; returns the first bearer token, which is never shown again."""
    with unit_of_work(Attempt.on_account(account, actor, "scim.enable")):
        lock_account(account, actor)
        policy.ensure_may_enable_scim(account, actor)
        role = roles.get(account=account, role_id=default_role_id, field="defaultRoleId")
        account.scim_enabled = True
        account.scim_default_role_id = role.id
        account.scim_enabled_at = utcnow()
        account.scim_enabled_by = actor.label
        audit.record(
            account.id,
            actor,
            "scim.enable",
            audit.account_target(account),
            details={"default_role": role.name},
        )
        _, raw = _mint(account=account, actor=actor)
    return account, raw


def disable(*, account: Account, actor: Actor) -> Account:
    """Turn SCIM off: every token revoked, teams unlinked (kept, editable), users kept.

    The default role is cleared too: it is shown and changed only while SCIM is on, so a kept
    one could never be changed again, nor its role deleted. Enabling again asks for one.
    """
    with unit_of_work(Attempt.on_account(account, actor, "scim.disable")):
        lock_account(account, actor)
        policy.ensure_may_manage_scim(account, actor)
        now = utcnow()
        revoked = execute_counting(
            update(ScimToken)
            .where(ScimToken.account_id == account.id, ScimToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        unlinked = execute_counting(
            update(Team)
            .where(Team.account_id == account.id, Team.scim_managed.is_(True))
            .values(scim_managed=False, updated_at=now)
        )
        account.scim_enabled = False
        account.scim_default_role = None
        audit.record(
            account.id,
            actor,
            "scim.disable",
            audit.account_target(account),
            details={"tokens_revoked": revoked, "teams_unlinked": unlinked},
        )
    return account


def set_default_role(*, account: Account, actor: Actor, role_id: int) -> Account:
    with unit_of_work(Attempt(account.id, actor, "scim.set_default_role", "role", str(role_id))):
        lock_account(account, actor)
        policy.ensure_may_manage_scim(account, actor)
        role = roles.get(account=account, role_id=role_id)
        if account.scim_default_role_id != role.id:
            account.scim_default_role_id = role.id
            audit.record(account.id, actor, "scim.set_default_role", audit.role_target(role))
    return account


def rotate_token(*, account: Account, actor: Actor) -> tuple[ScimToken, str]:
    """A new token beside the old ones, so Okta can be switched over before the old is revoked."""
    with unit_of_work(Attempt(account.id, actor, "scim.rotate_token", "scim_token")):
        lock_account(account, actor)
        policy.ensure_may_manage_scim(account, actor)
        token, raw = _mint(account=account, actor=actor)
    return token, raw


def revoke_token(*, account: Account, actor: Actor, token_id: int) -> ScimToken:
    attempt = Attempt(account.id, actor, "scim.revoke_token", "scim_token", str(token_id))
    with unit_of_work(attempt):
        lock_account(account, actor)
        policy.ensure_may_manage_scim(account, actor)
        token = get_token(account=account, token_id=token_id)
        if token.revoked_at is not None:
            raise TokenRevoked("That token is already revoked.", field="tokenId")
        token.revoked_at = utcnow()
        audit.record(account.id, actor, "scim.revoke_token", audit.token_target(token))
    return token


def get_token(*, account: Account, token_id: int) -> ScimToken:
    token = db.session.get(ScimToken, token_id)
    if token is None or token.account_id != account.id:
        raise NotFound("No such SCIM token in this account.", field="tokenId")
    return token


def list_tokens(*, account: Account) -> Sequence[ScimToken]:
    query = select(ScimToken).where(ScimToken.account_id == account.id)
    return db.session.scalars(query.order_by(ScimToken.id.desc())).all()


# What authenticating reads of a token: plain values, not an entity. Loading a row as an object
# costs the ORM far more than fetching it (an entity fewer took 0.1 ms off every SCIM request
# here), and nothing after authentication needs the token as an object.
_TOKEN = (
    ScimToken.id.label("token_id"),
    ScimToken.prefix.label("token_prefix"),
    ScimToken.token_hash,
    ScimToken.revoked_at,
    ScimToken.last_used_at,
)


def _token_and_account(*, default_role: bool) -> Select[Any]:
    """The token's values and its account, as they are now even if this session loaded the
    account before (an earlier unit of work's commit keeps its objects); ``default_role``: and
    the account's default role, which a create gives (``_account_of`` hands it to the account).
    Entities side by side, not eager-loaded: the ORM's eager loading costs more per request."""
    query = select(Account).join(ScimToken, ScimToken.account_id == Account.id)
    if default_role:
        query = query.add_columns(Role).outerjoin(Role, Role.id == Account.scim_default_role_id)
    return query.add_columns(*_TOKEN).execution_options(populate_existing=True)


# One statement for every SCIM request. Built once.
_TOKEN_BY_HASH = _token_and_account(default_role=False).where(
    ScimToken.token_hash == bindparam("digest")
)
# Before a write, the same statement is ``hold_access``'s: the account and the token held FOR
# SHARE until the write commits, and the account's default role with them. Accounts first in
# FROM: PostgreSQL locks a join's rows in that order, the order disable and revoke_token take
# them (the account, then the tokens). A write that locked the token first would deadlock with
# a disable holding the account and waiting for the token. The role rides along unlocked, on
# the nullable side of an outer join.
_HELD_TOKEN = _token_and_account(default_role=True).with_for_update(
    read=True, of=(Account, ScimToken)
)
_HELD_TOKEN_BY_HASH = _HELD_TOKEN.where(ScimToken.token_hash == bindparam("digest"))
_HELD_TOKEN_BY_ID = _HELD_TOKEN.where(
    ScimToken.id == bindparam("token_id"), Account.id == bindparam("account_id")
)
# SQLite holds nothing at authentication (its one lock is the whole database's). A write's
# authenticating read notes the database's data_version in the same statement, so in the same
# snapshot; ``hold_access`` asks again once it holds the write lock. The same number means no
# other connection committed in between, and the rows read are still the current ones. (An
# in-memory database shares one connection among all sessions, whose commits never move it:
# there, as for its write lock, nothing concurrent exists to be ordered against.)
_DATA_VERSION: Select[int] = select(literal_column("data_version", Integer)).select_from(
    text("pragma_data_version")
)
_TOKEN_AND_DATA_VERSION_BY_HASH = (
    _token_and_account(default_role=True)
    .add_columns(_DATA_VERSION.scalar_subquery().label("data_version"))
    .where(ScimToken.token_hash == bindparam("digest"))
)
# Where ``authenticate(hold=True)`` notes what its read holds: the token, the transaction, and
# on SQLite the data_version it read in (None on PostgreSQL, whose read holds the rows).
_HELD_IN = "heap.scim_access_held_in"


def authenticate(*, raw_token: str, hold: bool = False) -> tuple[Account, IdentityProvider]:
    """The account and actor behind a presented bearer token.

    Raises ``Unauthenticated`` (401) for a missing, unknown or revoked token, and the plan or
    SCIM-off refusal (403) when the account may not be provisioned right now.

    ``hold``: the request is about to write, and this read may spare ``hold_access`` its own.
    On PostgreSQL the read opens the write's transaction and holds the token and account rows
    FOR SHARE until the write commits (one statement, not two). SQLite's lock is the whole
    database's: a write takes it in its own unit of work (``hold_access``), not before its token
    is known to be good or its body read; the read notes the database's data_version, and
    ``hold_access`` reads the rows again only if another connection committed since.
    """
    if not raw_token.startswith(tokens.SCIM_TOKEN_PREFIX):
        raise Unauthenticated(_BAD_TOKEN)
    digest = {"digest": tokens.hash_token(raw_token)}
    # Which way this read holds the write's access: None for a read, which holds nothing.
    dialect = db.session.get_bind().dialect.name if hold else None
    if dialect == "postgresql":
        row = db.session.execute(_HELD_TOKEN_BY_HASH, digest).first()
    elif dialect == "sqlite":
        row = db.session.execute(_TOKEN_AND_DATA_VERSION_BY_HASH, digest).first()
    else:
        dialect = None
        row = db.session.execute(_TOKEN_BY_HASH, digest).first()
    if row is None or not tokens.hashes_match(raw_token, row.token_hash):
        raise Unauthenticated(_BAD_TOKEN)
    if row.revoked_at is not None:
        raise Unauthenticated(_REVOKED)
    account = _account_of(row)
    policy.ensure_idp_may_act(account)
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        if dialect == "postgresql":
            # Let the shared lock go first: two writes each holding it and each updating the
            # row would wait on one another (a deadlock). The write then reads it again.
            db.session.rollback()
        with unit_of_work():
            execute_core(_STAMP_LAST_USED, {"token_id": row.token_id, "now": now})
    elif dialect is not None:
        data_version = row.data_version if dialect == "sqlite" else None
        db.session.info[_HELD_IN] = (row.token_id, db.session().get_transaction(), data_version)
    return account, IdentityProvider(row.token_id, row.token_prefix)


def _account_of(row: Row[Any]) -> Account:
    """The account read by ``_token_and_account``, with its default role if the read had it (the
    session holds objects weakly: not attached, the role would be gone when first asked for)."""
    account: Account = row.Account
    if "Role" in row._fields:
        set_committed_value(account, "scim_default_role", row.Role)
    return account


_STAMP_LAST_USED = (
    update(ScimToken)
    .where(ScimToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


def hold_access(*, account: Account, actor: Actor) -> None:
    """Inside a write's transaction, first: order it against whatever could take the actor's
    right to make it, and check that right again on fresh rows.

    A teammate in Heap locks the account and is read again (``lock_account``): an Admin
    demoted, removed or deactivated while the call waited acts no more.

    The IdP's write is ordered against disabling SCIM and revoking its token. ``disable`` and
    ``revoke_token`` lock the account row and update the token rows. On PostgreSQL this takes a
    shared lock on the token and account rows (one SELECT ... FOR SHARE, which IdP writes may
    hold together): a disable or revoke waits for the writes in flight to commit, and a write
    that starts later waits for it and then sees the revocation. SQLite has a single writer: its
    write lock is taken first, so nothing can commit between these reads and this write's own
    commit. The account is read afresh either way, for the policy checks that follow; unless
    ``authenticate(hold=True)`` read it in this same transaction and it is still current: held
    since (PostgreSQL), or with no commit from another connection since (SQLite's
    data_version, asked again under the write lock).

    An operator (the CLI) needs nothing here.
    """
    if isinstance(actor, Member):
        lock_account(account, actor)
        return
    if not isinstance(actor, IdentityProvider):
        return
    token_id, transaction, data_version = db.session.info.pop(_HELD_IN, (None, None, None))
    held = token_id == actor.token_id and transaction is db.session().get_transaction()
    if held and data_version is None:  # PostgreSQL: the authenticating read holds the rows
        policy.ensure_idp_may_act(account)
        return
    take_sqlite_write_lock()
    if held and execute_core(_DATA_VERSION).scalar() == data_version:
        policy.ensure_idp_may_act(account)
        return
    row = db.session.execute(
        _HELD_TOKEN_BY_ID, {"token_id": actor.token_id, "account_id": account.id}
    ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated(_REVOKED)
    _account_of(row)  # ``account`` itself, read afresh, with its default role
    policy.ensure_idp_may_act(account)


_REVOKED = (
    "This SCIM token was revoked. Generate a new token in Heap and paste it into your "
    "identity provider's API token field."
)
_BAD_TOKEN = (
    "The bearer token is missing or not valid. Copy the SCIM token from Heap (Account > Manage > "
    "Account settings) into your identity provider's API token field."
)


def _mint(*, account: Account, actor: Actor) -> tuple[ScimToken, str]:
    """A new token inside the caller's transaction, with its secret."""
    raw = tokens.mint_scim_token()
    token = ScimToken(
        account_id=account.id,
        prefix=tokens.visible_prefix(raw),
        token_hash=tokens.hash_token(raw),
        created_by=actor.label,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(account.id, actor, "scim.mint_token", audit.token_target(token))
    return token, raw
