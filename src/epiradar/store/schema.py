"""The database schema (SQLAlchemy Core). Alembic migrations in ``store/migrations`` create it.

Dates are stored as ISO ``YYYY-MM-DD`` strings and times as ISO 8601 strings in UTC-less local
time of the reporting facility, so that the same SQL works on SQLite and PostgreSQL and sorts
correctly. Lists (diagnosis codes, contacts, region ids) are stored as JSON text.

The quarantine keeps rejected input verbatim, raw patient ids included: restrict access to it
(and purge it) like the source files themselves. Accepted visits hold only pseudonyms.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

regions = Table(
    "regions",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("population", Integer, nullable=False),
    Column("parent_id", String, nullable=True),
    Column("geometry", Text, nullable=True),  # GeoJSON geometry, lon-lat
)

facilities = Table(
    "facilities",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("region_id", String, nullable=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("fever_clinic", Boolean, nullable=False, default=False),
    Column("capacity", Integer, nullable=True),
)

places = Table(
    "places",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("region_id", String, nullable=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
)

mobility = Table(
    "mobility",
    metadata,
    Column("origin", String, primary_key=True),
    Column("destination", String, primary_key=True),
    Column("flow", Float, nullable=False),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String, nullable=False),  # file name or channel
    Column("format", String, nullable=False),
    Column("started_at", String, nullable=False),
    Column("finished_at", String, nullable=True),
    Column("accepted", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
)

visits = Table(
    "visits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("facility_id", String, nullable=False),
    Column("visit_id", String, nullable=False),
    Column("visit_time", String, nullable=False),  # ISO 8601
    Column("visit_date", String, nullable=False),  # YYYY-MM-DD, derived, indexed
    Column("patient_key", String, nullable=True),
    Column("age", Float, nullable=True),
    Column("sex", String(1), nullable=True),
    Column("residence_region", String, nullable=True),
    Column("residence_lat", Float, nullable=True),
    Column("residence_lon", Float, nullable=True),
    Column("chief_complaint", Text, nullable=True),
    Column("temperature_c", Float, nullable=True),
    Column("diagnosis_codes", Text, nullable=True),  # JSON list
    Column("onset_date", String, nullable=True),
    Column("exposures", Text, nullable=True),  # JSON list of {"place_id", "date"}
    Column("contacts", Text, nullable=True),  # JSON list of patient keys
    Column("lab_result", String, nullable=True),
    Column("patient_class", String, nullable=True),
    Column("disposition", String, nullable=True),
    Column("discharge_time", String, nullable=True),
    Column("syndrome_mask", Integer, nullable=False, default=0),  # bits of model.Syndrome
    Column("classifier_version", String, nullable=True),
    Column("ingest_run_id", Integer, ForeignKey("ingest_runs.id"), nullable=True),
    Column("received_at", String, nullable=True),  # first arrival (server time)
    Column("updated_at", String, nullable=True),  # last update by a message (server time)
    Column("message_time", String, nullable=True),  # sender's time of the last applied message
    UniqueConstraint("facility_id", "visit_id", name="uq_visits_facility_visit"),
)
Index("ix_visits_date_region", visits.c.visit_date, visits.c.residence_region)
Index("ix_visits_facility_received", visits.c.facility_id, visits.c.received_at)

# One row per (visit, reported place): what source analysis joins on.
visit_exposures = Table(
    "visit_exposures",
    metadata,
    Column("visit_pk", Integer, ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True),
    Column("place_id", String, primary_key=True),
    Column("exposure_date", String, nullable=True),
)
Index("ix_visit_exposures_place", visit_exposures.c.place_id)

# Rejected input, kept verbatim with where and why.
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ingest_run_id", Integer, ForeignKey("ingest_runs.id"), nullable=True),
    Column("source", String, nullable=False),
    Column("record", String, nullable=True),  # row number, line number, feature index
    Column("field", String, nullable=True),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("received_at", String, nullable=False),
    Column("raw_encoding", String, nullable=True),  # "base64" when raw is not text (NUL bytes)
    Column("format", String, nullable=True),  # csv, jsonl, table, hl7, fhir: how to re-read raw
    Column("context", Text, nullable=True),  # what re-reading needs: CSV header, mapping TOML
    Column("facility_id", String, nullable=True),  # the sender, when known
    Column("status", String, nullable=False, server_default="open"),  # open, resolved, discarded
    Column("resolved_at", String, nullable=True),
    Column("resolution", Text, nullable=True),
)
Index("ix_quarantine_run", quarantine.c.ingest_run_id)
Index("ix_quarantine_status", quarantine.c.status)

# Every accepted message (HL7 v2, FHIR): a resent one (same sender, same control id) is
# acknowledged and not applied twice. The message itself is not kept (it names the patient):
# its digest tells a true resend from a reused control id.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("facility_id", String, nullable=False),
    Column("control_id", String, nullable=False),
    Column("channel", String, nullable=False),  # mllp, http-hl7, fhir
    Column("event", String, nullable=False),
    Column("message_time", String, nullable=True),
    Column("received_at", String, nullable=False),
    Column("visit_id", String, nullable=False),
    Column("digest", String, nullable=False),
    UniqueConstraint("facility_id", "control_id", name="uq_inbound_messages_facility_control"),
)
Index(
    "ix_inbound_messages_received", inbound_messages.c.facility_id, inbound_messages.c.received_at
)

# API tokens of the facilities that submit over HTTP; only a SHA-256 of each token is kept.
facility_tokens = Table(
    "facility_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("facility_id", String, nullable=False),
    Column("token_hash", String, nullable=False, unique=True),
    Column("label", String, nullable=True),
    Column("created_at", String, nullable=False),
    Column("revoked_at", String, nullable=True),
)

# Dates whose daily counts are out of date (visits arrived or changed by message).
stale_count_dates = Table(
    "stale_count_dates",
    metadata,
    Column("date", String, primary_key=True),
)

# Data-quality alerts about the feeds themselves (a facility gone silent).
feed_alerts = Table(
    "feed_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("facility_id", String, nullable=False),
    Column("kind", String, nullable=False),  # silent
    Column("detail", Text, nullable=False),
    Column("raised_at", String, nullable=False),
    Column("resolved_at", String, nullable=True),
)
Index("ix_feed_alerts_facility", feed_alerts.c.facility_id, feed_alerts.c.kind)

# Daily visit counts by residence region x syndrome. region_id "" = residence unknown;
# syndrome "all" = every visit (the denominator).
daily_counts = Table(
    "daily_counts",
    metadata,
    Column("date", String, primary_key=True),
    Column("region_id", String, primary_key=True),
    Column("syndrome", String, primary_key=True),
    Column("count", Integer, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String, primary_key=True),
    Column("syndrome", String, nullable=False),
    Column("region_ids", Text, nullable=False),  # JSON list; [] = the whole city
    Column("start_date", String, nullable=False),
    Column("end_date", String, nullable=False),
    Column("first_alarm_date", String, nullable=False),
    Column("observed", Float, nullable=False),
    Column("expected", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("severity", String, nullable=False),
    Column("detector", String, nullable=False),
    Column("status", String, nullable=False),
    Column("n_signals", Integer, nullable=False),
    Column("created_at", String, nullable=False),
    Column("cluster_region_ids", Text, nullable=True),  # JSON list; NULL = no space-time cluster
    Column("recurrence_interval", Float, nullable=True),  # days
)

signals = Table(
    "signals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=True),
    Column("date", String, nullable=False),
    Column("region_id", String, nullable=True),  # NULL = whole city
    Column("syndrome", String, nullable=False),
    Column("detector", String, nullable=False),
    Column("observed", Float, nullable=False),
    Column("expected", Float, nullable=False),
    Column("upperbound", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("region_ids", Text, nullable=True),  # JSON list: a space-time cluster's zones
    Column("start_date", String, nullable=True),  # a space-time cluster's first day
    Column("recurrence_interval", Float, nullable=True),  # days
)
Index("ix_signals_alert", signals.c.alert_id)
