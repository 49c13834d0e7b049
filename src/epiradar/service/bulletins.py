"""Bulletin use cases: generate a draft from the data, review it, approve (publish) or reject it,
and read the published ones (docs/bulletins.md).

A draft holds its content (JSON) and both languages' HTML and PDF, rendered once when it is
generated: what the reviewer approves is byte for byte what the public gets. Approval follows
the four-eyes rule: the approver must not be the author. Approving a bulletin for a period that
already has a published one supersedes the older (both are kept; the older is marked).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pandas as pd

from epiradar.config import Settings
from epiradar.service import audit
from epiradar.share.bulletin import (
    KINDS,
    BulletinContent,
    Kind,
    RtEstimate,
    build_bulletin,
    city_rt,
    default_end,
    rt_series_start,
)
from epiradar.share.bulletin import period_ending as _period_ending
from epiradar.share.bulletin_render import render_html, render_pdf
from epiradar.share.bulletin_text import LANGS, check_lang
from epiradar.share.suppression import SuppressionRules
from epiradar.store import Store
from epiradar.store.bulletins import FILE_COLUMNS, BulletinRecord

PUBLIC_STATUSES = ("published", "superseded")
"""Statuses the public may open (the list shows ``published`` only)."""
Format = Literal["html", "pdf"]


class BulletinError(ValueError):
    """A request that cannot be done as asked (the message says why)."""


class BulletinNotFound(LookupError):
    """No such bulletin (or, on the public side, none published with that id)."""


class FourEyesError(BulletinError):
    """The approver is the author."""


class BulletinStateError(BulletinError):
    """The bulletin is no longer a draft."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def suppression_rules(settings: Settings) -> SuppressionRules:
    """The ``[public]`` suppression rules (the same as the public dashboard's)."""
    public = settings.public
    return SuppressionRules(
        min_count=getattr(public, "min_count", SuppressionRules.min_count),
        suppress_zeros=getattr(public, "suppress_zeros", SuppressionRules.suppress_zeros),
    )


def city_series(counts: pd.DataFrame, syndrome: str, start: dt.date, end: dt.date) -> pd.Series:
    """The city's daily counts of ``syndrome`` from ``start`` to ``end`` (every region and the
    unknown residence summed; days without a row count 0), indexed by date."""
    span = (end - start).days + 1
    days = pd.Index([start + dt.timedelta(days=i) for i in range(span)], dtype=object)
    if counts.empty:
        return pd.Series(0, index=days, dtype="int64")
    rows = counts[
        (counts["syndrome"] == syndrome) & (counts["date"] >= start) & (counts["date"] <= end)
    ]
    sums = rows.groupby("date")["count"].sum()
    return sums.reindex(days, fill_value=0).astype("int64")


def rt_estimates(store: Store, settings: Settings, end: dt.date) -> dict[str, RtEstimate | None]:
    """Per bulletin syndrome, the city's Rt over the 7 days ending at ``end`` (``city_rt``);
    None for a syndrome without a serial interval or with fewer than ``[bulletin]
    rt_min_cases`` visits in the window."""
    trace = settings.trace
    intervals = {s: trace.serial_interval(s) for s in settings.bulletin.syndromes}
    starts = {
        s: rt_series_start(end, si.mean, si.sd) for s, si in intervals.items() if si is not None
    }
    if not starts:
        return dict.fromkeys(intervals)
    counts = store.daily_counts(min(starts.values()), end)
    out: dict[str, RtEstimate | None] = {}
    for syndrome, si in intervals.items():
        if si is None:
            out[syndrome] = None
            continue
        out[syndrome] = city_rt(
            city_series(counts, syndrome, starts[syndrome], end),
            end=end,
            si_mean=si.mean,
            si_sd=si.sd,
            min_cases=settings.bulletin.rt_min_cases,
            mean_prior=trace.rt_mean_prior,
            std_prior=trace.rt_std_prior,
        )
    return out


def build_content(
    store: Store,
    settings: Settings,
    *,
    kind: Kind,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> BulletinContent:
    """The content of the ``kind`` bulletin whose period ends at (or holds) ``end``; default: the
    newest complete day or ISO week of the data."""
    if kind not in KINDS:
        raise BulletinError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    span = store.visit_date_range()
    if span is None:
        raise BulletinError("no visits in the database: load data before generating a bulletin")
    last = span[1]
    if end is None:
        end = default_end(kind, last, today)
    period = _period_ending(kind, end)
    if period.end > last:
        raise BulletinError(
            f"the {kind} period {period.start.isoformat()} to {period.end.isoformat()} is not "
            f"complete: the data end on {last.isoformat()}"
        )
    cfg = settings.bulletin
    length = cfg.daily_curve_days if kind == "daily" else cfg.weekly_curve_weeks
    first = period.start - dt.timedelta(days=(length - 1) * (1 if kind == "daily" else 7))
    return build_bulletin(
        store.daily_counts(first, period.end),
        kind=kind,
        end=end,
        regions=store.regions(),
        alerts=store.alerts(),
        syndromes=cfg.syndromes,
        data_version=last,
        rules=suppression_rules(settings),
        curve_length=length,
        top_areas=cfg.top_areas,
        alert_lookback_days=cfg.alert_lookback_days,
        rt=rt_estimates(store, settings, period.end),
        rt_min_cases=cfg.rt_min_cases,
    )


def generate(
    store: Store,
    settings: Settings,
    *,
    kind: Kind,
    actor: str,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> BulletinRecord:
    """Build, render (HTML and PDF, both languages) and store a draft; returns its record."""
    content = build_content(store, settings, kind=kind, end=end, today=today)
    files: dict[tuple[str, str], str | bytes] = {}
    for lang in LANGS:
        files[("html", lang)] = render_html(content, lang)
        files[("pdf", lang)] = render_pdf(content, lang)
    bulletin_id = store.bulletins.add(
        kind=kind,
        period_start=content.period.start.isoformat(),
        period_end=content.period.end.isoformat(),
        data_version=content.data_version.isoformat(),
        content=content.to_json(),
        files=files,
        generated_by=audit.clean_actor(actor),
        generated_at=now_iso(),
    )
    return get(store, bulletin_id)


def get(store: Store, bulletin_id: int) -> BulletinRecord:
    record = store.bulletins.get(bulletin_id)
    if record is None:
        raise BulletinNotFound(f"bulletin {bulletin_id} not found")
    return record


def content_of(record: BulletinRecord) -> BulletinContent:
    return BulletinContent.from_json(record.content)


def bulletins(
    store: Store, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[BulletinRecord]:
    """Every bulletin (or those of ``status``), newest period first."""
    return store.bulletins.list(statuses=[status] if status else None, limit=limit, offset=offset)


def file(store: Store, bulletin_id: int, fmt: Format, lang: str) -> str | bytes:
    """A bulletin's HTML (an ``<article>``) or PDF in ``lang``."""
    try:
        check_lang(lang)
    except ValueError as exc:
        raise BulletinError(str(exc)) from None
    if (fmt, lang) not in FILE_COLUMNS:
        raise BulletinError(f"format {fmt!r} is not one of html, pdf")
    value = store.bulletins.file(bulletin_id, fmt, lang)
    if value is None:
        raise BulletinNotFound(f"bulletin {bulletin_id} not found")
    return value


def render(store: Store, bulletin_id: int, fmt: Format, lang: str) -> bytes:
    """A whole file to publish elsewhere: the stored PDF, or the HTML as a standalone document
    (rendered again from the stored content)."""
    if fmt == "pdf":
        return bytes(file(store, bulletin_id, "pdf", lang))  # type: ignore[arg-type]
    try:
        check_lang(lang)
    except ValueError as exc:
        raise BulletinError(str(exc)) from None
    return render_html(content_of(get(store, bulletin_id)), lang, standalone=True).encode()


def approve(
    store: Store, bulletin_id: int, *, actor: str, channel: audit.Channel = "web"
) -> BulletinRecord:
    """Publish a draft (four eyes: ``actor`` must not be its author); a bulletin published
    before for the same kind and period becomes ``superseded``. Recorded in the audit log as a
    release to the public."""
    actor = audit.clean_actor(actor)
    record = get(store, bulletin_id)
    if record.status != "draft":
        raise BulletinStateError(
            f"bulletin {bulletin_id} is {record.status}, not a draft: only drafts can be approved"
        )
    if actor == record.generated_by:
        raise FourEyesError(
            f"bulletin {bulletin_id} was generated by {actor}: another authorised user must "
            "approve it (four-eyes rule)"
        )
    try:
        superseded = store.bulletins.publish(bulletin_id, reviewer=actor, at=now_iso())
    except LookupError:
        raise BulletinStateError(
            f"bulletin {bulletin_id} is no longer a draft: only drafts can be approved"
        ) from None
    audit.record(
        store,
        actor,
        "bulletin.publish",
        channel=channel,
        object_type="bulletin",
        object_id=bulletin_id,
        detail={
            "audience": "public",
            "kind": record.kind,
            "period": [record.period_start, record.period_end],
            "data_version": record.data_version,
            "author": record.generated_by,
            "languages": list(LANGS),
            "superseded": superseded,
        },
    )
    return get(store, bulletin_id)


def reject(store: Store, bulletin_id: int, *, actor: str, reason: str) -> BulletinRecord:
    """Reject a draft with a reason; it stays private."""
    reason = (reason or "").strip()
    if not reason:
        raise BulletinError(f"bulletin {bulletin_id}: a rejection needs a reason")
    record = get(store, bulletin_id)
    if record.status != "draft":
        raise BulletinStateError(
            f"bulletin {bulletin_id} is {record.status}, not a draft: only drafts can be rejected"
        )
    if not store.bulletins.reject(
        bulletin_id, reviewer=audit.clean_actor(actor), at=now_iso(), reason=reason[:2000]
    ):
        raise BulletinStateError(f"bulletin {bulletin_id} is no longer a draft")
    return get(store, bulletin_id)


# public side


def published(store: Store, *, limit: int = 100, offset: int = 0) -> list[BulletinRecord]:
    """The bulletins in force (approved and not superseded), newest period first."""
    return store.bulletins.list(statuses=["published"], limit=limit, offset=offset)


def public_get(store: Store, bulletin_id: int) -> BulletinRecord:
    """A bulletin the public may open (published, or superseded by a newer one)."""
    record = store.bulletins.get(bulletin_id)
    if record is None or record.status not in PUBLIC_STATUSES:
        raise BulletinNotFound(f"no published bulletin {bulletin_id}")
    return record


def public_file(store: Store, bulletin_id: int, fmt: Format, lang: str) -> str | bytes:
    public_get(store, bulletin_id)
    return file(store, bulletin_id, fmt, lang)


def demo_bulletin(
    store: Store,
    settings: Settings,
    *,
    author: str = "demo-epidemiologist",
    approver: str = "demo-reviewer",
) -> BulletinRecord:
    """One published weekly bulletin of the newest complete week (for the demo)."""
    draft = generate(store, settings, kind="weekly", actor=author)
    return approve(store, draft.id, actor=approver, channel="cli")
