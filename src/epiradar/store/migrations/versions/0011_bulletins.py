"""Bulletins: generated drafts, approval, publication.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulletins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("period_start", sa.String(), nullable=False),
        sa.Column("period_end", sa.String(), nullable=False),
        sa.Column("data_version", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("html_en", sa.Text(), nullable=False),
        sa.Column("html_zh_hans", sa.Text(), nullable=False),
        sa.Column("pdf_en", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_zh_hans", sa.LargeBinary(), nullable=False),
        sa.Column("generated_by", sa.String(), nullable=False),
        sa.Column("generated_at", sa.String(), nullable=False),
        sa.Column("reviewed_by", sa.String(), nullable=True),
        sa.Column("reviewed_at", sa.String(), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulletins")),
    )
    op.create_index("ix_bulletins_status", "bulletins", ["status", "period_end"])
    op.create_index("ix_bulletins_period", "bulletins", ["kind", "period_start", "period_end"])


def downgrade() -> None:
    op.drop_index("ix_bulletins_period", table_name="bulletins")
    op.drop_index("ix_bulletins_status", table_name="bulletins")
    op.drop_table("bulletins")
