"""Migration 0003 on a database with data: tombstones holding a role are repaired, then refused."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app import create_app
from heap.extensions import db
from tests.conftest import TEST_SECRET_KEY
from tests.test_migrations import MIGRATIONS
from tests.test_migrations import database_url as database_url  # the scratch-database fixture

_ROWS = """
INSERT INTO accounts (id, name, plan, sso_configured, scim_enabled, created_at)
    VALUES (1, 'Acme', 'premier', true, false, CURRENT_TIMESTAMP);
INSERT INTO roles (id, account_id, name, is_builtin, is_admin, created_at)
    VALUES (1, 1, 'Admin', true, true, CURRENT_TIMESTAMP);
INSERT INTO users (id, account_id, email, given_name, family_name, role_id, deactivated_at,
                   created_at, updated_at)
    VALUES (1, 1, 'ada@example.com', '', '', 1, NULL, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
           (2, 1, 'raced@example.com', '', '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,
            CURRENT_TIMESTAMP);
"""


def test_0003_clears_the_role_a_race_left_on_a_tombstone_and_forbids_it(database_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": TEST_SECRET_KEY})
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS, revision="0001")
            with db.engine.begin() as connection:
                for statement in _ROWS.split(";"):
                    if statement.strip():
                        connection.execute(text(statement))
            upgrade(directory=MIGRATIONS)
            with db.engine.connect() as connection:
                rows = connection.execute(text("SELECT id, role_id FROM users ORDER BY id"))
                assert [tuple(row) for row in rows] == [(1, 1), (2, None)]
                # Still case-insensitively unique among active users after SQLite's table copy.
                with pytest.raises(IntegrityError):
                    connection.execute(
                        text(
                            "INSERT INTO users (account_id, email, given_name, family_name,"
                            " role_id, created_at, updated_at) VALUES (1, 'ADA@example.com',"
                            " '', '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        )
                    )
                connection.rollback()
                with pytest.raises(IntegrityError):
                    connection.execute(text("UPDATE users SET role_id = 1 WHERE id = 2"))
        finally:
            db.session.remove()
            db.engine.dispose()
