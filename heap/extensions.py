"""Flask extensions, created unbound and attached to the app in ``create_app``."""

from __future__ import annotations

from typing import Any, cast

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import CursorResult, Executable, MetaData, Result
from sqlalchemy.orm import DeclarativeBase

# Named constraints let Alembic's batch mode on SQLite find and alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Models subclass this directly (not ``db.Model``) so that mypy sees their real types;
    Flask-SQLAlchemy shares its metadata, so sessions, migrations and ``db.engine`` all see them.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def execute_counting(statement: Executable) -> int:
    """Run a bulk UPDATE/DELETE/INSERT in the current session; the number of rows it touched."""
    result = db.session.execute(statement)
    return cast("CursorResult[Any]", result).rowcount


def execute_core(statement: Executable, parameters: Any = None) -> Result[Any]:
    """Run a statement of columns and tables, not entities, in the session's transaction.

    The rows ``db.session.execute`` would give, flushed first as it would (unless autoflush is
    off), but on the session's connection: the ORM's handling of a select it compiled, which
    rows of plain columns never need, cost 30 of a claims lookup's 80 µs on SQLite here, on
    Okta's every create.
    """
    session = db.session()
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, parameters)


migrate = Migrate(render_as_batch=True, compare_type=True)
