"""email outbox: messages to studios, delivered over SMTP with retries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 07:20:42.474968

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

import classbridge.models.base


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('email_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('to_address', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', classbridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', classbridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('sent_at', classbridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_email_message_company_id_company'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_message'))
    )
    with op.batch_alter_table('email_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_message_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_message_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_message_sent_at'), ['sent_at'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('email_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_message_sent_at'))
        batch_op.drop_index(batch_op.f('ix_email_message_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_email_message_company_id'))

    op.drop_table('email_message')
