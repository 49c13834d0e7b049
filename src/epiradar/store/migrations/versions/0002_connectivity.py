"""Hospital connectivity: message log, facility tokens, visit updates, quarantine workflow,
stale count dates and feed alerts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_VISIT_COLUMNS = (
    "patient_class",
    "disposition",
    "discharge_time",
    "received_at",
    "updated_at",
    "message_time",
)
_QUARANTINE_COLUMNS = (
    "raw_encoding",
    "format",
    "context",
    "facility_id",
    "resolved_at",
    "resolution",
)


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        for name in _VISIT_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(), nullable=True))
        batch.create_index("ix_visits_facility_received", ["facility_id", "received_at"])
    with op.batch_alter_table("quarantine") as batch:
        for name in _QUARANTINE_COLUMNS:
            kind = sa.Text() if name in ("context", "resolution") else sa.String()
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.add_column(sa.Column("status", sa.String(), nullable=False, server_default="open"))
        batch.create_index("ix_quarantine_status", ["status"])
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.String(), nullable=False),
        sa.Column("control_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("message_time", sa.String(), nullable=True),
        sa.Column("received_at", sa.String(), nullable=False),
        sa.Column("visit_id", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint(
            "facility_id", "control_id", name="uq_inbound_messages_facility_control"
        ),
    )
    op.create_index(
        "ix_inbound_messages_received", "inbound_messages", ["facility_id", "received_at"]
    )
    op.create_table(
        "facility_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=True),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("revoked_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_facility_tokens_token_hash")),
    )
    op.create_table(
        "stale_count_dates",
        sa.Column("date", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("date", name=op.f("pk_stale_count_dates")),
    )
    op.create_table(
        "feed_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.String(), nullable=False),
        sa.Column("resolved_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_alerts")),
    )
    op.create_index("ix_feed_alerts_facility", "feed_alerts", ["facility_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_feed_alerts_facility", table_name="feed_alerts")
    op.drop_table("feed_alerts")
    op.drop_table("stale_count_dates")
    op.drop_table("facility_tokens")
    op.drop_index("ix_inbound_messages_received", table_name="inbound_messages")
    op.drop_table("inbound_messages")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_index("ix_quarantine_status")
        batch.drop_column("status")
        for name in reversed(_QUARANTINE_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("visits") as batch:
        batch.drop_index("ix_visits_facility_received")
        for name in reversed(_VISIT_COLUMNS):
            batch.drop_column(name)
