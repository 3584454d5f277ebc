"""Trust boundaries: a deactivated user holds no role (the reverse CHECK), and verified domains.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A race between an in-app role change and the IdP's deactivation could leave a tombstone holding a
role (seen: deactivated, role Admin). Such rows are repaired (their role cleared, which is what the
deactivation meant) before the constraint that forbids them is added.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_CHECK = 'ck_users_deactivated_has_no_role'
_EMAIL_INDEX = 'uq_users_email_active'


def upgrade():
    op.execute(
        'UPDATE users SET role_id = NULL WHERE deactivated_at IS NOT NULL AND role_id IS NOT NULL'
    )
    _with_users_rebuilt(
        lambda batch_op: batch_op.create_check_constraint(
            op.f(_CHECK), 'deactivated_at IS NULL OR role_id IS NULL'
        )
    )

    op.create_table('verified_domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verified_by', sa.String(length=320), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_verified_domains_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verified_domains')),
    sa.UniqueConstraint('domain', name=op.f('uq_verified_domains_domain'))
    )
    with op.batch_alter_table('verified_domains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verified_domains_account_id'), ['account_id'], unique=False)


def downgrade():
    with op.batch_alter_table('verified_domains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verified_domains_account_id'))
    op.drop_table('verified_domains')

    _with_users_rebuilt(lambda batch_op: batch_op.drop_constraint(op.f(_CHECK), type_='check'))


def _with_users_rebuilt(change):
    """Apply ``change`` to users; on SQLite, batch mode copies the table, whose reflection
    cannot see the lower(email) expression index: it is dropped first and built again after.
    The tables users refers to are not reflected (resolve_fks): only their names are needed."""
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.drop_index(_EMAIL_INDEX, table_name='users')
    # The copy keeps AUTOINCREMENT (0002): SQLite must never reuse a deleted user's id.
    with op.batch_alter_table(
        'users', schema=None, reflect_kwargs={'resolve_fks': False},
        table_kwargs={'sqlite_autoincrement': True},
    ) as batch_op:
        change(batch_op)
    if sqlite:
        op.create_index(
            _EMAIL_INDEX, 'users', [sa.text('lower(email)')], unique=True,
            sqlite_where=sa.text('deactivated_at IS NULL'),
        )
