"""Rule-based chief-complaint syndrome classifier (English and Simplified Chinese).

A visit's evidence is reduced to *concepts* (fever, cough, sore throat, influenza, rash, ...)
found in the chief complaint, in its ICD-10 diagnosis codes, or in a temperature; syndromes are
then derived from the concepts. The vocabulary, codes and derivations live in the versioned data
file ``syndrome_rules.toml`` next to this module; the classifier's ``version`` is its version.

Conventions (as in ESSENCE-like systems):

- Syndromes are not mutually exclusive: a visit counts in every syndrome it meets, and a
  sub-syndrome also counts in the broader syndromes it belongs to. ``ili`` (fever with cough or
  sore throat, or influenza named) is both ``fever`` and ``respiratory``; ``severe_respiratory``
  (pneumonia, dyspnoea, respiratory failure) is ``respiratory``; ``rash_fever`` and
  ``haemorrhagic`` (bleeding signs with fever, or a named viral haemorrhagic fever) are ``fever``.
- ``fever`` holds when fever is reported in the text and not negated, when a code says so (R50),
  or when a temperature, measured or written ("temp 39", "39℃", "102F"), is >= 38.0 °C. A
  reported fever counts even when the measured temperature is normal (antipyretics), and a
  measured fever counts even when the text denies it: negation applies to text mentions only.
- ``neurological`` needs no fever for meningeal or consciousness signs (stiff neck, confusion,
  coma, meningitis), but seizures count only with fever.
- ``gastrointestinal`` is diarrhoea or vomiting (and named enteric infections); nausea alone and
  abdominal pain alone do not count.

Negation (NegEx-like): a trigger ("no", "denies", "without", "negative for", "无", "否认", "不",
"未", ...) negates the terms after it up to the next clause boundary (``,`` ``;`` ``.`` "but",
"，" "；" "。" "但"); a few triggers also negate the term right before them ("fever denied",
"皮疹(-)"). An enumeration comma "、" is not a boundary: "无发热、咳嗽" negates both.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from epiradar.model.syndrome import SYNDROMES, Syndrome

__all__ = [
    "RuleError",
    "SyndromeClassifier",
    "load_default_classifier",
    "load_rules",
    "normalize",
]

RULES_FILE = "syndrome_rules.toml"
_MAX_CONCEPTS = 16  # the derivation table has 2**n entries
_CACHE_LIMIT = 200_000  # distinct complaints (or code lists) kept per cache

# ------------------------------------------------------------------------------------------------
# Normalisation
# ------------------------------------------------------------------------------------------------

_PUNCTUATION = str.maketrans(
    {
        "。": ".",
        "、": "/",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "「": '"',
        "」": '"',
        "【": "[",
        "】": "]",
        "《": "<",
        "》": ">",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
    }
)
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str | None) -> str:
    """Lower-case, full-width to half-width (NFKC, so "℃" becomes "°c"), one kind of each
    punctuation mark ("。" → ".", "、" → "/", curly quotes → straight), whitespace collapsed."""
    if not isinstance(text, str) or not text:
        return ""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCTUATION)
    return _WHITESPACE.sub(" ", text).strip()


# ------------------------------------------------------------------------------------------------
# Rules
# ------------------------------------------------------------------------------------------------


class RuleError(ValueError):
    """The rule set is malformed."""


def load_rules(path: str | Path | None = None) -> dict[str, Any]:
    """Read a rule file (default: the packaged ``syndrome_rules.toml``)."""
    if path is None:
        data = resources.files("epiradar.ingest").joinpath(RULES_FILE).read_bytes()
    else:
        data = Path(path).read_bytes()
    return tomllib.loads(data.decode("utf-8"))


def _alternation(terms: Sequence[str]) -> str:
    return "|".join(f"(?:{t})" for t in terms)


def _term_pattern(spec: Mapping[str, Any], where: str, prefix: str = "") -> re.Pattern[str] | None:
    """One regex for a ``{en = [...], zh = [...]}`` table; latin terms match whole words."""
    unknown = set(spec) - {"en", "zh"}
    if unknown:
        raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
    parts: list[str] = []
    for key in ("en", "zh"):
        terms = spec.get(key, [])
        if not isinstance(terms, list) or not all(isinstance(t, str) and t for t in terms):
            raise RuleError(f"{where}.{key}: expected a list of non-empty strings")
        if terms and key == "en":
            parts.append(rf"(?<![a-z])(?:{_alternation(terms)})(?![a-z])")
        elif terms:
            parts.append(_alternation(terms))
    if not parts:
        return None
    try:
        return re.compile(prefix + "(?:" + "|".join(parts) + ")")
    except re.error as exc:
        raise RuleError(f"{where}: bad pattern: {exc}") from exc


_ICD_CODE = re.compile(r"[A-Z]\d{2}[0-9A-Z]*")
_ICD_SPEC = re.compile(r"([A-Z])(\d{2})(?:-([A-Z])(\d{2}))?|[A-Z]\d{2}\.?[0-9A-Z]+")


def _clean_code(code: str) -> str:
    return code.strip().upper().replace(".", "").replace(" ", "")


def _expand_code_spec(spec: str, where: str) -> list[str]:
    """``"J09-J11"`` → ``["J09", "J10", "J11"]``; ``"R06.0"`` → ``["R060"]``."""
    m = _ICD_SPEC.fullmatch(spec.strip().upper())
    if m is None:
        raise RuleError(f"{where}: bad code {spec!r}")
    if m.group(3) is None:
        return [_clean_code(spec)]
    letter, lo, letter2, hi = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
    if letter2 != letter or hi < lo:
        raise RuleError(f"{where}: bad code range {spec!r}")
    return [f"{letter}{i:02d}" for i in range(lo, hi + 1)]


@dataclass(frozen=True, slots=True)
class _Mention:
    concept: int
    start: int
    end: int
    negation: tuple[int, int] | None  # span from the trigger to the term when negated


@dataclass(frozen=True, slots=True)
class _Temperature:
    start: int
    end: int
    celsius: float


_TEMP_PREFIXED = re.compile(
    r"(?:(?<![a-z])(?:temperature|temp|tmax|t)(?![a-z])|体温)\s*(?:(?:is|of|was)\s*)?[:=]?\s*"
    r"(\d{2,3}(?:\.\d+)?)"
    r"(?![\d.]|\s*(?:(?:y|yrs?|years?|d|days?|weeks?|months?|kg)(?![a-z])|岁|天|周|个?月))"  # not an age
)
_TEMP_WITH_UNIT = re.compile(r"(?<![\d.])(\d{2,3}(?:\.\d+)?)(?=\s*(?:°|度)|[cf](?![a-z]))")
_TEMP_UNIT = re.compile(r"\s*(?:°\s*([cf])?|度)|([cf])(?![a-z])")


def _text_temperatures(norm: str) -> list[_Temperature]:
    """Temperatures written in the text, in °C (Fahrenheit converted, implausible dropped)."""
    found: dict[int, _Temperature] = {}
    for pattern in (_TEMP_PREFIXED, _TEMP_WITH_UNIT):
        for m in pattern.finditer(norm):
            value, end = float(m.group(1)), m.end(1)
            unit = _TEMP_UNIT.match(norm, end)
            fahrenheit = value > 50
            if unit is not None:
                end = unit.end()
                fahrenheit = fahrenheit or "f" in (unit.group(1), unit.group(2))
            celsius = (value - 32) * 5 / 9 if fahrenheit else value
            if 30.0 <= celsius <= 45.0:
                found.setdefault(m.start(1), _Temperature(m.start(), end, round(celsius, 1)))
    return sorted(found.values(), key=lambda t: t.start)


class SyndromeClassifier:
    """Classifies a visit (chief complaint, ICD-10 codes, temperature) into a syndrome bit mask.

    Thread-safe for reading; the per-complaint caches only grow up to a bound and are cleared.
    """

    def __init__(self, rules: Mapping[str, Any] | None = None) -> None:
        rules = load_rules() if rules is None else rules
        version = rules.get("version")
        if not isinstance(version, str) or not version.strip():
            raise RuleError("version: expected a non-empty string")
        self.version: str = version
        self._fever_c = float(rules.get("temperature", {}).get("fever_c", 38.0))
        self._compile_concepts(rules.get("concepts", {}))
        self._compile_negation(rules.get("negation", {}), rules.get("boundaries", {}))
        self._compile_codes(rules.get("codes", []))
        self._compile_syndromes(rules.get("syndromes", {}))
        self._text_cache: dict[str, int] = {}
        self._norm_cache: dict[str, int] = {}
        self._code_cache: dict[str, int] = {}
        self._row_cache: dict[str | tuple[str, ...], int] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> SyndromeClassifier:
        return cls(load_rules(path))

    # -- construction ---------------------------------------------------------------------------

    def _compile_concepts(self, concepts: Mapping[str, Any]) -> None:
        if not concepts or len(concepts) > _MAX_CONCEPTS:
            raise RuleError(f"concepts: expected 1 to {_MAX_CONCEPTS} concepts")
        self._concept_names: tuple[str, ...] = tuple(concepts)
        self._concept_bit = {name: 1 << i for i, name in enumerate(self._concept_names)}
        patterns = []
        for name, spec in concepts.items():
            pattern = _term_pattern(spec, f"concepts.{name}")
            if pattern is None:
                raise RuleError(f"concepts.{name}: no terms")
            patterns.append(pattern)
        self._concept_patterns: tuple[re.Pattern[str], ...] = tuple(patterns)
        if "fever" not in self._concept_bit:
            raise RuleError("concepts: a 'fever' concept is required for temperatures")
        self._fever_bit = self._concept_bit["fever"]

    def _compile_negation(self, negation: Mapping[str, Any], boundaries: Mapping[str, Any]) -> None:
        gap = negation.get("post_gap", r"\s*")
        try:
            re.compile(gap)
        except re.error as exc:
            raise RuleError(f"negation.post_gap: bad pattern: {exc}") from exc
        self._pre = _term_pattern(negation.get("pre", {}), "negation.pre")
        self._post = _term_pattern(negation.get("post", {}), "negation.post", prefix=gap)
        self._pseudo = _term_pattern(negation.get("pseudo", {}), "negation.pseudo")
        self._boundary = _term_pattern(boundaries, "boundaries")

    def _compile_codes(self, codes: Sequence[Mapping[str, Any]]) -> None:
        self._code_rules: dict[str, tuple[int, tuple[str, ...]]] = {}
        for i, rule in enumerate(codes):
            where = f"codes[{i}]"
            name = str(rule.get("name", where))
            bits = self._concept_mask(rule.get("concepts", []), where)
            for spec in rule.get("match", []):
                for prefix in _expand_code_spec(str(spec), where):
                    old_bits, old_names = self._code_rules.get(prefix, (0, ()))
                    self._code_rules[prefix] = (old_bits | bits, (*old_names, name))

    def _concept_mask(self, names: Iterable[str], where: str) -> int:
        mask = 0
        for name in names:
            if name not in self._concept_bit:
                raise RuleError(f"{where}: unknown concept {name!r}")
            mask |= self._concept_bit[name]
        if not mask:
            raise RuleError(f"{where}: no concepts")
        return mask

    def _compile_syndromes(self, syndromes: Mapping[str, Any]) -> None:
        expected = {s.value for s in SYNDROMES}
        if set(syndromes) != expected:
            raise RuleError(
                f"syndromes: expected exactly {sorted(expected)}, got {sorted(syndromes)}"
            )
        self._when: dict[Syndrome, list[int]] = {}
        self._implies: dict[Syndrome, tuple[Syndrome, ...]] = {}
        for code, spec in syndromes.items():
            syndrome = Syndrome(code)
            groups = spec.get("when", [])
            if not groups:
                raise RuleError(f"syndromes.{code}.when: no concept groups")
            self._when[syndrome] = [self._concept_mask(g, f"syndromes.{code}.when") for g in groups]
            implied = spec.get("implies", [])
            unknown = set(implied) - expected
            if unknown:
                raise RuleError(f"syndromes.{code}.implies: unknown syndromes {sorted(unknown)}")
            self._implies[syndrome] = tuple(Syndrome(s) for s in implied)
        table = [self._derive(mask) for mask in range(1 << len(self._concept_names))]
        self._table: list[int] = table
        self._table_array: npt.NDArray[np.int64] = np.asarray(table, dtype=np.int64)

    def _derive(self, concepts: int) -> int:
        """Syndrome mask of a concept mask: the `when` groups, then `implies` to a fixed point."""
        mask = 0
        for syndrome, groups in self._when.items():
            if any(concepts & g == g for g in groups):
                mask |= syndrome.bit
        changed = True
        while changed:
            changed = False
            for syndrome, implied in self._implies.items():
                if mask & syndrome.bit:
                    for other in implied:
                        if not mask & other.bit:
                            mask |= other.bit
                            changed = True
        return mask

    # -- text -----------------------------------------------------------------------------------

    def _analyse(self, norm: str) -> tuple[list[_Mention], list[_Temperature]]:
        """Concept mentions (with their negation) and temperatures in a normalised complaint."""
        temperatures = _text_temperatures(norm) if any(c.isdigit() for c in norm) else []
        spans = [
            (i, m.start(), m.end())
            for i, pattern in enumerate(self._concept_patterns)
            for m in pattern.finditer(norm)
        ]
        spans.sort(key=lambda span: (span[1], span[0]))
        if not spans:
            return [], temperatures
        blocked = [(s, e) for _, s, e in spans]
        if self._pseudo is not None:
            blocked += [m.span() for m in self._pseudo.finditer(norm)]
        triggers: list[tuple[int, int]] = []
        if self._pre is not None:
            triggers = [
                m.span()
                for m in self._pre.finditer(norm)
                if not any(s < m.end() and m.start() < e for s, e in blocked)
            ]
        clause_starts = [0]
        if self._boundary is not None:
            clause_starts += [m.end() for m in self._boundary.finditer(norm)]
        mentions = []
        for concept, start, end in spans:
            clause_start = clause_starts[bisect_right(clause_starts, start) - 1]
            negation = next(
                ((s, end) for s, e in triggers if clause_start <= s and e <= start), None
            )
            if negation is None and self._post is not None:
                post = self._post.match(norm, end)
                if post is not None:
                    negation = (start, post.end())
            mentions.append(_Mention(concept, start, end, negation))
        return mentions, temperatures

    def _text_mask(self, norm: str) -> int:
        mentions, temperatures = self._analyse(norm)
        mask = 0
        for mention in mentions:
            if mention.negation is None:
                mask |= 1 << mention.concept
        if any(t.celsius >= self._fever_c for t in temperatures):
            mask |= self._fever_bit
        return mask

    def _text_concepts(self, complaint: str | None) -> int:
        if not isinstance(complaint, str) or not complaint:
            return 0
        mask = self._text_cache.get(complaint)
        if mask is None:
            norm = normalize(complaint)
            mask = self._norm_cache.get(norm)
            if mask is None:
                mask = self._text_mask(norm)
                _remember(self._norm_cache, norm, mask)
            _remember(self._text_cache, complaint, mask)
        return mask

    # -- codes ----------------------------------------------------------------------------------

    def _code_matches(self, code: str) -> tuple[int, tuple[str, ...]]:
        clean = _clean_code(code)
        if not _ICD_CODE.fullmatch(clean):
            return 0, ()
        bits, names = 0, ()
        for k in range(3, len(clean) + 1):
            hit = self._code_rules.get(clean[:k])
            if hit is not None:
                bits, names = bits | hit[0], names + hit[1]
        return bits, names

    def _code_concepts(self, codes: Sequence[str] | str | None) -> int:
        if codes is None or isinstance(codes, float) or len(codes) == 0:
            return 0
        items = _split_codes(codes)
        mask = 0
        for code in items:
            bits = self._code_cache.get(code)
            if bits is None:
                bits = self._code_matches(code)[0]
                _remember(self._code_cache, code, bits)
            mask |= bits
        return mask

    # -- public ---------------------------------------------------------------------------------

    def classify(
        self,
        complaint: str | None,
        diagnosis_codes: Sequence[str] = (),
        temperature_c: float | None = None,
    ) -> int:
        """Syndrome bit mask (``model.mask_of``) of one visit."""
        concepts = self._text_concepts(complaint) | self._code_concepts(diagnosis_codes)
        if temperature_c is not None and temperature_c >= self._fever_c:
            concepts |= self._fever_bit
        return self._table[concepts]

    def classify_many(
        self,
        complaints: Sequence[str | None],
        diagnosis_codes: Sequence[Sequence[str] | str | None] | None = None,
        temperatures: Sequence[float | None] | None = None,
    ) -> npt.NDArray[np.int64]:
        """Syndrome masks of many visits, equal to ``classify`` row by row.

        Complaints are factorised first so each distinct complaint is analysed once; a row's
        codes may be a sequence or one ``;``/``,``-separated string; ``None`` means none.
        """
        n = len(complaints)
        for name, column in (("diagnosis_codes", diagnosis_codes), ("temperatures", temperatures)):
            if column is not None and len(column) != n:
                raise ValueError(f"{name} has {len(column)} rows, complaints {n}")
        index, uniques = pd.factorize(np.asarray(complaints, dtype=object))
        lookup = np.fromiter(
            (self._text_concepts(u) for u in uniques), dtype=np.int64, count=len(uniques)
        )
        concepts = np.append(lookup, 0)[index]  # index -1 (missing) → 0
        if diagnosis_codes is not None:
            concepts |= self._rows_code_concepts(diagnosis_codes)
        if temperatures is not None:
            try:
                temps = np.asarray(temperatures, dtype=np.float64)
            except (TypeError, ValueError):
                temps = pd.to_numeric(pd.Series(temperatures), errors="coerce").to_numpy(float)
            concepts[temps >= self._fever_c] |= self._fever_bit
        return self._table_array[concepts]

    def _rows_code_concepts(
        self, rows: Sequence[Sequence[str] | str | None]
    ) -> npt.NDArray[np.int64]:
        cache, masks = self._row_cache, []
        for row in rows:
            if row is None or isinstance(row, float) or len(row) == 0:
                masks.append(0)
                continue
            key = row if isinstance(row, str | tuple) else tuple(row)
            mask = cache.get(key)
            if mask is None:
                mask = self._code_concepts(row)
                _remember(cache, key, mask)
            masks.append(mask)
        return np.asarray(masks, dtype=np.int64)

    def explain(
        self,
        complaint: str | None,
        diagnosis_codes: Sequence[str] = (),
        temperature_c: float | None = None,
    ) -> list[str]:
        """The matched rules, readable: concept evidence (and what was negated), then syndromes.

        Example: ``["fever: '发热'", "not cough: 'no cough'", "syndrome fever: fever"]``.
        """
        names, lines = self._concept_names, []
        concepts = 0
        norm = normalize(complaint)
        mentions, temperatures = self._analyse(norm)
        for m in mentions:
            if m.negation is None:
                concepts |= 1 << m.concept
                lines.append(f"{names[m.concept]}: '{norm[m.start : m.end]}'")
            else:
                lines.append(f"not {names[m.concept]}: '{norm[m.negation[0] : m.negation[1]]}'")
        for t in temperatures:
            text = norm[t.start : t.end]
            if t.celsius >= self._fever_c:
                concepts |= self._fever_bit
                lines.append(f"fever: '{text}' ({t.celsius:.1f} °C)")
            else:
                lines.append(f"no fever: '{text}' ({t.celsius:.1f} °C < {self._fever_c:.1f} °C)")
        for code in _split_codes(diagnosis_codes or ()):
            bits, rules = self._code_matches(code)
            concepts |= bits
            for i, name in enumerate(names):
                if bits & (1 << i):
                    lines.append(f"{name}: code {code.strip()} ({'; '.join(rules)})")
        if temperature_c is not None and not math.isnan(temperature_c):
            if temperature_c >= self._fever_c:
                concepts |= self._fever_bit
                lines.append(f"fever: measured {temperature_c:.1f} °C >= {self._fever_c:.1f} °C")
            else:
                lines.append(f"no fever: measured {temperature_c:.1f} °C < {self._fever_c:.1f} °C")
        lines += self._explain_syndromes(concepts)
        return list(dict.fromkeys(lines))

    def _explain_syndromes(self, concepts: int) -> list[str]:
        names, mask, lines = self._concept_names, self._table[concepts], []
        for syndrome in SYNDROMES:
            if not mask & syndrome.bit:
                continue
            for group in self._when[syndrome]:
                if concepts & group == group:
                    parts = [n for i, n in enumerate(names) if group & (1 << i)]
                    lines.append(f"syndrome {syndrome.value}: {' + '.join(parts)}")
            for other, implied in self._implies.items():
                if syndrome in implied and mask & other.bit:
                    lines.append(f"syndrome {syndrome.value}: implied by {other.value}")
        return lines


_CODE_SEPARATORS = re.compile(r"[;,|\s]+")


def _split_codes(codes: Sequence[str] | str) -> list[str]:
    if isinstance(codes, str):
        return [c for c in _CODE_SEPARATORS.split(codes) if c]
    return [c for c in codes if isinstance(c, str) and c.strip()]


def _remember(cache: dict[Any, int], key: Any, value: int) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


@functools.cache
def load_default_classifier() -> SyndromeClassifier:
    """The shared classifier of the packaged rules."""
    return SyndromeClassifier()
