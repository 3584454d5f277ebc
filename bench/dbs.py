"""The databases a bench runs on: SQLite in a temporary directory, PostgreSQL in a database of
its own that is created for the run and dropped after it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

# Any database of the server will do: it is only where CREATE/DROP DATABASE are sent from.
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
_SAFE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Database:
    label: str  # "SQLite" or "PostgreSQL", as the tables show it
    url: str


def selected() -> list[str]:
    """The databases this run covers: BENCH_DATABASES, default both."""
    names = os.environ.get("BENCH_DATABASES", "sqlite,postgresql")
    chosen = [name.strip().lower() for name in names.split(",") if name.strip()]
    unknown = set(chosen) - {"sqlite", "postgresql"}
    if unknown:
        raise SystemExit(f"bench: BENCH_DATABASES names {sorted(unknown)}; use sqlite,postgresql")
    return chosen


@contextmanager
def sqlite(directory: Path) -> Iterator[Database]:
    yield Database("SQLite", f"sqlite:///{directory / 'heap-bench.db'}")


@contextmanager
def postgresql(name: str) -> Iterator[Database]:
    """A fresh database ``name`` on the server of BENCH_POSTGRES_URL, dropped afterwards."""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            # WITH (FORCE): a bench killed half-way may have left servers connected to it.
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {name}"))
    except OperationalError as error:
        admin.dispose()
        raise SystemExit(
            f"bench: PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable ({error.orig}); start it, "
            "set BENCH_POSTGRES_URL, or run BENCH_DATABASES=sqlite"
        ) from error
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield Database("PostgreSQL", url)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
