"""Repairs of rows stored before the doors refused text no layer can hold.

Lone UTF-16 surrogates could only ever be stored inside JSON columns: both drivers refuse to bind
one into a text column (psycopg and sqlite3 encode to UTF-8), but a JSON value is serialised
with ``\\udXXX`` escapes first, which SQLite and PostgreSQL's ``json`` type accept. Reading such
a row back gives Python a string no response can encode. ``repair_json_text`` rewrites those
values with U+FFFD, a batch of rows per transaction, so it can run on a live database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from heap import policy
from heap.actors import Actor
from heap.extensions import db
from heap.models import AuditEvent, ScimIdentity
from heap.services import audit
from heap.text import repaired_json
from heap.transaction import take_sqlite_write_lock

BATCH = 500


@dataclass(frozen=True)
class Repaired:
    """How many rows of one JSON column held unstorable text, and their accounts."""

    column: str
    rows: int
    account_ids: frozenset[int]


def repair_json_text(*, actor: Actor, dry_run: bool = False) -> list[Repaired]:
    """Find (and unless ``dry_run``, rewrite) JSON values holding NULs or lone surrogates.

    Safe beside live traffic: rows are found by a read-only scan, then each batch's rows are
    locked, read again and rewritten from what they hold now (a SCIM write committed meanwhile
    is kept), with one audit event per account in the same commit.
    """
    policy.ensure_operator(actor)
    return [
        _repair_column(
            ScimIdentity.id, ScimIdentity.account_id, ScimIdentity.extra, actor, dry_run
        ),
        _repair_column(AuditEvent.id, AuditEvent.account_id, AuditEvent.details, actor, dry_run),
    ]


def _repair_column(
    key: InstrumentedAttribute[Any],
    account: InstrumentedAttribute[int],
    column: InstrumentedAttribute[Any],
    actor: Actor,
    dry_run: bool,
) -> Repaired:
    name = f"{column.class_.__tablename__}.{column.key}"
    rows, accounts = 0, set[int]()
    last: Any = None
    while True:
        query = select(key, column).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        batch = db.session.execute(query).all()
        db.session.rollback()  # the scan holds no snapshot or lock between batches
        if not batch:
            break
        last = batch[-1][0]
        damaged = [row_key for row_key, value in batch if repaired_json(value) is not value]
        if not damaged:
            continue
        if dry_run:
            found = db.session.execute(select(account).where(key.in_(damaged))).scalars().all()
            db.session.rollback()
        else:
            found = _rewrite(key, account, column, damaged, name, actor)
        rows += len(found)
        accounts.update(found)
    return Repaired(column=name, rows=rows, account_ids=frozenset(accounts))


def _rewrite(
    key: InstrumentedAttribute[Any],
    account: InstrumentedAttribute[int],
    column: InstrumentedAttribute[Any],
    damaged: list[Any],
    name: str,
    actor: Actor,
) -> list[int]:
    """One transaction: the damaged rows locked and read afresh, repaired, and audited."""
    take_sqlite_write_lock()
    locked = db.session.execute(
        select(key, account, column).where(key.in_(damaged)).with_for_update()
    ).all()
    repaired_in: list[int] = []
    for row_key, account_id, value in locked:
        fixed = repaired_json(value)
        if fixed is not value:
            db.session.execute(update(key.class_).where(key == row_key).values({column.key: fixed}))
            repaired_in.append(account_id)
    audit.record_all(
        [
            audit.event(
                account_id,
                actor,
                "data.repair_text",
                details={"column": name, "rows": count},
                reason="Unpaired UTF-16 surrogates or NULs stored before they were refused were "
                "replaced by U+FFFD.",
            )
            for account_id, count in sorted(Counter(repaired_in).items())
        ]
    )
    db.session.commit()
    return repaired_in
