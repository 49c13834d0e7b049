"""Work pages: contacts of an investigation with their follow-up, and the indexes the paged
lists need (open alerts by first alarm, alerts by date, tasks by assignee).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "investigation_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("case_key", sa.String(), nullable=True),
        sa.Column("exposure_date", sa.String(), nullable=True),
        sa.Column("follow_up_until", sa.String(), nullable=True),
        sa.Column("follow_up_status", sa.String(), nullable=False),
        sa.Column("last_contacted", sa.String(), nullable=True),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigations.id"],
            name=op.f("fk_investigation_contacts_investigation_id_investigations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigation_contacts")),
    )
    op.create_index(
        "ix_investigation_contacts_investigation",
        "investigation_contacts",
        ["investigation_id", "id"],
    )
    op.create_index("ix_alerts_status_first_alarm", "alerts", ["status", "first_alarm_date"])
    op.create_index("ix_alerts_first_alarm", "alerts", ["first_alarm_date", "id"])
    op.create_index("ix_tasks_assignee_status", "tasks", ["assignee", "status"])


def downgrade() -> None:
    op.drop_index("ix_tasks_assignee_status", table_name="tasks")
    op.drop_index("ix_alerts_first_alarm", table_name="alerts")
    op.drop_index("ix_alerts_status_first_alarm", table_name="alerts")
    op.drop_index("ix_investigation_contacts_investigation", table_name="investigation_contacts")
    op.drop_table("investigation_contacts")
