"""``Store``: the one object the rest of epiradar uses to reach the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from epiradar.model import (
    Alert,
    AlertStatus,
    Facility,
    MobilityFlow,
    Place,
    Region,
    Signal,
    Syndrome,
)
from epiradar.store import alerts as _alerts
from epiradar.store import city as _city
from epiradar.store import counts as _counts
from epiradar.store import feeds as _feeds
from epiradar.store import messages as _messages
from epiradar.store import migrate as _migrate
from epiradar.store import visits as _visits
from epiradar.store.audit import AuditLog
from epiradar.store.auth import AuthStore
from epiradar.store.bulletins import BulletinStore
from epiradar.store.capacity import CapacityStore
from epiradar.store.engine import make_engine, sqlite_file
from epiradar.store.notify import NotifyStore
from epiradar.store.workflow import WorkflowRepository


class Store:
    """Facade over the repositories in ``epiradar.store`` for one database URL.

    ``sqlite:///path.db`` (the default, WAL mode) or ``postgresql+psycopg://user:pw@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)

    @classmethod
    def open_existing(cls, url: str) -> Store | None:
        """The store at ``url`` if its database exists and holds the schema; creates nothing."""
        if make_url(url).get_backend_name() == "sqlite":
            found = sqlite_file(url)
            if found is None or not found.exists():
                return None
        store = cls(url)
        try:
            if store.schema_revision() is not None:
                return store
        except SQLAlchemyError:
            pass
        store.close()
        return None

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # schema
    def migrate(self) -> None:
        """Upgrade the schema to the newest packaged migration (a no-op when up to date)."""
        _migrate.upgrade(self.engine)

    def schema_revision(self) -> str | None:
        return _migrate.current_revision(self.engine)

    @property
    def audit(self) -> AuditLog:
        """The append-only, hash-chained audit log (``store.audit``)."""
        return AuditLog(self.engine)

    @property
    def auth(self) -> AuthStore:
        """Accounts, sessions, API tokens and login attempts (``store.auth``)."""
        return AuthStore(self.engine)

    # city
    def load_city(
        self,
        regions: Sequence[Region],
        facilities: Sequence[Facility],
        places: Sequence[Place],
        mobility: Sequence[MobilityFlow],
    ) -> None:
        """Replace the city (regions, facilities, places, mobility) in one transaction."""
        _city.load_city(self.engine, regions, facilities, places, mobility)

    def regions(self) -> list[Region]:
        return _city.list_regions(self.engine)

    def facilities(self) -> list[Facility]:
        return _city.list_facilities(self.engine)

    def places(self) -> list[Place]:
        return _city.list_places(self.engine)

    def mobility(self) -> list[MobilityFlow]:
        return _city.list_mobility(self.engine)

    # ingest
    def start_ingest_run(self, source: str, format: str) -> int:
        return _visits.start_ingest_run(self.engine, source, format)

    def finish_ingest_run(self, run_id: int, accepted: int, duplicates: int, rejected: int) -> None:
        _visits.finish_ingest_run(self.engine, run_id, accepted, duplicates, rejected)

    def ingest_run(self, run_id: int) -> dict[str, Any] | None:
        return _visits.ingest_run(self.engine, run_id)

    def insert_visits(
        self, rows: _visits.VisitRows | _visits.EncodedVisits, run_id: int
    ) -> tuple[int, int]:
        """Insert visits (row dicts, or columns); duplicates of ``(facility_id, visit_id)`` are
        skipped and counted. Returns ``(inserted, duplicates)``; see ``store.visits``."""
        return _visits.insert_visits(self.engine, rows, run_id)

    def quarantine(self, records: Iterable[Mapping[str, Any]]) -> int:
        return _visits.add_quarantine(self.engine, records)

    def quarantined(
        self,
        limit: int | None = 100,
        *,
        run_id: int | None = None,
        source: str | None = None,
        status: str | None = None,
        facility_id: str | None = None,
        ids: Iterable[int] | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        return _visits.list_quarantine(
            self.engine,
            limit,
            run_id,
            source,
            status=status,
            facility_id=facility_id,
            ids=ids,
            offset=offset,
        )

    def quarantine_count(self, status: str | None = None) -> int:
        return _visits.count_quarantine(self.engine, status)

    def resolve_quarantine(self, ids: Iterable[int], status: str, resolution: str) -> int:
        return _visits.resolve_quarantine(self.engine, ids, status, resolution)

    # messages (HL7 v2, FHIR)
    def message_transaction(self) -> AbstractContextManager[_messages.MessageTransaction]:
        """One durable transaction for a batch of messages (see ``store.messages``)."""
        return _messages.message_transaction(self.engine)

    def message_log(
        self, facility_id: str | None = None, since: str | None = None
    ) -> list[dict[str, Any]]:
        return _messages.message_log(self.engine, facility_id, since)

    def refresh_stale_counts(self) -> int:
        """Recompute the daily counts of the dates messages have touched since the last call."""
        dates = _messages.take_stale_dates(self.engine)
        return _counts.refresh_daily_counts(self.engine, dates) if dates else 0

    # facility API tokens
    def create_token(self, facility_id: str, label: str | None = None) -> str:
        return _messages.create_token(self.engine, facility_id, label)

    def token_facility(self, token: str) -> str | None:
        return _messages.token_facility(self.engine, token)

    def tokens(self, facility_id: str | None = None) -> list[dict[str, Any]]:
        return _messages.list_tokens(self.engine, facility_id)

    def revoke_token(self, token_id: int) -> bool:
        return _messages.revoke_token(self.engine, token_id)

    # feed quality
    def feed_activity(self, start: str, end: str) -> pd.DataFrame:
        return _feeds.feed_activity(self.engine, start, end)

    def feed_completeness(self, start: str, end: str) -> pd.DataFrame:
        return _feeds.feed_completeness(self.engine, start, end)

    def last_arrivals(self) -> dict[str, str]:
        return _feeds.last_arrivals(self.engine)

    def hourly_arrivals(self, start: str, end: str) -> pd.DataFrame:
        return _feeds.hourly_arrivals(self.engine, start, end)

    def feed_alerts(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        return _feeds.list_feed_alerts(self.engine, open_only=open_only)

    def raise_feed_alert(self, facility_id: str, kind: str, detail: str) -> bool:
        return _feeds.raise_feed_alert(self.engine, facility_id, kind, detail)

    def resolve_feed_alerts(self, facility_id: str, kind: str) -> int:
        return _feeds.resolve_feed_alerts(self.engine, facility_id, kind)

    # visits
    def visit_date_range(self) -> tuple[dt.date, dt.date] | None:
        return _visits.visit_date_range(self.engine)

    def visits_frame(
        self,
        start: dt.date | str | None,
        end: dt.date | str | None,
        *,
        region_ids: Iterable[str] | None = None,
        syndrome: Syndrome | str | None = None,
        visit_pks: Iterable[int] | None = None,
    ) -> pd.DataFrame:
        return _visits.visits_frame(
            self.engine, start, end, region_ids=region_ids, syndrome=syndrome, visit_pks=visit_pks
        )

    def exposures_frame(self, visit_pks: Iterable[int]) -> pd.DataFrame:
        return _visits.exposures_frame(self.engine, visit_pks)

    # counts
    def refresh_daily_counts(self, dates: Iterable[dt.date | str] | None = None) -> int:
        return _counts.refresh_daily_counts(self.engine, dates)

    def daily_counts(
        self, start: dt.date | str | None = None, end: dt.date | str | None = None
    ) -> pd.DataFrame:
        return _counts.read_daily_counts(self.engine, start, end)

    # alerts
    def replace_alerts(
        self,
        alerts: Sequence[Alert],
        signals: Sequence[tuple[str, Signal]],
        start: dt.date | str,
        end: dt.date | str,
    ) -> None:
        """Replace the alerts first alarming in ``[start, end]``; ``signals`` are
        ``(alert_id, signal)`` pairs."""
        _alerts.replace_alerts(self.engine, alerts, signals, start, end)

    def alerts(
        self,
        *,
        status: AlertStatus | str | None = None,
        syndrome: Syndrome | str | None = None,
        limit: int | None = None,
        first_alarm_from: dt.date | None = None,
        first_alarm_to: dt.date | None = None,
    ) -> list[Alert]:
        return _alerts.list_alerts(
            self.engine,
            status=status,
            syndrome=syndrome,
            limit=limit,
            first_alarm_from=first_alarm_from,
            first_alarm_to=first_alarm_to,
        )

    def alert(self, alert_id: str) -> Alert | None:
        return _alerts.get_alert(self.engine, alert_id)

    def alert_signals(self, alert_id: str) -> list[Signal]:
        return _alerts.alert_signals(self.engine, alert_id)

    def set_alert_status(self, alert_id: str, status: AlertStatus | str) -> bool:
        return _alerts.set_alert_status(self.engine, alert_id, status)

    # notifications
    @property
    def notify(self) -> NotifyStore:
        """Subscribers, subscriptions, deliveries and their attempts (``store.notify``)."""
        return NotifyStore(self.engine)

    # bulletins and facility capacity
    @property
    def bulletins(self) -> BulletinStore:
        """Generated bulletins, their approval and publication (``store.bulletins``)."""
        return BulletinStore(self.engine)

    @property
    def capacity(self) -> CapacityStore:
        """Facility capacity reports (``store.capacity``)."""
        return CapacityStore(self.engine)

    # alert workflow
    @property
    def workflow(self) -> WorkflowRepository:
        """Workflow records, timeline, mutes, investigations and tasks (``store.workflow``)."""
        return WorkflowRepository(self.engine)
