"""Index audit events by time, for pruning the oldest first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_occurred_at', 'audit_events', ['occurred_at'], unique=False)


def downgrade():
    op.drop_index('ix_audit_events_occurred_at', table_name='audit_events')
