"""Initial schema: accounts, roles, users and SCIM identities, teams, tokens, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('plan', sa.String(length=16), nullable=False),
    sa.Column('sso_configured', sa.Boolean(), nullable=False),
    sa.Column('scim_enabled', sa.Boolean(), nullable=False),
    sa.Column('scim_default_role_id', sa.Integer(), nullable=True),
    sa.Column('scim_enabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scim_enabled_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("plan IN ('free', 'growth', 'pro', 'premier')", name=op.f('ck_accounts_plan_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('name', name=op.f('uq_accounts_name'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.String(length=24), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('actor_label', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_kind', sa.String(length=24), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('target_label', sa.String(length=320), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_audit_events_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_account_id_id', ['account_id', 'id'], unique=False)

    op.create_table('roles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('is_builtin', sa.Boolean(), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_roles_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roles'))
    )
    op.create_table('scim_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=24), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_scim_tokens_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_scim_tokens_token_hash'))
    )
    with op.batch_alter_table('scim_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_tokens_account_id'), ['account_id'], unique=False)

    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scim_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('scim_managed', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_teams_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('scim_id', name=op.f('uq_teams_scim_id'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('given_name', sa.String(length=255), nullable=False),
    sa.Column('family_name', sa.String(length=255), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('role_id', sa.Integer(), nullable=True),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_users_account_id_accounts'), ondelete='CASCADE'),
    sa.CheckConstraint('deactivated_at IS NOT NULL OR role_id IS NOT NULL', name=op.f('ck_users_active_has_role')),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], name=op.f('fk_users_role_id_roles'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_account_id_id', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_role_id'), ['role_id'], unique=False)

    op.create_table('scim_identities',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('user_name', sa.String(length=320), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('idp_managed', sa.Boolean(), nullable=False),
    sa.Column('idp_role', sa.String(length=64), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_scim_identities_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_scim_identities_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_identities')),
    sa.UniqueConstraint('user_id', name=op.f('uq_scim_identities_user_id'))
    )
    with op.batch_alter_table('scim_identities', schema=None) as batch_op:
        batch_op.create_index('ix_scim_identities_account_id_external_id', ['account_id', 'external_id'], unique=False)

    op.create_table('team_memberships',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_memberships_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_memberships_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', 'user_id', name=op.f('pk_team_memberships'))
    )
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_memberships_user_id'), ['user_id'], unique=False)

    # Expression indexes: case-insensitive uniqueness, the same expressions the lookups use.
    op.create_index(
        'uq_users_email_active', 'users', [sa.text('lower(email)')], unique=True,
        sqlite_where=sa.text('deactivated_at IS NULL'),
        postgresql_where=sa.text('deactivated_at IS NULL'),
    )
    op.create_index(
        'uq_scim_identities_account_id_user_name', 'scim_identities',
        ['account_id', sa.text('lower(user_name)')], unique=True,
    )
    op.create_index(
        'ix_scim_identities_account_id_email', 'scim_identities',
        ['account_id', sa.text('lower(email)')],
    )
    op.create_index(
        'uq_teams_account_id_name', 'teams', ['account_id', sa.text('lower(name)')], unique=True,
    )
    op.create_index(
        'uq_roles_account_id_name', 'roles', ['account_id', sa.text('lower(name)')], unique=True,
    )
    op.create_index(
        'ix_audit_events_account_id_target_id', 'audit_events', ['account_id', 'target_id'],
    )
    op.create_index(
        'ix_audit_events_account_id_target_label', 'audit_events',
        ['account_id', sa.text('lower(target_label)')],
    )
    # accounts and roles point at each other: this key can only exist once both tables do.
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f('fk_accounts_scim_default_role_id_roles'), 'roles',
            ['scim_default_role_id'], ['id'], ondelete='RESTRICT',
        )


def downgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_accounts_scim_default_role_id_roles'), type_='foreignkey'
        )
    op.drop_index('ix_audit_events_account_id_target_label', table_name='audit_events')
    op.drop_index('ix_audit_events_account_id_target_id', table_name='audit_events')
    op.drop_index('uq_roles_account_id_name', table_name='roles')
    op.drop_index('uq_teams_account_id_name', table_name='teams')
    op.drop_index('ix_scim_identities_account_id_email', table_name='scim_identities')
    op.drop_index('uq_scim_identities_account_id_user_name', table_name='scim_identities')
    op.drop_index('uq_users_email_active', table_name='users')
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_memberships_user_id'))

    op.drop_table('team_memberships')
    with op.batch_alter_table('scim_identities', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_identities_account_id_external_id')

    op.drop_table('scim_identities')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_role_id'))
        batch_op.drop_index('ix_users_account_id_id')

    op.drop_table('users')
    op.drop_table('teams')
    with op.batch_alter_table('scim_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_tokens_account_id'))

    op.drop_table('scim_tokens')
    op.drop_table('roles')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_account_id_id')

    op.drop_table('audit_events')
    op.drop_table('accounts')
