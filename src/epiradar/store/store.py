"""``Store``: the one object the rest of epiradar uses to reach the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

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
from epiradar.store import migrate as _migrate
from epiradar.store import visits as _visits
from epiradar.store.engine import make_engine


class Store:
    """Facade over the repositories in ``epiradar.store`` for one database URL.

    ``sqlite:///path.db`` (the default, WAL mode) or ``postgresql+psycopg://user:pw@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)

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
        self, limit: int | None = 100, *, run_id: int | None = None, source: str | None = None
    ) -> list[dict[str, Any]]:
        return _visits.list_quarantine(self.engine, limit, run_id, source)

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
    ) -> list[Alert]:
        return _alerts.list_alerts(self.engine, status=status, syndrome=syndrome, limit=limit)

    def alert(self, alert_id: str) -> Alert | None:
        return _alerts.get_alert(self.engine, alert_id)

    def alert_signals(self, alert_id: str) -> list[Signal]:
        return _alerts.alert_signals(self.engine, alert_id)

    def set_alert_status(self, alert_id: str, status: AlertStatus | str) -> bool:
        return _alerts.set_alert_status(self.engine, alert_id, status)
