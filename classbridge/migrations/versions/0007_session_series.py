"""session series (sessions scheduled together, rolling series' template); customers'
erasure time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import classbridge.models.base

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_series",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("weekdays", sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("room", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("teacher", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("capacity_override", sa.Integer(), nullable=True),
        sa.Column(
            "aggregator_mode",
            sa.Enum(
                "FOLLOW_ACTIVITY",
                "INDIVIDUAL",
                name="aggregatormode",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("aggregator_allowed", sa.Boolean(), nullable=False),
        sa.Column("aggregator_limit", sa.Integer(), nullable=True),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("scheduled_through", sa.Date(), nullable=False),
        sa.Column("created_at", classbridge.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", classbridge.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_session_series_activity_id_activity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["company.id"],
            name=op.f("fk_session_series_company_id_company"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["venue.id"],
            name=op.f("fk_session_series_venue_id_venue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_series")),
    )
    with op.batch_alter_table("session_series", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_series_company_id"), ["company_id"], unique=False
        )
    with op.batch_alter_table("class_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("series_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_class_session_series_id"), ["series_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_class_session_series_id_session_series"),
            "session_series",
            ["series_id"],
            ["id"],
            ondelete="SET NULL",
        )


    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "erased_at", classbridge.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("class_session", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_class_session_series_id_session_series"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_class_session_series_id"))
        batch_op.drop_column("series_id")
    with op.batch_alter_table("session_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_series_company_id"))
    op.drop_table("session_series")
