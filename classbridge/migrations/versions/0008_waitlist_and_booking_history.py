"""waitlists: waitlist_entry, activity.waitlist_size, class_session.waitlist_size_override

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-25

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import classbridge.models.base


# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_SOURCE = sa.Enum("STAFF", "CUSTOMER", "AGGREGATOR", name="bookingsource", native_enum=False, length=32)
_AGGREGATOR = sa.Enum("EGYM_WELLPASS", "URBAN_SPORTS_CLUB", "CLASSPASS", name="aggregator", native_enum=False, length=32)
_STATUS = sa.Enum("WAITING", "PROMOTED", "LEFT", "EXPIRED", name="waitliststatus", native_enum=False, length=32)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waitlist_size", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("class_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waitlist_size_override", sa.Integer(), nullable=True))
    op.create_table(
        "waitlist_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("source", _SOURCE, nullable=False),
        sa.Column("aggregator", _AGGREGATOR, nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("joined_at", classbridge.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", classbridge.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", classbridge.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["booking.id"], name=op.f("fk_waitlist_entry_booking_id_booking")),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_waitlist_entry_company_id_company"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_waitlist_entry_customer_id_customer")),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name=op.f("fk_waitlist_entry_product_id_product")),
        sa.ForeignKeyConstraint(["session_id"], ["class_session.id"], name=op.f("fk_waitlist_entry_session_id_class_session"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entry")),
        sa.UniqueConstraint("session_id", "position", name=op.f("uq_waitlist_entry_session_id_position")),
    )
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_waitlist_entry_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_waitlist_entry_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_waitlist_entry_session_id"), ["session_id"], unique=False)
        batch_op.create_index("uq_waitlist_waiting_customer", ["session_id", "customer_id"], unique=True, sqlite_where=sa.text("status = 'WAITING'"), postgresql_where=sa.text("status = 'WAITING'"))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("waitlist_entry")
    with op.batch_alter_table("class_session", schema=None) as batch_op:
        batch_op.drop_column("waitlist_size_override")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_column("waitlist_size")
