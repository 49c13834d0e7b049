"""Regions carry the name of their enclosing unit (district), shown on public pages.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regions") as batch:
        batch.add_column(sa.Column("parent_name", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("regions") as batch:
        batch.drop_column("parent_name")
