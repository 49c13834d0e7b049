"""Ingest a visits file: pipeline, progress bar, then the daily counts of the touched dates."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from epiradar.config import Settings
from epiradar.ingest.pipeline import Classifier, IngestSummary, ingest_path
from epiradar.store import Store


def ingest_file(
    store: Store,
    path: Path | str,
    settings: Settings,
    *,
    progress: bool = True,
    classifier: Classifier | None = None,
) -> IngestSummary:
    """Ingest ``path`` (.csv, .jsonl, .ndjson, optionally .gz) and refresh its daily counts.

    ``classifier`` defaults to ``ingest.syndromes.load_default_classifier()``.
    """
    if classifier is None:
        from epiradar.ingest.syndromes import load_default_classifier

        classifier = load_default_classifier()
    kwargs = {
        "secret": settings.pseudonym_secret(),
        "classifier": classifier,
        "chunk_rows": settings.ingest_chunk_rows,
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
