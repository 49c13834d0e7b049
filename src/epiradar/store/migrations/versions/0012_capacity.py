"""Facility capacity reports.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capacity_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.String(), nullable=False),
        sa.Column("reported_at", sa.String(), nullable=False),
        sa.Column("received_at", sa.String(), nullable=False),
        sa.Column("fever_clinic_rooms", sa.Integer(), nullable=False),
        sa.Column("beds_total", sa.Integer(), nullable=True),
        sa.Column("beds_free", sa.Integer(), nullable=True),
        sa.Column("icu_total", sa.Integer(), nullable=True),
        sa.Column("icu_free", sa.Integer(), nullable=True),
        sa.Column("staff_on_duty", sa.Integer(), nullable=True),
        sa.Column("test_kits", sa.Integer(), nullable=True),
        sa.Column("reported_by", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_reports")),
    )
    op.create_index(
        "ix_capacity_reports_facility", "capacity_reports", ["facility_id", "reported_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_capacity_reports_facility", table_name="capacity_reports")
    op.drop_table("capacity_reports")
