"""Ingest a visits file: pipeline, progress bar, then the daily counts of the touched dates;
propose a mapping for a table of other headers (``ingest.mapping``)."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from epiradar.config import Settings
from epiradar.ingest.mapping import Mapping, infer_mapping
from epiradar.ingest.pipeline import Classifier, IngestSummary, ingest_path
from epiradar.store import Store


def ingest_file(
    store: Store,
    path: Path | str,
    settings: Settings,
    *,
    progress: bool = True,
    classifier: Classifier | None = None,
    mapping: Mapping | Path | str | None = None,
) -> IngestSummary:
    """Ingest ``path`` (.csv, .jsonl, .ndjson, optionally .gz; with a ``mapping`` — a
    :class:`Mapping` or its TOML file — a CSV or Excel table) and refresh its daily counts.

    ``classifier`` defaults to ``ingest.syndromes.load_default_classifier()``. A mapping that
    does not fit raises ``ingest.mapping.MappingError`` before anything is stored.
    """
    if mapping is not None and not isinstance(mapping, Mapping):
        mapping = Mapping.from_toml(Path(mapping))
    if classifier is None:
        from epiradar.ingest.syndromes import load_default_classifier

        classifier = load_default_classifier()
    kwargs = {
        "secret": settings.pseudonym_secret(),
        "classifier": classifier,
        "chunk_rows": settings.ingest_chunk_rows,
        "mapping": mapping,
    }
    if progress:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(f"ingest {Path(path).name}", total=None)

            def report(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = ingest_path(store, path, progress=report, **kwargs)
    else:
        summary = ingest_path(store, path, **kwargs)
    if summary.dates:
        store.refresh_daily_counts(summary.dates)
    return summary


def infer_file_mapping(path: Path | str, store: Store | None = None) -> Mapping:
    """Propose a mapping for a CSV / Excel file (``ingest.mapping.infer_mapping``); with a
    ``store`` holding a city, hospital and district names become code lists of their ids."""
    facilities = regions = None
    if store is not None:
        facilities = {f.name: f.id for f in store.facilities()}
        regions = {r.name: r.id for r in store.regions()}
    return infer_mapping(path, facilities=facilities, regions=regions)


def existing_store(settings: Settings) -> Store | None:
    """The configured store if its database exists and holds the schema (nothing is created)."""
    return Store.open_existing(settings.db)
