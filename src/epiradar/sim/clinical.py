"""Clinical presentation by syndrome: complaint texts (English / Chinese), temperature, ICD-10
codes, age mix, seasonality and laboratory results.

Syndrome index ``s`` follows :data:`epiradar.model.SYNDROMES`; the extra last index
:data:`OTHER` is the non-syndromic remainder of a fever clinic (injuries, headache, pain...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epiradar.model import SYNDROMES

KEYS: tuple[str, ...] = tuple(str(s) for s in SYNDROMES) + ("other",)
OTHER = len(KEYS) - 1
FEVER, ILI, RESP, SEVERE, GI, RASH, NEURO, HAEM = range(8)

# Share of all fever-clinic visits (annual mean) and negative-binomial size (overdispersion).
BASE_SHARE = np.array([0.170, 0.200, 0.190, 0.025, 0.085, 0.012, 0.006, 0.001, 0.311])
NB_SIZE = np.array([20.0, 8.0, 15.0, 20.0, 20.0, 20.0, 20.0, 20.0, 30.0])
P_FEBRILE = np.array([0.90, 0.90, 0.10, 0.70, 0.30, 0.85, 0.75, 0.90, 0.02])

# Day-of-week multipliers, Monday first (fever clinics: Monday high, weekend low).
DOW = np.array([1.22, 1.05, 1.00, 0.98, 0.97, 0.90, 0.88])
DOW = DOW / DOW.mean()
# Hour-of-day weights of fever-clinic arrivals (open 24 h, morning and evening peaks).
HOURS = np.array(
    [1, 0.7, 0.5, 0.4, 0.4, 0.5, 1, 2, 4, 5, 5, 4.5, 3, 3.5, 4, 4, 3.5, 3, 3, 3.5, 3.5, 3, 2.5, 1.5]
)
HOURS = HOURS / HOURS.sum()

AGE_EDGES = np.array([0, 1, 5, 15, 25, 45, 65, 80, 95])
_AGE_DEFAULT = [0.03, 0.07, 0.12, 0.14, 0.30, 0.20, 0.10, 0.04]
AGE_MIX = np.array(
    [
        _AGE_DEFAULT,
        [0.03, 0.10, 0.20, 0.14, 0.28, 0.15, 0.07, 0.03],  # ili
        _AGE_DEFAULT,
        [0.04, 0.06, 0.04, 0.05, 0.15, 0.22, 0.27, 0.17],  # severe respiratory: the elderly
        [0.05, 0.12, 0.12, 0.13, 0.28, 0.16, 0.10, 0.04],  # gastrointestinal
        [0.08, 0.30, 0.30, 0.12, 0.12, 0.05, 0.02, 0.01],  # rash with fever: children
        [0.05, 0.12, 0.18, 0.12, 0.20, 0.15, 0.12, 0.06],
        [0.00, 0.02, 0.05, 0.15, 0.35, 0.28, 0.12, 0.03],
        [0.02, 0.04, 0.08, 0.16, 0.36, 0.22, 0.09, 0.03],  # other: adults
    ]
)
AGE_MIX = AGE_MIX / AGE_MIX.sum(1, keepdims=True)

# Seasonal cosine (amplitude, peak day of year) per syndrome; ILI has its own flu seasons.
SEASON = np.array(
    [
        [0.15, 20],
        [0.0, 0],
        [0.30, 15],
        [0.45, 20],
        [0.35, 213],
        [0.40, 120],
        [0.30, 220],
        [0.30, 305],
        [0.05, 200],
    ]
)
FLU_PEAK_DOY, FLU_WIDTH, FLU_HEIGHT = 15, 22.0, 1.6
FLU_FLOOR, SUMMER_FLU = 0.55, 0.25


def seasonality(dates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiplier (days, syndromes) with an annual mean near 1: winter respiratory peak, a
    winter influenza season of varying timing and height (plus a small summer wave), summer
    gastrointestinal and neurological peaks, spring rash."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    years = dates.astype("datetime64[Y]")
    doy = (dates - years).astype(float)
    t = (dates - np.datetime64("1970-01-01")).astype(float)
    out = 1.0 + SEASON[:, 0] * np.cos(2 * np.pi * (doy[:, None] - SEASON[:, 1]) / 365.25)
    flu = np.full(len(t), FLU_FLOOR)
    first = int(years.min().astype(int)) + 1970 - 1
    for year in range(first, int(years.max().astype(int)) + 1970 + 2):
        peak = (np.datetime64(f"{year}-01-01") - np.datetime64("1970-01-01")).astype(float)
        peak += FLU_PEAK_DOY + rng.normal(0, 12)
        height = FLU_HEIGHT * rng.lognormal(0, 0.25)
        flu += height * np.exp(-0.5 * ((t - peak) / FLU_WIDTH) ** 2)
        summer = peak + 185 + rng.normal(0, 10)
        flu += SUMMER_FLU * np.exp(-0.5 * ((t - summer) / 20.0) ** 2)
    mean_flu = (
        FLU_FLOOR + (FLU_HEIGHT * FLU_WIDTH + SUMMER_FLU * 20.0) * np.sqrt(2 * np.pi) / 365.25
    )
    out[:, ILI] = flu / mean_flu
    return out


# Complaint templates: {syndrome: {"febrile"/"afebrile": {"en"/"zh"/"mix": [...]}}}.
# "{d}" expands to 1-3 days. Words are the common clinical ones, negations included.
_FEVER = {
    "en": [
        "fever",
        "fever for {d} days",
        "high fever",
        "fever and chills",
        "fever, fatigue",
        "fever with body aches",
        "intermittent fever {d} days",
        "fever since yesterday",
        "febrile, malaise",
    ],
    "zh": [
        "发热",
        "发热{d}天",
        "高热",
        "发烧{d}天",
        "发热伴寒战",
        "发热伴乏力",
        "反复发热{d}天",
        "发烧，全身酸痛",
    ],
    "mix": ["发热 fever {d} days", "fever 发烧", "high fever 高热"],
}
_ILI = {
    "en": [
        "fever and cough",
        "fever, cough, sore throat",
        "fever with sore throat {d} days",
        "flu-like symptoms, fever, cough",
        "fever, runny nose, cough",
        "fever and sore throat, muscle aches",
        "cough and fever for {d} days",
    ],
    "zh": [
        "发热伴咳嗽",
        "发热、咽痛{d}天",
        "发烧，咳嗽，咽痛",
        "发热伴咽痛、肌肉酸痛",
        "咳嗽发热{d}天",
        "发热、流涕、咳嗽",
    ],
    "mix": ["发热 cough", "fever 咳嗽 {d}天", "发烧 sore throat"],
}
_RESP = {
    "en": [
        "cough",
        "cough for {d} days",
        "sore throat",
        "runny nose and cough",
        "cough with sputum",
        "cough, no fever",
        "sore throat, denies fever",
        "cough, denies fever",
        "nasal congestion, sore throat",
    ],
    "zh": [
        "咳嗽",
        "咳嗽{d}天",
        "咽痛",
        "咳嗽咳痰",
        "流涕、咳嗽",
        "咳嗽，无发热",
        "咽痛，否认发热",
        "鼻塞、咽痛",
        "咳嗽{d}天，无发热",
    ],
    "mix": ["咳嗽 no fever", "sore throat 咽痛", "cough 咳痰"],
}
_SEVERE = {
    "en": [
        "fever, cough, shortness of breath",
        "shortness of breath",
        "difficulty breathing, fever",
        "pneumonia",
        "cough and shortness of breath for {d} days",
        "fever, chest tightness, shortness of breath",
        "suspected pneumonia, fever",
    ],
    "zh": [
        "发热伴呼吸困难",
        "气促{d}天",
        "呼吸困难",
        "咳嗽、气促、发热",
        "肺炎",
        "发热、胸闷、气促",
        "咳嗽伴呼吸困难{d}天",
    ],
    "mix": ["发热 shortness of breath", "pneumonia 肺炎", "呼吸困难 cough"],
}
_GI_FEBRILE = {
    "en": [
        "fever, diarrhoea and vomiting",
        "diarrhea with fever",
        "vomiting and diarrhoea, fever {d} days",
        "fever, abdominal pain, diarrhoea",
    ],
    "zh": ["发热伴腹泻", "腹泻、呕吐伴发热", "发烧、腹痛、腹泻{d}天"],
    "mix": ["发热 diarrhea", "vomiting 腹泻 发热"],
}
_GI = {
    "en": [
        "diarrhoea",
        "diarrhea {d} days",
        "vomiting",
        "vomiting and diarrhoea",
        "diarrhoea, no fever",
        "abdominal cramps and diarrhea",
        "nausea and vomiting, denies fever",
        "watery diarrhoea x{d} days",
    ],
    "zh": [
        "腹泻",
        "腹泻{d}天",
        "呕吐",
        "呕吐、腹泻",
        "腹泻，无发热",
        "腹痛腹泻",
        "恶心呕吐，否认发热",
    ],
    "mix": ["腹泻 diarrhea", "vomiting 呕吐", "diarrhoea 腹泻{d}天"],
}
_RASH = {
    "en": [
        "fever with rash",
        "rash and fever {d} days",
        "fever, maculopapular rash",
        "fever, rash on trunk",
        "fever and rash, red eyes",
    ],
    "zh": ["发热伴皮疹", "发热、皮疹{d}天", "发烧伴全身皮疹", "皮疹伴发热"],
    "mix": ["发热 rash", "fever 皮疹"],
}
_NEURO = {
    "en": [
        "fever, headache, stiff neck",
        "confusion and fever",
        "seizure with fever",
        "fever, severe headache, stiff neck",
        "fever, confusion, drowsy",
    ],
    "zh": [
        "发热伴颈项强直",
        "发热、意识障碍",
        "发热伴抽搐",
        "头痛、颈项强直、发热",
        "嗜睡、意识障碍",
    ],
    "mix": ["发热 stiff neck", "fever, seizure 抽搐"],
}
_HAEM = {
    "en": [
        "fever with bleeding gums",
        "fever, petechiae and bleeding",
        "high fever, nosebleed, bleeding",
        "fever, bloody urine, bleeding",
    ],
    "zh": ["发热伴出血", "高热、牙龈出血", "发热、皮肤出血点", "发热伴鼻出血"],
    "mix": ["发热 bleeding", "fever 出血"],
}
_OTHER = {
    "en": [
        "headache",
        "back pain",
        "ankle sprain",
        "laceration of hand",
        "dizziness",
        "chest pain",
        "fall, knee injury",
        "toothache",
        "follow-up visit",
        "medication refill",
        "insomnia",
        "headache, no fever",
        "back pain for {d} days",
        "burn on forearm",
        "dog bite",
        "palpitations",
    ],
    "zh": [
        "头痛",
        "腰痛",
        "踝关节扭伤",
        "手部割伤",
        "头晕",
        "胸痛",
        "跌倒致膝部外伤",
        "牙痛",
        "失眠",
        "复诊取药",
        "头痛，无发热",
        "腰背痛{d}天",
        "烫伤",
        "犬咬伤",
        "心悸",
    ],
    "mix": ["头痛 headache", "back pain 腰痛", "头晕 dizziness"],
}
COMPLAINTS = [
    (_FEVER, _FEVER),
    (_ILI, _ILI),
    (_RESP, _RESP),
    (_SEVERE, _SEVERE),
    (_GI_FEBRILE, _GI),
    (_RASH, _RASH),
    (_NEURO, _NEURO),
    (_HAEM, _HAEM),
    (_OTHER, _OTHER),
]  # (febrile, afebrile) per syndrome
LANGS = ("en", "zh", "mix")
LANG_SHARE = np.array([0.45, 0.45, 0.10])

# ICD-10 codes and weights per syndrome.
CODES: list[list[tuple[str, float]]] = [
    [("R50.9", 0.85), ("R50.8", 0.12), ("A90", 0.03)],
    [("J11.1", 0.45), ("J06.9", 0.35), ("J10.1", 0.15), ("J02.9", 0.05)],
    [("J06.9", 0.50), ("J20.9", 0.25), ("J02.9", 0.15), ("J40", 0.10)],
    [("J18.9", 0.60), ("J12.9", 0.20), ("J15.9", 0.10), ("J96.0", 0.10)],
    [("A09", 0.55), ("A08.1", 0.15), ("A08.0", 0.10), ("K52.9", 0.20)],
    [("B05.9", 0.25), ("B01.9", 0.35), ("B09", 0.25), ("B08.4", 0.15)],
    [("A87.9", 0.50), ("G04.9", 0.30), ("A83.0", 0.10), ("G03.9", 0.10)],
    [("A98.5", 0.60), ("A91", 0.40)],
    [
        ("S93.4", 0.15),
        ("S61.9", 0.15),
        ("R51", 0.20),
        ("M54.5", 0.20),
        ("R42", 0.10),
        ("K08.8", 0.05),
        ("G47.0", 0.05),
        ("R07.4", 0.10),
    ],
]
# Non-syndromic complaints carry the code of what they describe (first keyword that matches).
OTHER_CODES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("headache", "头痛"), "R51"),
    (("back pain", "腰痛", "腰背痛"), "M54.5"),
    (("sprain", "扭伤"), "S93.4"),
    (("laceration", "割伤"), "S61.9"),
    (("dizziness", "头晕"), "R42"),
    (("chest pain", "胸痛"), "R07.4"),
    (("knee", "膝"), "S80.0"),
    (("toothache", "牙痛"), "K08.8"),
    (("insomnia", "失眠"), "G47.0"),
    (("burn", "烫伤"), "T30.0"),
    (("dog bite", "犬咬伤"), "T14.1"),
    (("palpitations", "心悸"), "R00.2"),
    (("follow-up", "refill", "复诊"), "Z09"),
)
P_CODED = 0.6
P_SECOND_FEVER_CODE = 0.2

# Laboratory results: (probability a visit has one, results).
LABS: list[tuple[float, list[str]]] = [
    (0.05, ["blood culture pending", "Dengue NS1 antigen negative", "血常规：白细胞升高"]),
    (
        0.12,
        [
            "Influenza A antigen positive",
            "Influenza B antigen positive",
            "Influenza antigen negative",
            "甲型流感抗原阳性",
            "流感抗原阴性",
        ],
    ),
    (0.03, ["Influenza antigen negative", "SARS-CoV-2 antigen negative"]),
    (
        0.20,
        [
            "SARS-CoV-2 PCR negative",
            "Mycoplasma pneumoniae IgM positive",
            "新冠核酸阴性",
            "CRP 86 mg/L",
        ],
    ),
    (
        0.08,
        [
            "Norovirus GII PCR positive",
            "Rotavirus antigen positive",
            "stool culture pending",
            "诺如病毒核酸阳性",
        ],
    ),
    (0.15, ["Measles IgM pending", "Varicella clinical diagnosis", "EV71 RNA positive"]),
    (0.30, ["CSF WBC elevated", "CSF culture pending"]),
    (0.40, ["Hantavirus IgM positive", "Dengue NS1 antigen positive", "pending"]),
    (0.0, []),
]
# Results reported for outbreak cases (the outbreak pathogen), by syndrome.
OUTBREAK_LABS: dict[int, tuple[float, list[str]]] = {
    GI: (0.25, ["Norovirus GII PCR positive", "诺如病毒GII型核酸阳性"]),
    ILI: (0.20, ["Influenza A(H3N2) PCR positive", "甲型H3N2流感核酸阳性"]),
    SEVERE: (0.30, ["Novel coronavirus PCR positive", "pending", "新型冠状病毒核酸阳性"]),
    RESP: (0.15, ["RSV antigen positive"]),
    FEVER: (0.20, ["Dengue NS1 antigen positive"]),
    RASH: (0.30, ["Measles IgM positive", "麻疹IgM阳性"]),
    NEURO: (0.30, ["Japanese encephalitis IgM positive"]),
    HAEM: (0.40, ["Hantavirus IgM positive"]),
}

# Incubation period (lognormal median in days, log-sd) per syndrome, for point-source exposure.
INCUBATION: list[tuple[float, float]] = [
    (3.0, 0.5),
    (1.8, 0.35),
    (2.5, 0.4),
    (5.0, 0.4),
    (1.4, 0.45),
    (10.0, 0.2),
    (7.0, 0.3),
    (10.0, 0.4),
    (2.0, 0.5),
]


def _expand(template: str) -> list[str]:
    if "{d}" not in template:
        return [template]
    out = [template.format(d=d) for d in (1, 2, 3)]
    return [s.replace("1 days", "1 day") for s in out]


@dataclass(frozen=True)
class ComplaintTable:
    """All complaint strings flattened, with (offset, length) per (syndrome, febrile, language)."""

    texts: np.ndarray
    offset: np.ndarray  # (syndromes, 2, languages)
    length: np.ndarray
    code: np.ndarray  # ICD-10 code a text implies ("" when the syndrome's codes apply)


def complaint_table() -> ComplaintTable:
    texts: list[str] = []
    codes: list[str] = []
    offset = np.zeros((len(KEYS), 2, len(LANGS)), dtype=np.int64)
    length = np.zeros_like(offset)
    for s, pair in enumerate(COMPLAINTS):
        for f, pools in enumerate(pair):  # 0 = febrile, 1 = afebrile
            for li, lang in enumerate(LANGS):
                pool = [t for tpl in pools[lang] for t in _expand(tpl)]
                offset[s, f, li], length[s, f, li] = len(texts), len(pool)
                texts.extend(pool)
                codes.extend(_implied_code(t) if s == OTHER else "" for t in pool)
    string = np.dtypes.StringDType()
    return ComplaintTable(
        np.array(texts, dtype=string), offset, length, np.array(codes, dtype=string)
    )


def _implied_code(text: str) -> str:
    low = text.lower()
    return next((code for words, code in OTHER_CODES if any(w in low for w in words)), "")


def code_table() -> tuple[np.ndarray, np.ndarray]:
    """(codes, cumulative weights per syndrome over that code list) for vectorised sampling."""
    codes = sorted({c for pool in CODES for c, _ in pool} | {c for _, c in OTHER_CODES})
    weights = np.zeros((len(KEYS), len(codes)))
    for s, pool in enumerate(CODES):
        for c, w in pool:
            weights[s, codes.index(c)] = w
    return np.array(codes, dtype=np.dtypes.StringDType()), weights


def lab_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(texts, offset, length, probability) of baseline lab results per syndrome."""
    texts: list[str] = []
    offset = np.zeros(len(KEYS), dtype=np.int64)
    length = np.zeros(len(KEYS), dtype=np.int64)
    prob = np.zeros(len(KEYS))
    for s, (p, pool) in enumerate(LABS):
        offset[s], length[s], prob[s] = len(texts), len(pool), p
        texts.extend(pool)
    for s in sorted(OUTBREAK_LABS):  # outbreak results appended after the baseline ones
        texts.extend(OUTBREAK_LABS[s][1])
    return np.array(texts, dtype=np.dtypes.StringDType()), offset, length, prob


def outbreak_lab_offset(syndrome: int) -> int:
    """Index in :func:`lab_table` texts of the first outbreak result of ``syndrome``."""
    start = sum(len(pool) for _, pool in LABS)
    for s in sorted(OUTBREAK_LABS):
        if s == syndrome:
            return start
        start += len(OUTBREAK_LABS[s][1])
    raise KeyError(syndrome)
