"""Syndrome codes. Each syndrome owns one bit so a visit's syndromes fit in one integer."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Syndrome(StrEnum):
    """The default syndromes of fever-clinic surveillance."""

    FEVER = "fever"
    ILI = "ili"  # influenza-like illness: fever + cough or sore throat
    RESPIRATORY = "respiratory"
    SEVERE_RESPIRATORY = "severe_respiratory"  # pneumonia, dyspnoea
    GASTROINTESTINAL = "gastrointestinal"  # diarrhoea, vomiting
    RASH_FEVER = "rash_fever"
    NEUROLOGICAL = "neurological"  # meningitis / encephalitis signs
    HAEMORRHAGIC = "haemorrhagic"

    @property
    def bit(self) -> int:
        return 1 << SYNDROMES.index(self)

    @property
    def label(self) -> str:
        return _LABELS[self]


SYNDROMES: tuple[Syndrome, ...] = tuple(Syndrome)

_LABELS = {
    Syndrome.FEVER: "Fever",
    Syndrome.ILI: "Influenza-like illness",
    Syndrome.RESPIRATORY: "Respiratory",
    Syndrome.SEVERE_RESPIRATORY: "Severe respiratory",
    Syndrome.GASTROINTESTINAL: "Gastrointestinal",
    Syndrome.RASH_FEVER: "Rash with fever",
    Syndrome.NEUROLOGICAL: "Neurological",
    Syndrome.HAEMORRHAGIC: "Haemorrhagic",
}


def mask_of(syndromes: Iterable[Syndrome | str]) -> int:
    """Bit mask of a set of syndromes."""
    mask = 0
    for s in syndromes:
        mask |= Syndrome(s).bit
    return mask


def syndromes_of(mask: int) -> list[Syndrome]:
    """Syndromes whose bits are set in ``mask``, in canonical order."""
    return [s for s in SYNDROMES if mask & s.bit]
