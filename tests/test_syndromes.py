"""Chief-complaint syndrome classifier: labelled cases, normalisation, negation, rules, batch."""

from __future__ import annotations

import copy
import csv
import math
import random
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from epiradar.ingest.syndromes import (
    RuleError,
    SyndromeClassifier,
    load_default_classifier,
    load_rules,
    normalize,
)
from epiradar.model import SYNDROMES, Syndrome, mask_of, syndromes_of

CASES_FILE = Path(__file__).parent / "data" / "syndrome_cases.csv"


def _read_cases() -> list[dict[str, str]]:
    with CASES_FILE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


CASES = _read_cases()


def _codes(cell: str) -> list[str]:
    return [c for c in cell.split(";") if c]


def _temperature(cell: str) -> float | None:
    return float(cell) if cell else None


@pytest.fixture(scope="module")
def classifier() -> SyndromeClassifier:
    return SyndromeClassifier()


def _names(mask: int) -> set[str]:
    return {s.value for s in syndromes_of(mask)}


# -- the labelled table -----------------------------------------------------------------------


def test_case_table_is_broad() -> None:
    assert len(CASES) >= 120
    labels = [set(_codes(row["expected"])) for row in CASES]
    for syndrome in SYNDROMES:
        assert sum(syndrome.value in lab for lab in labels) >= 3, syndrome
    assert sum(not lab for lab in labels) >= 20  # non-syndromic and negated complaints
    assert sum(bool(row["diagnosis_codes"]) and not row["complaint"] for row in CASES) >= 20
    assert sum(bool(row["temperature_c"]) for row in CASES) >= 10
    chinese = [row for row in CASES if any("\u4e00" <= ch <= "\u9fff" for ch in row["complaint"])]
    assert len(chinese) >= 30


@pytest.mark.parametrize(
    "row", CASES, ids=[f"{i}:{r['complaint'] or r['diagnosis_codes']}" for i, r in enumerate(CASES)]
)
def test_labelled_case(classifier: SyndromeClassifier, row: dict[str, str]) -> None:
    codes, temperature = _codes(row["diagnosis_codes"]), _temperature(row["temperature_c"])
    got = classifier.classify(row["complaint"], codes, temperature)
    expected = mask_of(_codes(row["expected"]))
    assert got == expected, (
        f"expected {sorted(_names(expected))}, got {sorted(_names(got))}: "
        f"{classifier.explain(row['complaint'], codes, temperature)}"
    )


# -- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("", ""),
        ("  Fever   AND\tCough \n", "fever and cough"),
        ("ＦＥＶＥＲ，ＣＯＵＧＨ；３９℃", "fever,cough;39°c"),
        ("发热。咳嗽、咽痛！", "发热.咳嗽/咽痛!"),
        ("can’t breathe “SOB”", 'can\'t breathe "sob"'),
        ("（－）\u3000发热", "(-) 发热"),
    ],
)
def test_normalize(raw: str | None, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_is_idempotent() -> None:
    for row in CASES:
        once = normalize(row["complaint"])
        assert normalize(once) == once


# -- negation -----------------------------------------------------------------------------------

FEV, ILI, RESP, GI, RASH = (
    Syndrome.FEVER.bit,
    Syndrome.ILI.bit,
    Syndrome.RESPIRATORY.bit,
    Syndrome.GASTROINTESTINAL.bit,
    Syndrome.RASH_FEVER.bit,
)


@pytest.mark.parametrize(
    ("complaint", "expected"),
    [
        ("no fever, cough", RESP),  # the comma ends the scope
        ("no fever or cough", 0),  # one clause: both negated
        ("no fever; cough", RESP),
        ("no fever. cough", RESP),
        ("denies fever but coughing", RESP),
        ("denies fever however cough", RESP),
        ("cough, no fever", RESP),  # a trigger negates only what follows it
        ("fever and cough denied", FEV),  # a post trigger negates the term right before it
        ("无发热，咳嗽", RESP),
        ("无发热、咳嗽", 0),  # enumeration comma keeps the scope open
        ("否认发热但咳嗽", RESP),
        ("不发烧;咳嗽", RESP),
        ("皮疹(-)，发热", FEV),
        ("发热，皮疹阴性", FEV),
        ("无明显诱因出现发热伴咳嗽", FEV | ILI | RESP),  # pseudo-negation
        ("全身不适伴发热", FEV),
        ("fever, no improvement with cough syrup", FEV),
        ("could not breathe", Syndrome.SEVERE_RESPIRATORY.bit | RESP),  # trigger inside a term
        ("no fever yesterday, fever today", FEV),  # one positive mention suffices
        ("no vomiting, diarrhoea since morning", GI),
        ("rash, afebrile", 0),
        ("rash, fever", FEV | RASH),
    ],
)
def test_negation_scope(classifier: SyndromeClassifier, complaint: str, expected: int) -> None:
    assert classifier.classify(complaint) == expected, classifier.explain(complaint)


def test_negation_applies_to_text_only(classifier: SyndromeClassifier) -> None:
    assert classifier.classify("denies fever", (), 38.4) == FEV
    assert classifier.classify("no fever", ["R50.9"]) == FEV


# -- conventions --------------------------------------------------------------------------------


def test_sub_syndromes_imply_broader_ones(classifier: SyndromeClassifier) -> None:
    ili = _names(classifier.classify("fever and sore throat"))
    assert ili == {"fever", "ili", "respiratory"}
    assert "respiratory" in _names(classifier.classify("pneumonia"))
    assert "fever" in _names(classifier.classify("", ["A91"]))
    assert "fever" in _names(classifier.classify("rash", (), 38.0))


def test_codes_accept_strings_and_variants(classifier: SyndromeClassifier) -> None:
    ili = FEV | ILI | RESP
    assert classifier.classify(None, "J10.1; R50.9") == ili
    assert classifier.classify(None, ["j10.1"]) == ili
    assert classifier.classify(None, [" J101 "]) == ili
    assert classifier.classify(None, ["garbage", "", "12"]) == 0
    assert classifier.classify(None, ["J08"]) == 0  # just outside J09-J11


def test_fever_threshold(classifier: SyndromeClassifier) -> None:
    assert classifier.classify(None, (), 38.0) == FEV
    assert classifier.classify(None, (), 37.99) == 0
    assert classifier.classify(None, (), math.nan) == 0
    assert classifier.classify("temp 100.4F") == FEV
    assert classifier.classify("temp 99.5F") == 0
    assert classifier.classify("aged 39, cough") == RESP  # a number without unit is no temperature


# -- explanations -------------------------------------------------------------------------------


def test_explain_names_rules(classifier: SyndromeClassifier) -> None:
    lines = classifier.explain("发热 no cough, 腹泻", ["J18.9"], 38.6)
    assert "fever: '发热'" in lines
    assert "not cough: 'no cough'" in lines
    assert "diarrhoea_vomiting: '腹泻'" in lines
    assert "dyspnoea_pneumonia: code J18.9 (J12-J18 pneumonia)" in lines
    assert "fever: measured 38.6 °C >= 38.0 °C" in lines
    assert "syndrome severe_respiratory: dyspnoea_pneumonia" in lines
    assert "syndrome respiratory: implied by severe_respiratory" in lines
    assert not any(line.startswith("syndrome ili") for line in lines)


def test_explain_agrees_with_classify(classifier: SyndromeClassifier) -> None:
    for row in CASES:
        codes, temperature = _codes(row["diagnosis_codes"]), _temperature(row["temperature_c"])
        lines = classifier.explain(row["complaint"], codes, temperature)
        explained = {
            line.split(":")[0].removeprefix("syndrome ")
            for line in lines
            if line.startswith("syndrome ")
        }
        assert explained == _names(classifier.classify(row["complaint"], codes, temperature))


# -- rules and version --------------------------------------------------------------------------


def test_version_comes_from_rule_file(classifier: SyndromeClassifier) -> None:
    rules = load_rules()
    assert classifier.version == rules["version"]
    assert classifier.version.count(".") == 2
    bumped = copy.deepcopy(rules)
    bumped["version"] = "9.9.9"
    assert SyndromeClassifier(bumped).version == "9.9.9"


def test_rule_file_is_packaged_and_default_is_shared() -> None:
    default = load_default_classifier()
    assert default is load_default_classifier()
    assert default.version == load_rules()["version"]


def test_rules_can_be_loaded_from_a_file(tmp_path: Path) -> None:
    packaged = resources.files("epiradar.ingest").joinpath("syndrome_rules.toml")
    text = packaged.read_text(encoding="utf-8")
    text = text.replace("en = ['fevers?", "en = ['calentura', 'fevers?", 1)
    text = text.replace(f'version = "{load_rules()["version"]}"', 'version = "test-1"', 1)
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    custom = SyndromeClassifier.from_file(path)
    assert custom.version == "test-1"
    assert custom.classify("calentura") == FEV
    assert load_default_classifier().classify("calentura") == 0


def _broken(edit: Any) -> dict[str, Any]:
    rules = copy.deepcopy(load_rules())
    edit(rules)
    return rules


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.pop("version"), "version"),
        (lambda r: r["syndromes"].pop("ili"), "syndromes"),
        (lambda r: r["syndromes"]["ili"].update(when=[["fever", "sneeze"]]), "unknown concept"),
        (lambda r: r["concepts"]["cough"].update(en=["cough("]), "concepts.cough"),
        (lambda r: r["codes"][0].update(match=["J11-J09"]), "bad code range"),
        (lambda r: r["syndromes"]["ili"].update(implies=["flu"]), "implies"),
    ],
)
def test_malformed_rules_are_rejected(edit: Any, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        SyndromeClassifier(_broken(edit))


# -- batch --------------------------------------------------------------------------------------


def test_classify_many_agrees_with_classify(classifier: SyndromeClassifier) -> None:
    rng = random.Random(20240601)
    complaints: list[str | None] = [row["complaint"] for row in CASES] + [None, "", "   "]
    code_choices: list[Any] = [[], None, ["J10.1"], ("R50.9", "A09"), "B05.9;R50.9", ["xx"]]
    n = 3000
    rows_complaints = [
        rng.choice(complaints) if rng.random() < 0.8 else f"{rng.choice(CASES)['complaint']} x"
        for _ in range(n)
    ]
    rows_codes = [rng.choice(code_choices) for _ in range(n)]
    rows_temps = [rng.choice([None, math.nan, 36.5, 37.99, 38.0, 39.4]) for _ in range(n)]
    fresh = SyndromeClassifier()  # no warm caches
    batch = fresh.classify_many(rows_complaints, rows_codes, rows_temps)
    assert batch.dtype == np.int64
    assert batch.shape == (n,)
    single = [
        classifier.classify(c, k or (), t)
        for c, k, t in zip(rows_complaints, rows_codes, rows_temps, strict=True)
    ]
    assert batch.tolist() == single
    assert len(set(single)) > 10  # the mix exercises many syndrome combinations


def test_classify_many_optional_columns_and_lengths(classifier: SyndromeClassifier) -> None:
    masks = classifier.classify_many(["fever", "cough", None])
    assert masks.tolist() == [FEV, RESP, 0]
    assert classifier.classify_many(["cough"], None, [38.2]).tolist() == [FEV | ILI | RESP]
    assert classifier.classify_many([]).tolist() == []
    with pytest.raises(ValueError, match="temperatures"):
        classifier.classify_many(["fever", "cough"], None, [38.0])
    with pytest.raises(ValueError, match="diagnosis_codes"):
        classifier.classify_many(["fever"], [[], []], None)
