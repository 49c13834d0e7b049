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
    false,
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
    Column("parent_name", String, nullable=True),  # the enclosing unit's name (migration 0013)
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

# Notifications (docs/notifications.md): subscribers (a name with an e-mail address and/or a
# webhook), their subscriptions, one delivery per (what, subscriber, channel) and every attempt.
notify_subscribers = Table(
    "notify_subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False, unique=True),
    Column("email", String, nullable=True),
    Column("webhook_url", Text, nullable=True),
    Column("webhook_secret", String, nullable=True),  # HMAC key; needed to sign, so kept as is
    Column("digest", Boolean, nullable=False, default=True),  # daily digest e-mail
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", String, nullable=False),
)

notify_subscriptions = Table(
    "notify_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("notify_subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("region_ids", Text, nullable=False),  # JSON list; [] = every region
    Column("syndromes", Text, nullable=False),  # JSON list; [] = every syndrome
    Column("min_severity", String, nullable=False),  # low, medium, high
    Column("created_at", String, nullable=False),
    # also overdue alerts and tasks (docs/notifications.md, "Escalations"; migration 0009)
    Column("escalations", Boolean, nullable=False, default=False, server_default=false()),
)
Index("ix_notify_subscriptions_subscriber", notify_subscriptions.c.subscriber_id)

# ``key`` is "alert:<alert id>" or "digest:<YYYY-MM-DD>"; no foreign key to alerts, because
# detection replaces alert rows on every rerun and the record must outlive that.
notify_deliveries = Table(
    "notify_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String, nullable=False),
    Column("kind", String, nullable=False),  # alert, digest
    Column("alert_id", String, nullable=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("notify_subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("channel", String, nullable=False),  # email, webhook
    Column("status", String, nullable=False),  # pending, sent, failed
    Column("subject", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON: what is sent, frozen when queued
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", String, nullable=False),
    Column("last_attempt_at", String, nullable=True),
    Column("sent_at", String, nullable=True),
    Column("error", Text, nullable=True),  # the last attempt's, while not sent
    UniqueConstraint("key", "subscriber_id", "channel", name="uq_notify_deliveries_key"),
)
Index("ix_notify_deliveries_status", notify_deliveries.c.status)

notify_attempts = Table(
    "notify_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        Integer,
        ForeignKey("notify_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),  # 1, 2, ... over the delivery's life
    Column("started_at", String, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),  # HTTP status, or the SMTP reply code
    Column("error", Text, nullable=True),
)
Index("ix_notify_attempts_delivery", notify_attempts.c.delivery_id)

# Audit log: append-only and hash-chained (see store/audit.py). ``id`` is the entry's position
# in the chain (1, 2, ...); ``hash`` = SHA-256 over the entry's fields and ``prev_hash``.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", String, nullable=False),  # UTC, ISO 8601 with "Z"
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("object_type", String, nullable=True),
    Column("object_id", String, nullable=True),
    Column("detail", Text, nullable=False),  # canonical JSON object
    Column("remote_addr", String, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_log_at", audit_log.c.at)
Index("ix_audit_log_actor", audit_log.c.actor)
Index("ix_audit_log_object", audit_log.c.object_type, audit_log.c.object_id)

# The chain head: one row (id 1) holding the last entry's position and hash. Appends lock it
# first, which serialises them on SQLite and PostgreSQL alike.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

# ---------------------------------------------------------------------------------------------
# Alert workflow (store/workflow.py). No foreign keys to ``alerts``: detection replaces alert
# rows on every run, and the workflow record and timeline must outlive that.

# An alert's workflow record beside its ``alerts.status``: assessment, closure, timers, snooze.
alert_workflow = Table(
    "alert_workflow",
    metadata,
    Column("alert_id", String, primary_key=True),
    Column("state_since", String, nullable=True),  # when the current status was entered
    Column("notified_at", String, nullable=True),  # first left "new"
    Column("responded_at", String, nullable=True),  # first reached monitoring/discarded/closed
    Column("verification_note", Text, nullable=True),
    Column("likelihood", String, nullable=True),
    Column("impact", String, nullable=True),
    Column("risk", String, nullable=True),
    Column("closure_reason", Text, nullable=True),
    Column("outcome", String, nullable=True),
    Column("snoozed_until", String, nullable=True),
)

# Every action on an alert or investigation, in order.
alert_timeline = Table(
    "alert_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String, nullable=True),
    Column("investigation_id", Integer, nullable=True),
    Column("at", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("from_state", String, nullable=True),
    Column("to_state", String, nullable=True),
    Column("fields", Text, nullable=False),  # JSON object
)
Index("ix_alert_timeline_alert", alert_timeline.c.alert_id, alert_timeline.c.id)
Index("ix_alert_timeline_investigation", alert_timeline.c.investigation_id)

# Known ongoing events muted until an expiry: syndrome x regions (JSON list; [] = whole city).
alert_mutes = Table(
    "alert_mutes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("syndrome", String, nullable=False),
    Column("region_ids", Text, nullable=False),
    Column("until", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("alert_id", String, nullable=True),
    Column("actor", String, nullable=False),
    Column("created_at", String, nullable=False),
    Column("lifted_at", String, nullable=True),
)

investigations = Table(
    "investigations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String, nullable=False),
    Column("status", String, nullable=False),  # open, closed
    Column("line_list_ref", Text, nullable=True),
    Column("created_at", String, nullable=False),
    Column("actor", String, nullable=False),
)

investigation_alerts = Table(
    "investigation_alerts",
    metadata,
    Column(
        "investigation_id",
        Integer,
        ForeignKey("investigations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alert_id", String, primary_key=True),
)
Index("ix_investigation_alerts_alert", investigation_alerts.c.alert_id)

hypotheses = Table(
    "hypotheses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "investigation_id",
        Integer,
        ForeignKey("investigations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String, nullable=False),  # source, origin, route, other
    Column("subject", String, nullable=False),  # e.g. a place id
    Column("description", Text, nullable=True),
    Column("evidence", Text, nullable=False),  # JSON object
    Column("status", String, nullable=False),  # open, supported, rejected
    Column("created_at", String, nullable=False),
    Column("actor", String, nullable=False),
)
Index("ix_hypotheses_investigation", hypotheses.c.investigation_id)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "investigation_id",
        Integer,
        ForeignKey("investigations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("title", String, nullable=False),
    Column("assignee", String, nullable=True),
    Column("due_date", String, nullable=True),
    Column("checklist", Text, nullable=False),  # JSON list of {"item", "done"}
    Column("status", String, nullable=False),  # open, done
    Column("created_at", String, nullable=False),
    Column("done_at", String, nullable=True),
)
Index("ix_tasks_investigation", tasks.c.investigation_id)
Index("ix_tasks_status_due", tasks.c.status, tasks.c.due_date)

# -- work pages (0008): contacts of an investigation, indexes of the paged lists -----------------
investigation_contacts = Table(
    "investigation_contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "investigation_id",
        Integer,
        ForeignKey("investigations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("label", String, nullable=False),  # who: a name or reference the team holds
    Column("case_key", String, nullable=True),  # patient key of the case they met
    Column("exposure_date", String, nullable=True),
    Column("follow_up_until", String, nullable=True),
    Column("follow_up_status", String, nullable=False),
    Column("last_contacted", String, nullable=True),
    Column("created_at", String, nullable=False),
    Column("actor", String, nullable=False),
)
Index(
    "ix_investigation_contacts_investigation",
    investigation_contacts.c.investigation_id,
    investigation_contacts.c.id,
)
Index("ix_alerts_status_first_alarm", alerts.c.status, alerts.c.first_alarm_date)
Index("ix_alerts_first_alarm", alerts.c.first_alarm_date, alerts.c.id)
Index("ix_tasks_assignee_status", tasks.c.assignee, tasks.c.status)

# ---------------------------------------------------------------------------------------------
# Accounts, sessions, API tokens and login attempts (store/auth.py). Passwords are kept as
# argon2 hashes; session ids and API tokens only as SHA-256 (they are 256-bit random).

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String, nullable=False, unique=True),
    Column("password_hash", String, nullable=False),
    Column("role", String, nullable=False),
    Column("districts", Text, nullable=True),  # JSON list of region ids; NULL = whole city
    Column("facility_id", String, nullable=True),  # hospital reporters: their facility
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", String, nullable=False),
    Column("updated_at", String, nullable=False),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("csrf_token", String, nullable=False),
    Column("created_at", String, nullable=False),
    Column("expires_at", String, nullable=False),
    Column("remote_addr", String, nullable=True),
)
Index("ix_auth_sessions_user", auth_sessions.c.user_id)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String, nullable=False),
    Column("districts", Text, nullable=True),
    Column("facility_id", String, nullable=True),
    Column("created_by", String, nullable=False),
    Column("created_at", String, nullable=False),
    Column("last_used_at", String, nullable=True),
    Column("revoked_at", String, nullable=True),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String, nullable=False),
    Column("remote_addr", String, nullable=True),
    Column("at", String, nullable=False),  # UTC, ISO 8601
    Column("ok", Boolean, nullable=False),
)
Index("ix_login_attempts_user", login_attempts.c.username, login_attempts.c.at)
Index("ix_login_attempts_addr", login_attempts.c.remote_addr, login_attempts.c.at)

# --- FHIR bulk export jobs (migration 0010) ---

# One FHIR Bulk Data export: who asked, within which scope, and where it stands. ``output`` is
# the JSON list of files written ({type, file, count, sha256}); the files live under
# ``[fhir] bulk_dir`` and are removed when the job expires or is cancelled (the row stays).
bulk_exports = Table(
    "bulk_exports",
    metadata,
    Column("id", String(64), primary_key=True),  # random, opaque
    Column("owner", String, nullable=False),  # the caller's actor name at kick-off
    Column("scope", Text, nullable=False),  # JSON: {"districts": [...]|null, "facility_id"}
    Column("request", Text, nullable=False),  # the kick-off URL
    Column("types", Text, nullable=False),  # JSON list of resource types
    Column("since", String, nullable=True),
    Column("status", String, nullable=False),  # queued running done failed cancelled expired
    Column("progress", String, nullable=True),
    Column("transaction_time", String, nullable=False),  # FHIR instant, UTC
    Column("output", Text, nullable=True),  # JSON list of files
    Column("error", Text, nullable=True),
    Column("created_at", String, nullable=False),
    Column("finished_at", String, nullable=True),
    Column("expires_at", String, nullable=True),
    Column("heartbeat", Float, nullable=True),  # epoch seconds of the runner's last sign of life
)
Index("ix_bulk_exports_status_expires", bulk_exports.c.status, bulk_exports.c.expires_at)

# --- bulletins (migration 0011) ---
from sqlalchemy import LargeBinary  # noqa: E402  (the one binary column type, bulletins' PDFs)

bulletins = Table(
    "bulletins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String, nullable=False),  # daily | weekly
    Column("period_start", String, nullable=False),  # ISO date
    Column("period_end", String, nullable=False),
    Column("data_version", String, nullable=False),  # the last date with data
    Column("status", String, nullable=False),  # draft | published | rejected | superseded
    Column("content", Text, nullable=False),  # share.bulletin.BulletinContent as JSON
    Column("html_en", Text, nullable=False),
    Column("html_zh_hans", Text, nullable=False),
    Column("pdf_en", LargeBinary, nullable=False),
    Column("pdf_zh_hans", LargeBinary, nullable=False),
    Column("generated_by", String, nullable=False),
    Column("generated_at", String, nullable=False),
    Column("reviewed_by", String, nullable=True),
    Column("reviewed_at", String, nullable=True),
    Column("reject_reason", Text, nullable=True),
    Column("superseded_by", Integer, nullable=True),
)
Index("ix_bulletins_status", bulletins.c.status, bulletins.c.period_end)
Index("ix_bulletins_period", bulletins.c.kind, bulletins.c.period_start, bulletins.c.period_end)


# --- facility capacity reports (migration 0012) ---

capacity_reports = Table(
    "capacity_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("facility_id", String, nullable=False),
    Column("reported_at", String, nullable=False),  # UTC, ISO 8601: when the counts held
    Column("received_at", String, nullable=False),  # UTC, ISO 8601: when epiradar stored them
    Column("fever_clinic_rooms", Integer, nullable=False),  # open rooms
    Column("beds_total", Integer, nullable=True),
    Column("beds_free", Integer, nullable=True),
    Column("icu_total", Integer, nullable=True),
    Column("icu_free", Integer, nullable=True),
    Column("staff_on_duty", Integer, nullable=True),
    Column("test_kits", Integer, nullable=True),
    Column("reported_by", String, nullable=False),
    Column("source", String, nullable=False),  # api | form | cli | demo
)
Index(
    "ix_capacity_reports_facility", capacity_reports.c.facility_id, capacity_reports.c.reported_at
)
