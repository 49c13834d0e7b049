"""Alert workflow: states and transitions with their required fields, the timeline of actions, investigations and tasks.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_workflow",
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.Column("state_since", sa.String(), nullable=True),
        sa.Column("notified_at", sa.String(), nullable=True),
        sa.Column("responded_at", sa.String(), nullable=True),
        sa.Column("verification_note", sa.Text(), nullable=True),
        sa.Column("likelihood", sa.String(), nullable=True),
        sa.Column("impact", sa.String(), nullable=True),
        sa.Column("risk", sa.String(), nullable=True),
        sa.Column("closure_reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("snoozed_until", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert_workflow")),
    )
    op.create_table(
        "alert_timeline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(), nullable=True),
        sa.Column("investigation_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_timeline")),
    )
    op.create_index("ix_alert_timeline_alert", "alert_timeline", ["alert_id", "id"])
    op.create_index("ix_alert_timeline_investigation", "alert_timeline", ["investigation_id"])
    op.create_table(
        "alert_mutes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("syndrome", sa.String(), nullable=False),
        sa.Column("region_ids", sa.Text(), nullable=False),
        sa.Column("until", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.String(), nullable=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("lifted_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_mutes")),
    )
    op.create_table(
        "investigations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("line_list_ref", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigations")),
    )
    op.create_table(
        "investigation_alerts",
        sa.Column("investigation_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigations.id"],
            name=op.f("fk_investigation_alerts_investigation_id_investigations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "investigation_id", "alert_id", name=op.f("pk_investigation_alerts")
        ),
    )
    op.create_index("ix_investigation_alerts_alert", "investigation_alerts", ["alert_id"])
    op.create_table(
        "hypotheses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigations.id"],
            name=op.f("fk_hypotheses_investigation_id_investigations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hypotheses")),
    )
    op.create_index("ix_hypotheses_investigation", "hypotheses", ["investigation_id"])
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("assignee", sa.String(), nullable=True),
        sa.Column("due_date", sa.String(), nullable=True),
        sa.Column("checklist", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("done_at", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigations.id"],
            name=op.f("fk_tasks_investigation_id_investigations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index("ix_tasks_investigation", "tasks", ["investigation_id"])
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due_date"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status_due", table_name="tasks")
    op.drop_index("ix_tasks_investigation", table_name="tasks")
    op.drop_table("tasks")
    op.drop_index("ix_hypotheses_investigation", table_name="hypotheses")
    op.drop_table("hypotheses")
    op.drop_index("ix_investigation_alerts_alert", table_name="investigation_alerts")
    op.drop_table("investigation_alerts")
    op.drop_table("investigations")
    op.drop_table("alert_mutes")
    op.drop_index("ix_alert_timeline_investigation", table_name="alert_timeline")
    op.drop_index("ix_alert_timeline_alert", table_name="alert_timeline")
    op.drop_table("alert_timeline")
    op.drop_table("alert_workflow")
