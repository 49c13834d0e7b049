"""Initial schema: the city, visits, quarantine, daily counts, alerts and signals.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("syndrome", sa.String(), nullable=False),
        sa.Column("region_ids", sa.Text(), nullable=False),
        sa.Column("start_date", sa.String(), nullable=False),
        sa.Column("end_date", sa.String(), nullable=False),
        sa.Column("first_alarm_date", sa.String(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("detector", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("n_signals", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_table(
        "daily_counts",
        sa.Column("date", sa.String(), nullable=False),
        sa.Column("region_id", sa.String(), nullable=False),
        sa.Column("syndrome", sa.String(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("date", "region_id", "syndrome", name=op.f("pk_daily_counts")),
    )
    op.create_table(
        "facilities",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("region_id", sa.String(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("fever_clinic", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
    )
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("started_at", sa.String(), nullable=False),
        sa.Column("finished_at", sa.String(), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_runs")),
    )
    op.create_table(
        "mobility",
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("destination", sa.String(), nullable=False),
        sa.Column("flow", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("origin", "destination", name=op.f("pk_mobility")),
    )
    op.create_table(
        "places",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("region_id", sa.String(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(), nullable=True),
        sa.Column("geometry", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ingest_run_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("record", sa.String(), nullable=True),
        sa.Column("field", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ingest_run_id"],
            ["ingest_runs.id"],
            name=op.f("fk_quarantine_ingest_run_id_ingest_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_index("ix_quarantine_run", "quarantine", ["ingest_run_id"])

    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(), nullable=True),
        sa.Column("date", sa.String(), nullable=False),
        sa.Column("region_id", sa.String(), nullable=True),
        sa.Column("syndrome", sa.String(), nullable=False),
        sa.Column("detector", sa.String(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("upperbound", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_signals_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    op.create_index("ix_signals_alert", "signals", ["alert_id"])

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("facility_id", sa.String(), nullable=False),
        sa.Column("visit_id", sa.String(), nullable=False),
        sa.Column("visit_time", sa.String(), nullable=False),
        sa.Column("visit_date", sa.String(), nullable=False),
        sa.Column("patient_key", sa.String(), nullable=True),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("residence_region", sa.String(), nullable=True),
        sa.Column("residence_lat", sa.Float(), nullable=True),
        sa.Column("residence_lon", sa.Float(), nullable=True),
        sa.Column("chief_complaint", sa.Text(), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("diagnosis_codes", sa.Text(), nullable=True),
        sa.Column("onset_date", sa.String(), nullable=True),
        sa.Column("exposures", sa.Text(), nullable=True),
        sa.Column("contacts", sa.Text(), nullable=True),
        sa.Column("lab_result", sa.String(), nullable=True),
        sa.Column("syndrome_mask", sa.Integer(), nullable=False),
        sa.Column("classifier_version", sa.String(), nullable=True),
        sa.Column("ingest_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ingest_run_id"], ["ingest_runs.id"], name=op.f("fk_visits_ingest_run_id_ingest_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("facility_id", "visit_id", name="uq_visits_facility_visit"),
    )
    op.create_index("ix_visits_date_region", "visits", ["visit_date", "residence_region"])

    op.create_table(
        "visit_exposures",
        sa.Column("visit_pk", sa.Integer(), nullable=False),
        sa.Column("place_id", sa.String(), nullable=False),
        sa.Column("exposure_date", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["visit_pk"],
            ["visits.id"],
            name=op.f("fk_visit_exposures_visit_pk_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("visit_pk", "place_id", name=op.f("pk_visit_exposures")),
    )
    op.create_index("ix_visit_exposures_place", "visit_exposures", ["place_id"])


def downgrade() -> None:
    op.drop_index("ix_visit_exposures_place", table_name="visit_exposures")
    op.drop_table("visit_exposures")
    op.drop_index("ix_visits_date_region", table_name="visits")
    op.drop_table("visits")
    op.drop_index("ix_signals_alert", table_name="signals")
    op.drop_table("signals")
    op.drop_index("ix_quarantine_run", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_table("regions")
    op.drop_table("places")
    op.drop_table("mobility")
    op.drop_table("ingest_runs")
    op.drop_table("facilities")
    op.drop_table("daily_counts")
    op.drop_table("alerts")
