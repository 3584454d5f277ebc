"""Index audit events by time, for pruning the oldest first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_occurred_at', 'audit_events', ['occurred_at'], unique=False)


def downgrade():
    op.drop_index('ix_audit_events_occurred_at', table_name='audit_events')
