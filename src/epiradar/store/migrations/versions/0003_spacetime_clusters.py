"""Space-time clusters: an alert's cluster regions and recurrence interval; a signal's zones,
first day and recurrence interval.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("cluster_region_ids", sa.Text(), nullable=True))
        batch.add_column(sa.Column("recurrence_interval", sa.Float(), nullable=True))
    with op.batch_alter_table("signals") as batch:
        batch.add_column(sa.Column("region_ids", sa.Text(), nullable=True))
        batch.add_column(sa.Column("start_date", sa.String(), nullable=True))
        batch.add_column(sa.Column("recurrence_interval", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signals") as batch:
        batch.drop_column("recurrence_interval")
        batch.drop_column("start_date")
        batch.drop_column("region_ids")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("recurrence_interval")
        batch.drop_column("cluster_region_ids")
