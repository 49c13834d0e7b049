"""FHIR Bulk Data export jobs and their NDJSON files.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_exports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("types", sa.Text(), nullable=False),
        sa.Column("since", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("progress", sa.String(), nullable=True),
        sa.Column("transaction_time", sa.String(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("finished_at", sa.String(), nullable=True),
        sa.Column("expires_at", sa.String(), nullable=True),
        sa.Column("heartbeat", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_exports")),
    )
    op.create_index("ix_bulk_exports_status_expires", "bulk_exports", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_bulk_exports_status_expires", table_name="bulk_exports")
    op.drop_table("bulk_exports")
