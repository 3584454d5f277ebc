"""Repairs of rows stored before the doors refused text no layer can hold.

Lone UTF-16 surrogates could only ever be stored inside JSON columns: both drivers refuse to bind
one into a text column (psycopg and sqlite3 encode to UTF-8), but a JSON value is serialised
with ``\\udXXX`` escapes first, which SQLite and PostgreSQL's ``json`` type accept. Reading such
a row back gives Python a string no response can encode. ``repair_json_text`` rewrites those
values with U+FFFD, a batch of rows per transaction, so it can run on a live database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from heap.actors import Actor
from heap.extensions import db
from heap.models import AuditEvent, ScimIdentity
from heap.services import audit
from heap.text import repaired, storable

BATCH = 500


@dataclass(frozen=True)
class Repaired:
    """How many rows of one JSON column held unstorable text, and their accounts."""

    column: str
    rows: int
    account_ids: frozenset[int]


def repair_json_text(*, actor: Actor, dry_run: bool = False) -> list[Repaired]:
    """Find (and unless ``dry_run``, rewrite) JSON values holding NULs or lone surrogates.

    Each account whose rows changed gets an audit event saying which column and how many rows.
    """
    found = [
        _repair_column(ScimIdentity.id, ScimIdentity.account_id, ScimIdentity.extra, dry_run),
        _repair_column(AuditEvent.id, AuditEvent.account_id, AuditEvent.details, dry_run),
    ]
    if not dry_run:
        for result in found:
            for account_id in sorted(result.account_ids):
                audit.record(
                    account_id,
                    actor,
                    "data.repair_text",
                    details={"column": result.column},
                    reason="Unpaired UTF-16 surrogates or NULs stored before they were refused "
                    "were replaced by U+FFFD.",
                )
        db.session.commit()
    return found


def _repair_column(
    key: InstrumentedAttribute[Any],
    account: InstrumentedAttribute[int],
    column: InstrumentedAttribute[Any],
    dry_run: bool,
) -> Repaired:
    rows, accounts = 0, set()
    last: Any = None
    while True:
        query = select(key, account, column).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        batch = db.session.execute(query).all()
        if not batch:
            break
        for row_key, account_id, value in batch:
            fixed = _fixed(value)
            if fixed is not value:
                rows += 1
                accounts.add(account_id)
                if not dry_run:
                    db.session.execute(
                        update(key.class_).where(key == row_key).values({column.key: fixed})
                    )
        if not dry_run:
            db.session.commit()
        last = batch[-1][0]
    name = f"{column.class_.__tablename__}.{column.key}"
    return Repaired(column=name, rows=rows, account_ids=frozenset(accounts))


def _fixed(value: Any) -> Any:
    """``value`` itself when it is clean; else a repaired copy (keys included)."""
    return _walk(value, lambda text: text if storable(text) else repaired(text))


def _walk(value: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, list):
        items = [_walk(item, fix) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        pairs = [(fix(k), _walk(v, fix)) for k, v in value.items()]
        unchanged = all(
            k is k2 and v is v2 for (k, v), (k2, v2) in zip(value.items(), pairs, strict=True)
        )
        return value if unchanged else dict(pairs)
    return value
