"""waitlist events in the push contract: waitlist_delivery

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

import classbridge.models.base


# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('waitlist_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=False),
    sa.Column('aggregator', sa.Enum('EGYM_WELLPASS', 'URBAN_SPORTS_CLUB', 'CLASSPASS', name='aggregator', native_enum=False, length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Boolean(), nullable=False),
    sa.Column('pending_gen', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', classbridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lease_until', classbridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acked_version', sa.Integer(), nullable=True),
    sa.Column('acked_at', classbridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', classbridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_at', classbridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['waitlist_entry.id'], name=op.f('fk_waitlist_delivery_entry_id_waitlist_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_waitlist_delivery_company_id_company'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_delivery')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_waitlist_delivery_entry_id'))
    )
    with op.batch_alter_table('waitlist_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waitlist_delivery_company_id'), ['company_id'], unique=False)
        batch_op.create_index('ix_waitlist_delivery_due', ['aggregator', 'pending', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('waitlist_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_delivery_due')
        batch_op.drop_index(batch_op.f('ix_waitlist_delivery_company_id'))

    op.drop_table('waitlist_delivery')
