"""Viewer sessions: user ids SQLite never reuses, and a per-user session generation.

A viewer token names a user id and the user's session generation. On SQLite, ``users.id`` was a
plain rowid, so the next user created after a delete could get the deleted user's id (and its
old tokens would sign in as them); AUTOINCREMENT makes SQLite remember the highest id ever used.
That needs the table rebuilt (SQLite cannot add AUTOINCREMENT in place): a batch copy that keeps
every row and id. env.py turns foreign keys off for migrations, so dropping the old table does
not cascade into scim_identities or team_memberships.

PostgreSQL ids come from a sequence, which never hands out a value twice: only the column is
added there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08

"""
import warnings
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _recreate_email_index():
    # SQLite cannot reflect expression indexes, so a batch rebuild drops this one with the old
    # table instead of copying it: it is built again exactly as 0001 built it.
    op.create_index(
        'uq_users_email_active', 'users', [sa.text('lower(email)')], unique=True,
        sqlite_where=sa.text('deactivated_at IS NULL'),
        postgresql_where=sa.text('deactivated_at IS NULL'),
    )


@contextmanager
def _rebuild_users(**table_kwargs):
    # The rebuild reflects users and the tables it points at; SQLite cannot reflect their
    # lower(...) indexes and SQLAlchemy says so. Expected, and handled: users' own is rebuilt
    # after, the other tables are not touched.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore', 'Skipped unsupported reflection of expression-based index'
        )
        with op.batch_alter_table(
            'users', recreate='always', table_kwargs=table_kwargs
        ) as batch_op:
            yield batch_op


def _session_generation():
    return sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)


def upgrade():
    if op.get_bind().dialect.name != 'sqlite':
        op.add_column('users', _session_generation())
        return
    with _rebuild_users(sqlite_autoincrement=True) as batch_op:
        batch_op.add_column(_session_generation())
    _recreate_email_index()


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_column('users', 'session_generation')
        return
    with _rebuild_users() as batch_op:
        batch_op.drop_column('session_generation')
    _recreate_email_index()
