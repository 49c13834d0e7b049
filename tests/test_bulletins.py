"""Bulletins: content from the data with small counts hidden, both languages complete, charts in
the HTML and PDF, deterministic output; the approval workflow (four eyes, reject, supersede,
district staff refused, the public sees published bulletins only) on SQLite and PostgreSQL; the
command line."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import string
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pypdf
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from epiradar.config import DEFAULT_SERIAL_INTERVALS, Settings
from epiradar.model import Syndrome
from epiradar.service import auth
from epiradar.service import bulletins as svc
from epiradar.share.bulletin import (
    BulletinContent,
    RtEstimate,
    default_end,
    period_ending,
    rt_series_start,
)
from epiradar.share.bulletin_render import render_html, render_pdf
from epiradar.share.bulletin_text import LANGS, PHRASES, SYNDROME_NAMES
from epiradar.store import Store
from epiradar.trace.rt import estimate_rt
from epiradar.web.app import create_app
from web_support import (
    END,
    N_REGIONS,
    OUTBREAK_REGIONS,
    TEST_PASSWORD,
    Dataset,
    add_user,
    build_dataset,
    fill_store,
    verify_outbreak,
)

SMALL = re.compile(r"(?<![\d\-.:/W%+])([1-9])(?![\d\-.:/%])")
"""A lone digit 1..9: a small count (dates, ISO weeks, percentages and decimals such as Rt's
``1.12`` are not counts: a digit next to a decimal point is part of a decimal)."""
CJK = re.compile(r"[\u4e00-\u9fff]")
WEEK_END = dt.date(2026, 3, 29)  # END (2026-03-31) is a Tuesday: the last complete ISO week


class _Text(HTMLParser):
    """The text a reader sees (tooltips included, styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def small_counts(text: str) -> list[str]:
    return [text[max(0, m.start() - 30) : m.end() + 30] for m in SMALL.finditer(text)]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    d = build_dataset(tmp_path_factory.mktemp("bulletins"))
    verify_outbreak(d.store)
    yield d
    d.store.close()


@pytest.fixture(scope="module")
def weekly(data: Dataset) -> BulletinContent:
    return svc.build_content(data.store, data.settings, kind="weekly")


@pytest.fixture(scope="module")
def daily(data: Dataset) -> BulletinContent:
    return svc.build_content(data.store, data.settings, kind="daily")


# ---------------------------------------------------------------------------------------------
# periods


def test_periods_and_default_ends() -> None:
    assert default_end("weekly", END) == WEEK_END
    assert default_end("weekly", WEEK_END) == WEEK_END
    assert default_end("daily", END) == END
    assert default_end("daily", END, today=END) == END - dt.timedelta(days=1)
    week = period_ending("weekly", dt.date(2026, 3, 25))
    assert (week.start, week.end, week.label) == (dt.date(2026, 3, 23), WEEK_END, "2026-W13")
    assert week.previous().label == "2026-W12"
    with pytest.raises(ValueError, match="monthly"):
        period_ending("monthly", END)  # type: ignore[arg-type]


def test_an_incomplete_period_is_refused(data: Dataset) -> None:
    with pytest.raises(svc.BulletinError, match="not complete: the data end on 2026-03-31"):
        svc.build_content(data.store, data.settings, kind="weekly", end=END)


# ---------------------------------------------------------------------------------------------
# content


def _raw(data: Dataset, start: dt.date, end: dt.date, syndrome: str) -> int:
    counts = data.store.daily_counts(start, end)
    return int(counts[counts["syndrome"] == syndrome]["count"].sum())


def test_weekly_numbers_equal_the_data_where_shown(data: Dataset, weekly: BulletinContent) -> None:
    assert weekly.period.label == "2026-W13" and weekly.data_version == END
    shown = 0
    for s in weekly.syndromes:
        truth = _raw(data, weekly.period.start, weekly.period.end, s.syndrome)
        before = _raw(data, weekly.previous.start, weekly.previous.end, s.syndrome)
        if s.current is not None:
            assert s.current == truth
            shown += 1
        else:
            assert truth == 0 or truth < 10 or s.current is None
        if s.previous is not None:
            assert s.previous == before
        if s.current is not None and s.previous:
            assert s.change_pct == pytest.approx(100 * (truth - before) / before, abs=0.05)
        assert s.curve[-1].count == s.current and s.curve[-2].count == s.previous
        region_of = {r.id: r.id for r in data.regions}
        for area in s.top_areas:
            counts = data.store.daily_counts(weekly.period.start, weekly.period.end)
            rows = counts[
                (counts["syndrome"] == s.syndrome) & (counts["region_id"] == area.area_id)
            ]
            assert area.area_id in region_of and area.count == int(rows["count"].sum())
    assert shown >= 3
    gi = next(s for s in weekly.syndromes if s.syndrome == "gastrointestinal")
    assert gi.current is not None and gi.current >= 100


def test_every_shown_count_is_zero_or_at_least_ten(
    weekly: BulletinContent, daily: BulletinContent
) -> None:
    hidden = 0
    for content in (weekly, daily):
        for s in content.syndromes:
            values = [p.count for p in s.curve] + [s.current, s.previous]
            values += [a.count for a in s.top_areas]
            hidden += sum(v is None for v in values)
            assert all(v is None or v == 0 or v >= 10 for v in values), s.syndrome
            if s.current is None or s.previous is None:
                assert s.change_pct is None and s.trend == "unknown"
    assert hidden > 0  # the daily counts of this city are small: some must be hidden


def test_a_hidden_day_cannot_be_undone_by_its_weeks_total(
    data: Dataset, daily: BulletinContent
) -> None:
    """Weekly bulletins publish ISO-week totals: no week of a daily curve may hide exactly one
    day, and the hidden days of a week must not add up to a single small value."""
    checked = 0
    for s in daily.syndromes:
        weeks: dict[tuple[int, int], list] = {}
        for p in s.curve:
            weeks.setdefault(p.start.isocalendar()[:2], []).append(p)
        for days in weeks.values():
            if len(days) < 7:
                continue
            hidden = [p for p in days if p.count is None]
            assert len(hidden) != 1, (s.syndrome, days[0].start)
            if hidden:
                week_total = _raw(data, days[0].start, days[-1].start, s.syndrome)
                rest = week_total - sum(p.count for p in days if p.count is not None)
                assert rest >= len(hidden) and not (rest < 10 and len(hidden) == 1)
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("kind", ["weekly", "daily"])
def test_no_small_count_in_the_html_or_pdf_text(
    kind: str, weekly: BulletinContent, daily: BulletinContent
) -> None:
    content = weekly if kind == "weekly" else daily
    for lang in LANGS:
        html = html_text(render_html(content, lang, standalone=True))
        assert small_counts(html) == [], (lang, small_counts(html))
        text = pdf_text(render_pdf(content, lang))
        assert len(text) > 500
        assert small_counts(text) == [], (lang, small_counts(text))
    assert "<10" in html_text(render_html(daily, "en"))


def test_every_phrase_in_both_languages_with_the_same_fields() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for table in (PHRASES, SYNDROME_NAMES):
        for key, texts in table.items():
            assert set(texts) == set(LANGS), key
            assert all(t.strip() for t in texts.values()), key
            assert fields(texts["en"]) == fields(texts["zh_Hans"]), key
            assert CJK.search(texts["zh_Hans"]) or key in ("suppressed", "list.sep"), key


def test_the_chinese_bulletin_is_in_chinese(weekly: BulletinContent) -> None:
    zh = render_html(weekly, "zh_Hans", standalone=True)
    en = render_html(weekly, "en", standalone=True)
    assert '<html lang="zh-Hans">' in zh and '<html lang="en">' in en
    text = html_text(zh)
    assert len(CJK.findall(text)) > 300
    for key in ("heading.summary", "heading.alerts", "note.source", "title.weekly"):
        assert PHRASES[key]["zh_Hans"] in zh and PHRASES[key]["en"] not in zh
    assert "胃肠道" in text and "Gastrointestinal" in html_text(en)
    pdf = pypdf.PdfReader(io.BytesIO(render_pdf(weekly, "zh_Hans")))
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in pdf.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("STSong-Light" in f for f in fonts), fonts
    assert "胃肠道" in pdf_text(render_pdf(weekly, "zh_Hans"))


def test_charts_in_html_and_pdf(weekly: BulletinContent, data: Dataset) -> None:
    html = render_html(weekly, "en")
    n = sum(s.has_visits for s in weekly.syndromes)
    assert n == 4  # fever, ili, respiratory, gastrointestinal: the others had no visits
    assert html.count('<svg class="epicurve"') == n
    assert html.count('class="bar') == n * data.settings.bulletin.weekly_curve_weeks
    assert html.count('<path class="area"') == N_REGIONS
    high = re.findall(r'data-region="(R\d+)" data-level="high"', html)
    assert sorted(high) == OUTBREAK_REGIONS
    pdf = pypdf.PdfReader(io.BytesIO(render_pdf(weekly, "en")))
    assert len(pdf.pages) >= 2
    ops = b"".join(p.get_contents().get_data() for p in pdf.pages)
    assert ops.count(b" re") >= n * data.settings.bulletin.weekly_curve_weeks  # the bars
    assert ops.count(b" l") >= N_REGIONS * 4  # the map's polygons


def test_same_data_same_bulletin(data: Dataset, weekly: BulletinContent) -> None:
    again = svc.build_content(data.store, data.settings, kind="weekly")
    assert again.to_json() == weekly.to_json()
    assert BulletinContent.from_json(weekly.to_json()) == weekly
    for lang in LANGS:
        assert render_html(again, lang) == render_html(weekly, lang)
        assert render_pdf(again, lang) == render_pdf(weekly, lang)


def test_alerts_are_listed_without_counts(weekly: BulletinContent) -> None:
    assert [(a.syndrome, a.severity) for a in weekly.alerts] == [("gastrointestinal", "high")]
    # the city-wide fever alert is an unverified signal, the ILI alert closed: both left out
    assert weekly.alerts[0].areas == ["District E", "District F"]
    html = html_text(render_html(weekly, "en"))
    assert "District E" in html and "130" not in html  # the alert's observed count


# ---------------------------------------------------------------------------------------------
# Rt


def _city_rt_truth(store: Store, syndrome: str, end: dt.date) -> tuple[float, float, float, int]:
    """EpiEstim's Rt (mean, 5th and 95th percentiles) over the 7 days ending at ``end`` on the
    city's daily counts, and the window's cases, computed here from the raw counts."""
    si = DEFAULT_SERIAL_INTERVALS[Syndrome(syndrome)]
    start = rt_series_start(end, si.mean, si.sd)
    counts = store.daily_counts(start, end)
    rows = counts[counts["syndrome"] == syndrome]
    by_day = rows.groupby("date")["count"].sum()
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    series = np.array([int(by_day.get(d, 0)) for d in days], dtype=float)
    n = series.size
    row = estimate_rt(series, si_mean=si.mean, si_sd=si.sd, t_start=[n - 6], t_end=[n]).iloc[0]
    return float(row["mean"]), float(row["q05"]), float(row["q95"]), int(series[-7:].sum())


def test_rt_equals_estimate_rt_on_the_city_series(store: Store) -> None:
    """On SQLite and PostgreSQL: the Rt shown is EpiEstim's on the city's counts."""
    fill_store(store)
    verify_outbreak(store)
    settings = Settings(db="sqlite:///unused.db", pseudonym_key="test-key")
    content = svc.build_content(store, settings, kind="weekly")
    shown = {s.syndrome: s.rt for s in content.syndromes if s.rt is not None}
    assert sorted(shown) == ["fever", "gastrointestinal", "ili", "respiratory"]
    html = {lang: html_text(render_html(content, lang)) for lang in LANGS}
    for syndrome, rt in shown.items():
        mean, lower, upper, cases = _city_rt_truth(store, syndrome, WEEK_END)
        assert cases >= settings.bulletin.rt_min_cases
        assert (rt.mean, rt.lower, rt.upper) == (round(mean, 2), round(lower, 2), round(upper, 2))
        assert (rt.start, rt.end) == (dt.date(2026, 3, 23), WEEK_END)
        for lang in LANGS:
            assert f"{rt.mean:.2f}" in html[lang] and f"{rt.upper:.2f}" in html[lang]
    for s in content.syndromes:
        if s.syndrome not in shown:
            assert s.rt is None


def test_rt_needs_enough_cases_and_a_serial_interval(
    data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the week's city counts: fever 108, gastrointestinal 128, ili 64, respiratory 59
    bulletin = data.settings.bulletin.model_copy(update={"rt_min_cases": 64})
    settings = data.settings.model_copy(update={"bulletin": bulletin})
    monkeypatch.delitem(DEFAULT_SERIAL_INTERVALS, Syndrome.FEVER)  # fever: no serial interval
    content = svc.build_content(data.store, settings, kind="weekly")
    rt = {s.syndrome: s.rt for s in content.syndromes}
    assert rt["ili"] is not None  # 64 cases: just enough
    assert rt["gastrointestinal"] is not None
    assert rt["respiratory"] is None  # 59 < 64
    assert rt["fever"] is None  # enough cases, no serial interval
    assert rt["neurological"] is None and rt["severe_respiratory"] is None
    html = render_html(content, "en")
    assert html.count('class="bulletin-text bulletin-rt"') == 2
    for syndrome in ("fever", "respiratory"):
        section = re.search(
            rf'<section class="bulletin-syndrome" data-syndrome="{syndrome}">.*?</section>',
            html,
            re.S,
        ).group()
        assert "Rt" not in section
        row = re.search(rf'<tr data-syndrome="{syndrome}">.*?</tr>', html, re.S).group()
        assert '<td class="num rt">–</td>' in row


def test_rt_is_withheld_where_its_window_has_a_hidden_count(
    data: Dataset, daily: BulletinContent
) -> None:
    """The published interval gives the window's case count away to about one case: no Rt in
    a daily bulletin whose last seven days include a hidden one."""
    estimates = svc.rt_estimates(data.store, data.settings, daily.period.end)
    assert estimates["fever"] is not None  # enough cases: estimated ...
    fever = next(s for s in daily.syndromes if s.syndrome == "fever")
    assert any(p.count is None for p in fever.curve[-7:])
    assert fever.rt is None  # ... but not published
    assert all(s.rt is None for s in daily.syndromes)
    # a day whose last seven days are all shown has its Rt, the same as computed here
    day = dt.date(2026, 3, 26)
    shown = svc.build_content(data.store, data.settings, kind="daily", end=day)
    gi = next(s for s in shown.syndromes if s.syndrome == "gastrointestinal")
    assert all(p.count is not None for p in gi.curve[-7:])
    mean, lower, upper, _ = _city_rt_truth(data.store, "gastrointestinal", day)
    assert gi.rt is not None and (gi.rt.start, gi.rt.end) == (dt.date(2026, 3, 20), day)
    assert (gi.rt.mean, gi.rt.lower, gi.rt.upper) == (
        round(mean, 2),
        round(lower, 2),
        round(upper, 2),
    )
    assert gi.rt.verdict == "growing"  # the outbreak
    assert "the spread is growing" in html_text(render_html(shown, "en"))
    for lang in LANGS:
        assert small_counts(html_text(render_html(shown, lang, standalone=True))) == []
        assert small_counts(pdf_text(render_pdf(shown, lang))) == []


@pytest.mark.parametrize(
    ("lower", "upper", "verdict", "en", "zh"),
    [
        (1.05, 1.19, "growing", "the spread is growing", "传播正在扩大"),
        (0.71, 0.96, "declining", "the spread is declining", "传播正在减弱"),
        (0.90, 1.10, "uncertain", "the spread is not clearly growing or declining", "尚不能判断"),
        (1.00, 1.10, "uncertain", "the spread is not clearly growing or declining", "尚不能判断"),
        (0.90, 1.00, "uncertain", "the spread is not clearly growing or declining", "尚不能判断"),
    ],
)
def test_rt_verdict_words(
    weekly: BulletinContent, lower: float, upper: float, verdict: str, en: str, zh: str
) -> None:
    rt = RtEstimate(
        mean=round((lower + upper) / 2, 2),
        lower=lower,
        upper=upper,
        start=weekly.period.start,
        end=weekly.period.end,
    )
    assert rt.verdict == verdict
    sections = [s.model_copy(update={"rt": rt}) for s in weekly.syndromes[:1]]
    content = weekly.model_copy(update={"syndromes": sections + weekly.syndromes[1:]})
    text = {lang: html_text(render_html(content, lang)) for lang in LANGS}
    sentence = {
        "en": f"is estimated at {rt.mean:.2f} (90% credible interval {lower:.2f}–{upper:.2f}) "
        f"over the last seven days, 2026-03-23 to 2026-03-29: ",
        "zh_Hans": f"估计为 {rt.mean:.2f}（90% 可信区间 {lower:.2f}–{upper:.2f}）：",
    }
    assert sentence["en"] + en in text["en"]
    assert sentence["zh_Hans"] + zh in text["zh_Hans"]
    assert en not in text["zh_Hans"] and zh not in text["en"]


def test_rt_in_both_languages_html_and_pdf(weekly: BulletinContent) -> None:
    fever = next(s for s in weekly.syndromes if s.syndrome == "fever")
    assert fever.rt is not None
    numbers = f"{fever.rt.mean:.2f}"
    interval = f"{fever.rt.lower:.2f}–{fever.rt.upper:.2f}"
    en = html_text(render_html(weekly, "en"))
    zh = html_text(render_html(weekly, "zh_Hans"))
    assert "Rt, the average number of people each case infects, is estimated at " + numbers in en
    assert "Rt（平均每个病例传染的人数）估计为 " + numbers in zh
    for text in (en, zh):
        assert f"{numbers} ({interval})" in text  # the summary table's column
        assert "Rt" in text
    for lang in LANGS:
        text = pdf_text(render_pdf(weekly, lang))
        assert "Rt" in text and numbers in text and interval in text
    assert "传播" in pdf_text(render_pdf(weekly, "zh_Hans"))


def test_the_scanner_reads_decimals_as_decimals_not_counts() -> None:
    assert small_counts("Rt 1.12 (90% credible interval 0.95–1.30): 1.00") == []
    assert small_counts("估计为 1.01（90% 可信区间 0.82–1.23）") == []
    for text in ("7 visits", "Rt 1.12 and 3 visits", "(5)", "估计为 3 例", "1.12 7"):
        assert small_counts(text), text


# ---------------------------------------------------------------------------------------------
# workflow (SQLite and PostgreSQL)


@pytest.fixture
def app(store: Store):
    fill_store(store)
    verify_outbreak(store)
    settings = Settings(db="sqlite:///unused.db", pseudonym_key="test-key")
    return create_app(settings, store)


def _client(app, store: Store, name: str | None, role: str = "epidemiologist", **scope):
    client = TestClient(app)
    if name is not None:
        _, token = auth.create_token(store, name, role, created_by="tests", **scope)
        client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_workflow_four_eyes_publish_and_public_access(app, store: Store) -> None:
    alice = _client(app, store, "alice")
    bob = _client(app, store, "bob")
    public = _client(app, store, None)

    made = alice.post("/api/bulletins", json={"kind": "weekly"})
    assert made.status_code == 201, made.text
    draft = made.json()
    bid = draft["id"]
    assert draft["status"] == "draft" and draft["generated_by"] == "token:alice"
    assert (draft["period_start"], draft["period_end"]) == ("2026-03-23", "2026-03-29")

    # a draft is not public
    for path in (f"/public/bulletins/{bid}", f"/public/bulletins/{bid}/pdf?lang=en"):
        assert public.get(path).status_code == 404
    assert bid not in [b["id"] for b in public.get("/api/open/bulletins").json()]
    assert f"/public/bulletins/{bid}" not in public.get("/public/bulletins").text
    # ... and staff preview both languages
    page = alice.get(f"/bulletins/{bid}")
    assert page.status_code == 200 and "胃肠道" in page.text and "Gastrointestinal" in page.text
    staff_pdf = alice.get(f"/bulletins/{bid}/pdf?lang=zh_Hans")
    assert staff_pdf.headers["content-type"] == "application/pdf"
    assert staff_pdf.content.startswith(b"%PDF")
    detail = alice.get(f"/api/bulletins/{bid}").json()
    assert detail["content"]["period"]["end"] == "2026-03-29"

    # four eyes: the author cannot approve
    refused = alice.post(f"/api/bulletins/{bid}/approve")
    assert refused.status_code == 403 and "four-eyes" in refused.json()["detail"]
    assert public.get(f"/public/bulletins/{bid}").status_code == 404

    approved = bob.post(f"/api/bulletins/{bid}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "published"
    assert approved.json()["reviewed_by"] == "token:bob"
    assert bob.post(f"/api/bulletins/{bid}/approve").status_code == 409  # not a draft any more

    # the public sees it: list, page (both languages), PDF, open data
    listing = public.get("/public/bulletins")
    assert listing.status_code == 200 and f"/public/bulletins/{bid}" in listing.text
    en = public.get(f"/public/bulletins/{bid}?lang=en")
    zh = public.get(f"/public/bulletins/{bid}?lang=zh_Hans")
    assert en.status_code == zh.status_code == 200
    assert "Weekly surveillance bulletin" in en.text and "每周监测简报" in zh.text
    assert "每周监测简报" not in en.text
    pdf = public.get(f"/public/bulletins/{bid}/pdf?lang=en")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.content == svc.file(store, bid, "pdf", "en")  # what was approved, byte for byte
    assert small_counts(html_text(en.text)) == []
    opened = public.get("/api/open/bulletins").json()
    assert [b["id"] for b in opened] == [bid]
    assert opened[0]["links"]["pdf"]["zh_Hans"] == f"/public/bulletins/{bid}/pdf?lang=zh_Hans"

    # released to the public: in the audit log with what and by whom
    entries = [e for e in store.audit.entries(None, limit=50) if e.action == "bulletin.publish"]
    assert len(entries) == 1 and entries[0].actor == "token:bob"
    detail = (
        json.loads(entries[0].detail) if isinstance(entries[0].detail, str) else entries[0].detail
    )
    assert detail["audience"] == "public" and detail["period"] == ["2026-03-23", "2026-03-29"]


def test_reject_keeps_it_private_and_newer_approval_supersedes(app, store: Store) -> None:
    alice = _client(app, store, "alice")
    bob = _client(app, store, "bob")
    public = _client(app, store, None)

    first = alice.post("/api/bulletins", json={"kind": "daily", "date": "2026-03-30"}).json()
    assert bob.post(f"/api/bulletins/{first['id']}/reject", json={"reason": ""}).status_code == 422
    rejected = bob.post(f"/api/bulletins/{first['id']}/reject", json={"reason": "typo"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["reject_reason"] == "typo"
    assert public.get(f"/public/bulletins/{first['id']}").status_code == 404
    assert bob.post(f"/api/bulletins/{first['id']}/approve").status_code == 409

    older = alice.post("/api/bulletins", json={"kind": "daily", "date": "2026-03-30"}).json()
    bob.post(f"/api/bulletins/{older['id']}/approve").raise_for_status()
    newer = bob.post("/api/bulletins", json={"kind": "daily", "date": "2026-03-30"}).json()
    alice.post(f"/api/bulletins/{newer['id']}/approve").raise_for_status()
    old = alice.get(f"/api/bulletins/{older['id']}").json()
    assert old["status"] == "superseded" and old["superseded_by"] == newer["id"]
    assert [b["id"] for b in public.get("/api/open/bulletins").json()] == [newer["id"]]
    kept = public.get(f"/public/bulletins/{older['id']}")  # kept, marked
    assert kept.status_code == 200 and f"/public/bulletins/{newer['id']}" in kept.text
    statuses = {b["id"]: b["status"] for b in alice.get("/api/bulletins").json()}
    assert statuses == {
        first["id"]: "rejected",
        older["id"]: "superseded",
        newer["id"]: "published",
    }


def test_permissions(app, store: Store) -> None:
    district = _client(app, store, "district-epi", districts=[OUTBREAK_REGIONS[0]])
    viewer = _client(app, store, "viewer", role="viewer")
    anonymous = _client(app, store, None)
    author = _client(app, store, "alice")
    bid = author.post("/api/bulletins", json={"kind": "weekly"}).json()["id"]
    for client, code in ((district, 403), (viewer, 403), (anonymous, 401)):
        assert client.get("/api/bulletins").status_code == code
        assert client.post("/api/bulletins", json={"kind": "weekly"}).status_code == code
        page = client.get(f"/bulletins/{bid}", follow_redirects=False)
        if client is anonymous:  # pages send an anonymous visitor to the login page
            assert page.is_redirect and "/login" in page.headers["location"]
        else:
            assert page.status_code == code
        assert client.post(f"/api/bulletins/{bid}/approve").status_code == code
        assert client.post(f"/api/bulletins/{bid}/reject", json={"reason": "x"}).status_code == code
    assert author.get(f"/api/bulletins/{bid}").json()["status"] == "draft"
    assert anonymous.get("/public/bulletins").status_code == 200
    assert anonymous.get("/api/open/bulletins").json() == []
    assert author.get("/api/bulletins/999999").status_code == 404


def test_page_forms_generate_and_show_errors(app, store: Store) -> None:
    add_user(store, "carol", "epidemiologist")
    with TestClient(app) as client:
        client.post("/login", data={"username": "carol", "password": TEST_PASSWORD})
        page = client.get("/bulletins")
        assert page.status_code == 200 and 'id="generate-bulletin"' in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        bad = client.post(
            "/bulletins", data={"kind": "weekly", "date": "2026-03-31", "csrf_token": csrf},
            follow_redirects=False,
        )  # fmt: skip
        assert bad.status_code == 303 and "error=" in bad.headers["location"]
        made = client.post(
            "/bulletins", data={"kind": "weekly", "csrf_token": csrf}, follow_redirects=False
        )
        assert made.status_code == 303
        target = made.headers["location"]
        assert re.fullmatch(r"/bulletins/\d+", target)
        detail = client.get(target)
        assert 'id="four-eyes-note"' in detail.text
        refused = client.post(
            f"{target}/approve", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert "four-eyes" in refused.headers["location"].replace("%20", " ").replace("+", " ")
        assert client.get(f"/api/bulletins/{target.rsplit('/', 1)[1]}").json()["status"] == "draft"


# ---------------------------------------------------------------------------------------------
# command line


def test_cli_generate_approve_render(tmp_path: Path) -> None:
    from epiradar.cli import app

    data = build_dataset(tmp_path)

    verify_outbreak(data.store)
    db = data.settings.db
    runner = CliRunner()
    made = runner.invoke(app, ["bulletin", "generate", "--kind", "weekly", "--actor", "ann",
                               "--json", "--db", db])  # fmt: skip
    assert made.exit_code == 0, made.output
    bid = str(json.loads(made.stdout)["id"])
    same = runner.invoke(app, ["bulletin", "approve", bid, "--actor", "ann", "--db", db])
    assert same.exit_code == 1 and "four-eyes" in same.output
    ok = runner.invoke(app, ["--actor", "ben", "bulletin", "approve", bid, "--db", db])
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(app, ["bulletin", "list", "--json", "--db", db])
    assert '"status": "published"' in listed.stdout
    shown = runner.invoke(app, ["bulletin", "show", bid, "--db", db])
    assert '"kind": "weekly"' in shown.stdout
    for fmt in ("html", "pdf"):
        out = tmp_path / f"b.{fmt}"
        done = runner.invoke(app, ["bulletin", "render", bid, "--lang", "zh_Hans", "--format",
                                   fmt, "--out", str(out), "--db", db])  # fmt: skip
        assert done.exit_code == 0, done.output
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")
    assert "每周监测简报" in (tmp_path / "b.html").read_text(encoding="utf-8")
    other = runner.invoke(app, ["bulletin", "generate", "--kind", "daily", "--db", db])
    rid = re.search(r"bulletin (\d+)", other.output).group(1)
    rejected = runner.invoke(app, ["bulletin", "reject", rid, "--reason", "late", "--db", db])
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    missing = runner.invoke(app, ["bulletin", "show", "999", "--db", db])
    assert missing.exit_code == 2 and "not found" in missing.output
    actions = [e.action for e in data.store.audit.entries(None, limit=50)]
    assert "bulletin.approve" in actions and "bulletin.publish" in actions
    data.store.close()
