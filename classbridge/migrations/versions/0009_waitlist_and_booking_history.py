"""waitlists (waitlist_entry, activity.waitlist_size, class_session.waitlist_size_override)
and the append-only booking_history behind the aggregator visit report

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

"""
from datetime import UTC, datetime
from typing import Sequence, Union
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa
import sqlmodel

import classbridge.models.base


# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_SOURCE = sa.Enum("STAFF", "CUSTOMER", "AGGREGATOR", name="bookingsource", native_enum=False, length=32)
_AGGREGATOR = sa.Enum("EGYM_WELLPASS", "URBAN_SPORTS_CLUB", "CLASSPASS", name="aggregator", native_enum=False, length=32)
_BOOKING_STATUS = sa.Enum("BOOKED", "CANCELLED", "CHECKED_IN", "NO_SHOW", name="bookingstatus", native_enum=False, length=32)
_CANCELLATION = sa.Enum("NONE", "SESSION", "EARLY", "LATE", name="cancellationtype", native_enum=False, length=32)
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
    op.create_table(
        "booking_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("source", _SOURCE, nullable=False),
        sa.Column("aggregator", _AGGREGATOR, nullable=True),
        sa.Column("member_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", _BOOKING_STATUS, nullable=False),
        sa.Column("cancellation_type", _CANCELLATION, nullable=False),
        sa.Column("session_local_date", sa.Date(), nullable=False),
        sa.Column("session_month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("occurred_at", classbridge.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["booking.id"], name=op.f("fk_booking_history_booking_id_booking"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_booking_history_company_id_company"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_history")),
    )
    with op.batch_alter_table("booking_history", schema=None) as batch_op:
        batch_op.create_index("ix_booking_history_report", ["company_id", "session_local_date"], unique=False)
        batch_op.create_index("ix_booking_history_booking", ["booking_id", "id"], unique=False)
    _backfill_history()


def _backfill_history() -> None:
    """Bookings made before the history existed: one row each, as they stand now, dated
    by their session's venue-local day."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT b.company_id, b.id, s.id, s.venue_id, s.activity_id, b.customer_id, b.source,"
            " b.aggregator, b.status, b.cancellation_type, s.starts_at, v.timezone, b.updated_at"
            " FROM booking b JOIN class_session s ON s.id = b.session_id"
            " JOIN venue v ON v.id = s.venue_id"
        )
    ).all()
    if not rows:
        return
    history = sa.table(
        "booking_history",
        *(
            sa.column(name)
            for name in (
                "company_id", "booking_id", "session_id", "venue_id", "activity_id",
                "customer_id", "source", "aggregator", "status", "cancellation_type",
                "session_local_date", "session_month", "occurred_at",
            )
        ),
    )
    values = []
    for (company, booking, session, venue, activity, customer, source, aggregator, status,
         cancellation, starts_at, timezone, updated_at) in rows:
        if isinstance(starts_at, str):
            starts_at = datetime.fromisoformat(starts_at)
        if starts_at.tzinfo is None:
            starts_at = starts_at.replace(tzinfo=UTC)
        local = starts_at.astimezone(ZoneInfo(timezone)).date()
        values.append(
            {
                "company_id": company, "booking_id": booking, "session_id": session,
                "venue_id": venue, "activity_id": activity, "customer_id": customer,
                "source": source, "aggregator": aggregator, "status": status,
                "cancellation_type": cancellation, "session_local_date": local,
                "session_month": f"{local:%Y-%m}", "occurred_at": updated_at,
            }
        )
    op.bulk_insert(history, values)  # type: ignore[arg-type]


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("booking_history")
    op.drop_table("waitlist_entry")
    with op.batch_alter_table("class_session", schema=None) as batch_op:
        batch_op.drop_column("waitlist_size_override")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_column("waitlist_size")
