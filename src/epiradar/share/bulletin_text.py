"""The phrases of a bulletin in English and Simplified Chinese, all in one place.

A bulletin is a document, not part of the user interface: its text does not go through the
gettext catalogs of ``web/locale``, so a published bulletin reads the same whatever the
catalogs become. Every key of :data:`PHRASES` has both languages (a test checks it); numbers
and names are filled in with ``str.format`` fields.
"""

from __future__ import annotations

from typing import Final

LANGS: Final = ("en", "zh_Hans")
"""The languages of every bulletin (locale codes as in ``web.i18n.LOCALES``)."""
HTML_LANG: Final = {"en": "en", "zh_Hans": "zh-Hans"}

PHRASES: Final[dict[str, dict[str, str]]] = {
    # titles and headings
    "title.daily": {"en": "Daily surveillance bulletin", "zh_Hans": "每日监测简报"},
    "title.weekly": {"en": "Weekly surveillance bulletin", "zh_Hans": "每周监测简报"},
    "publisher": {
        "en": "Fever-clinic syndromic surveillance",
        "zh_Hans": "发热门诊症候群监测",
    },
    "period.daily": {"en": "Day {start}", "zh_Hans": "{start} 当日"},
    "period.weekly": {
        "en": "Week {week} ({start} to {end})",
        "zh_Hans": "{week}周（{start} 至 {end}）",
    },
    "data_version": {"en": "Data up to {date}", "zh_Hans": "数据截至 {date}"},
    "heading.summary": {"en": "Summary", "zh_Hans": "概要"},
    "heading.alerts": {"en": "Open alerts", "zh_Hans": "未关闭的预警"},
    "heading.map": {"en": "Areas with open alerts", "zh_Hans": "有未关闭预警的地区"},
    "heading.syndromes": {"en": "Syndromes", "zh_Hans": "症候群"},
    "heading.notes": {"en": "About this bulletin", "zh_Hans": "关于本简报"},
    # table headers
    "col.syndrome": {"en": "Syndrome", "zh_Hans": "症候群"},
    "col.current.daily": {"en": "This day", "zh_Hans": "当日"},
    "col.current.weekly": {"en": "This week", "zh_Hans": "本周"},
    "col.previous.daily": {"en": "Day before", "zh_Hans": "前一日"},
    "col.previous.weekly": {"en": "Week before", "zh_Hans": "上一周"},
    "col.change": {"en": "Change", "zh_Hans": "变化"},
    "col.trend": {"en": "Trend", "zh_Hans": "趋势"},
    "col.areas": {"en": "Areas", "zh_Hans": "地区"},
    "col.severity": {"en": "Severity", "zh_Hans": "严重程度"},
    "col.since": {"en": "Since", "zh_Hans": "开始日期"},
    "col.rt": {"en": "Rt (90% interval)", "zh_Hans": "Rt（90%区间）"},
    # trend words
    "trend.sharp_up": {"en": "rising sharply", "zh_Hans": "快速上升"},
    "trend.up": {"en": "rising", "zh_Hans": "上升"},
    "trend.stable": {"en": "stable", "zh_Hans": "平稳"},
    "trend.down": {"en": "falling", "zh_Hans": "下降"},
    "trend.sharp_down": {"en": "falling sharply", "zh_Hans": "快速下降"},
    "trend.unknown": {"en": "too few to compare", "zh_Hans": "数量过少，无法比较"},
    # severities
    "severity.low": {"en": "low", "zh_Hans": "低"},
    "severity.medium": {"en": "medium", "zh_Hans": "中"},
    "severity.high": {"en": "high", "zh_Hans": "高"},
    # numbers
    "suppressed": {"en": "<{min}", "zh_Hans": "<{min}"},
    "suppressed.long": {"en": "fewer than {min}", "zh_Hans": "少于{min}"},
    "whole_city": {"en": "whole city", "zh_Hans": "全市"},
    "unknown_area": {"en": "residence unknown", "zh_Hans": "居住地不详"},
    "list.sep": {"en": ", ", "zh_Hans": "、"},
    # summary sentences
    "summary.visits.daily": {
        "en": "{syndrome}: {count} visits on {date}",
        "zh_Hans": "{syndrome}：{date} 就诊 {count} 例",
    },
    "summary.visits.weekly": {
        "en": "{syndrome}: {count} visits in week {week}",
        "zh_Hans": "{syndrome}：{week}周就诊 {count} 例",
    },
    "summary.trend.daily": {
        "en": "{trend} ({change}) from {previous} the day before.",
        "zh_Hans": "较前一日（{previous} 例）{trend}（{change}）。",
    },
    "summary.trend.weekly": {
        "en": "{trend} ({change}) from {previous} the week before.",
        "zh_Hans": "较上一周（{previous} 例）{trend}（{change}）。",
    },
    "summary.no_trend": {
        "en": "too few visits to compare with the previous period.",
        "zh_Hans": "数量过少，无法与上一期比较。",
    },
    "summary.rt": {
        "en": "Rt, the average number of people each case infects, is estimated at {mean} "
        "({level}% credible interval {lower}–{upper}) over the last seven days, {start} to "
        "{end}: {verdict}.",
        "zh_Hans": "近七天（{start} 至 {end}）的 Rt（平均每个病例传染的人数）估计为 {mean}"
        "（{level}% 可信区间 {lower}–{upper}）：{verdict}。",
    },
    "rt.growing": {"en": "the spread is growing", "zh_Hans": "传播正在扩大"},
    "rt.declining": {"en": "the spread is declining", "zh_Hans": "传播正在减弱"},
    "rt.uncertain": {
        "en": "the spread is not clearly growing or declining",
        "zh_Hans": "尚不能判断传播是在扩大还是减弱",
    },
    "summary.top": {"en": "Most visits: {areas}.", "zh_Hans": "就诊最多的地区：{areas}。"},
    "summary.alerts": {
        "en": "Open alerts for {syndromes}: see the table below.",
        "zh_Hans": "以下症候群有未关闭的预警：{syndromes}，详见下表。",
    },
    "summary.no_alerts": {
        "en": "No open alerts in this period.",
        "zh_Hans": "本期没有未关闭的预警。",
    },
    "summary.lead.daily": {
        "en": "Visits to fever clinics on {date}, by syndrome, compared with the day before.",
        "zh_Hans": "{date} 发热门诊就诊情况（按症候群），与前一日比较。",
    },
    "summary.lead.weekly": {
        "en": "Visits to fever clinics in week {week}, by syndrome, compared with the week before.",
        "zh_Hans": "{week}周发热门诊就诊情况（按症候群），与上一周比较。",
    },
    # charts
    "chart.epicurve.daily": {
        "en": "Daily visits, last {n} days",
        "zh_Hans": "近 {n} 天每日就诊数",
    },
    "chart.epicurve.weekly": {
        "en": "Weekly visits, last {n} weeks",
        "zh_Hans": "近 {n} 周每周就诊数",
    },
    "chart.suppressed": {
        "en": "grey marks: fewer than {min} visits, not shown",
        "zh_Hans": "灰色标记：少于{min}例，不显示具体数字",
    },
    "chart.map.none": {"en": "no open alert", "zh_Hans": "无未关闭预警"},
    # notes
    "note.source": {
        "en": "Source: visits to the city's fever clinics, grouped into syndromes from chief "
        "complaints and diagnoses. These are visits, not confirmed cases.",
        "zh_Hans": "数据来源：本市发热门诊就诊记录，根据主诉和诊断归入症候群。"
        "所列为就诊人次，并非确诊病例。",
    },
    "note.suppression": {
        "en": "To protect privacy, counts above zero and below {min} are not shown (written as "
        "<{min}), and some other counts are hidden so that they cannot be worked out from totals.",
        "zh_Hans": "为保护隐私，大于零且小于{min}的数字不予显示（记为 <{min}），"
        "部分其他数字也被隐藏，以免通过合计推算。",
    },
    "note.alerts": {
        "en": "An alert means that visits are higher than expected; it is being looked into "
        "and is not by itself a confirmed outbreak.",
        "zh_Hans": "预警表示就诊数高于预期，正在核实中，本身并不代表已确认的暴发。",
    },
    "note.rt": {
        "en": "Rt is estimated from the city's daily visits of each syndrome with the method of "
        "Cori et al. (2013) and the syndrome's serial interval; it is given only when the last "
        "seven days had at least {min} visits and their counts are shown. An interval that "
        "contains 1.00 means the data cannot yet tell growth from decline.",
        "zh_Hans": "Rt 依据各症候群全市每日就诊数，采用 Cori 等（2013）的方法及该症候群的"
        "序列间隔估计；仅在近七天就诊数不少于 {min} 例且各日数字均已显示时给出。"
        "区间包含 1.00 表示目前的数据尚不能判断传播是在扩大还是减弱。",
    },
    "no_data": {"en": "No visits recorded.", "zh_Hans": "无就诊记录。"},
}
"""Phrase key -> language -> text."""

SYNDROME_NAMES: Final[dict[str, dict[str, str]]] = {
    "fever": {"en": "Fever", "zh_Hans": "发热"},
    "ili": {"en": "Influenza-like illness", "zh_Hans": "流感样病例"},
    "respiratory": {"en": "Respiratory", "zh_Hans": "呼吸道"},
    "severe_respiratory": {"en": "Severe respiratory", "zh_Hans": "严重呼吸道"},
    "gastrointestinal": {"en": "Gastrointestinal", "zh_Hans": "胃肠道"},
    "rash_fever": {"en": "Rash with fever", "zh_Hans": "发热伴皮疹"},
    "neurological": {"en": "Neurological", "zh_Hans": "神经系统"},
    "haemorrhagic": {"en": "Haemorrhagic", "zh_Hans": "出血性"},
    "all": {"en": "All visits", "zh_Hans": "全部就诊"},
}


def check_lang(lang: str) -> str:
    """``lang`` if a bulletin has it, else a ValueError naming the languages there are."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    return lang


def phrase(key: str, lang: str, /, **fields: object) -> str:
    """The phrase ``key`` in ``lang`` with ``fields`` filled in."""
    try:
        text = PHRASES[key][check_lang(lang)]
    except KeyError:
        raise KeyError(f"bulletin phrase {key!r} has no text in {lang!r}") from None
    return text.format(**fields) if fields else text


def syndrome_name(code: str, lang: str) -> str:
    """A syndrome code's name in ``lang`` (the code itself when unknown)."""
    return SYNDROME_NAMES.get(code, {}).get(check_lang(lang), code)
