"""sign-in sequence per session (live dashboards put events in commit order)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("class_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sign_in_seq", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("class_session", schema=None) as batch_op:
        batch_op.drop_column("sign_in_seq")
