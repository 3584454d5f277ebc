"""What one request asks of the database: statements, commits and pool checkouts.

A statement is one ``before_cursor_execute`` (what SQLAlchemy sends through a cursor). The pool's
pre-ping (``SELECT 1`` on every checkout) and COMMIT go straight to the DBAPI connection and are
not statements, yet each is a round trip on PostgreSQL: they are counted beside them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Statement:
    sql: str
    parameters: Any
    many: bool
    seconds: float = 0.0

    @property
    def text(self) -> str:
        """The statement on one line, long lists of parameters folded."""
        return compact(" ".join(self.sql.split()))

    @property
    def summary(self) -> str:
        """The statement on one line, its column list elided, cut to a readable length."""
        flat = _COLUMNS.sub(r"\1 ... FROM ", self.text, count=1)
        return flat if len(flat) <= 200 else flat[:197] + "..."


_PARAMETER = r"(?:%\(\w+\)s(?:::[A-Z]+(?: [A-Z]+)*)?|\?|\$\d+)"
_PARAMETER_RUN = re.compile(rf"{_PARAMETER}(?:, {_PARAMETER}){{4,}}")
_COLUMNS = re.compile(r"^(SELECT(?: DISTINCT)?) .{60,}? FROM ")
_LITERAL_ARRAY = re.compile(r"'\{([^}]{60,})\}'")


def compact(text: str) -> str:
    """Fold an IN list of 100 parameters (or a plan's 100-value array) into its first and size."""

    def parameters(match: re.Match[str]) -> str:
        items = match.group(0).split(", ")
        return f"{items[0]}, ... ({len(items)} parameters)"

    def array(match: re.Match[str]) -> str:
        items = match.group(1).split(",")
        return f"'{{{items[0]},... ({len(items)} values)}}'"

    return _LITERAL_ARRAY.sub(array, _PARAMETER_RUN.sub(parameters, text))


@dataclass
class Capture:
    statements: list[Statement] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0
    checkouts: int = 0

    @property
    def slowest(self) -> Statement | None:
        return max(self.statements, key=lambda s: s.seconds, default=None)


@contextmanager
def capture(engine: Engine) -> Iterator[Capture]:
    """Record what ``engine`` is asked to do inside the block."""
    seen = Capture()
    started: list[float] = []

    def before(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        seen.statements.append(Statement(sql, params, many))
        started.append(time.perf_counter())

    def after(*_: Any) -> None:
        if started and seen.statements:
            seen.statements[-1].seconds = time.perf_counter() - started.pop()

    def commit(*_: Any) -> None:
        seen.commits += 1

    def rollback(*_: Any) -> None:
        seen.rollbacks += 1

    def checkout(*_: Any) -> None:
        seen.checkouts += 1

    listeners: list[tuple[Any, str, Any]] = [
        (engine, "before_cursor_execute", before),
        (engine, "after_cursor_execute", after),
        (engine, "commit", commit),
        (engine, "rollback", rollback),
        (engine.pool, "checkout", checkout),
    ]
    for target, name, function in listeners:
        event.listen(target, name, function)
    try:
        yield seen
    finally:
        for target, name, function in listeners:
            event.remove(target, name, function)
