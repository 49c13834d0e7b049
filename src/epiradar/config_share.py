"""Settings of data sharing and public communication: ``[fhir]``, ``[export]``, ``[public]``,
``[bulletin]`` and ``[capacity]`` (docs/fhir-api.md, docs/line-list-export.md,
docs/open-data.md, docs/bulletins.md, docs/capacity.md). Parts of
:class:`epiradar.config.Settings`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from epiradar.model import Syndrome


class FhirSettings(BaseModel):
    """``[fhir]``: the FHIR R4 read API and Bulk Data export (docs/fhir-api.md)."""

    model_config = ConfigDict(extra="forbid")

    default_count: int = Field(50, ge=1, description="resources per search page without _count")
    max_count: int = Field(
        500, ge=1, description="largest _count honoured; a larger one is capped to it"
    )
    utc_offset: str = Field(
        "+08:00",
        pattern=r"^(Z|[+-]\d{2}:\d{2})$",
        description="offset appended to the stored local wall times (FHIR times need a zone)",
    )
    age_band_years: int = Field(
        5, ge=1, le=50, description="width of the age bands sent instead of ages"
    )
    bulk_dir: str | None = Field(
        None,
        description="where Bulk Data NDJSON files are written; default: 'fhir-bulk' next to "
        "the SQLite database, else a directory under the system's temporary directory",
    )
    bulk_file_resources: int = Field(
        10_000, ge=1, description="resources per NDJSON file before a new file is started"
    )
    bulk_retention_hours: float = Field(
        24.0, gt=0, description="hours a finished export's files are kept before removal"
    )
    bulk_stall_minutes: float = Field(
        10.0,
        gt=0,
        description="a queued or running export without progress this long is failed as "
        "interrupted (a server restart ends its thread)",
    )
    bulk_max_active: int = Field(
        2, ge=1, description="exports one caller may have queued or running at once (then 429)"
    )


class ExportSettings(BaseModel):
    """``[export]``: de-identified line-list exports (docs/line-list-export.md)."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(5, ge=2, le=1000, description="default k of k-anonymity")
    max_suppression: float = Field(
        0.05, ge=0.0, lt=1.0, description="share of records that may be suppressed to reach k"
    )
    quasi_identifiers: list[str] = Field(
        default_factory=lambda: ["age", "sex", "visit", "onset", "district"],
        description="released quasi-identifiers by default: age sex visit onset district facility",
    )
    pseudonyms: bool = Field(
        False, description="a per-file patient pseudonym (salted HMAC, salt discarded)"
    )
    top_age: int = Field(80, ge=20, le=120, description="the open top age band (80+)")
    max_rows: int = Field(
        2_000_000, ge=1, description="visits one export may read; narrow the period above it"
    )

    @field_validator("quasi_identifiers")
    @classmethod
    def _known_quasi_identifiers(cls, value: list[str]) -> list[str]:
        known = ("age", "sex", "visit", "onset", "district", "facility")
        unknown = [q for q in value if q not in known]
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)}; one of {', '.join(known)}")
        return value


class PublicSettings(BaseModel):
    """``[public]``: the public dashboard and open data (small-count suppression, risk levels;
    docs/open-data.md)."""

    model_config = ConfigDict(extra="forbid")

    min_count: int = Field(
        10, ge=1, le=1000, description="published counts 1 .. min_count-1 are hidden"
    )
    suppress_zeros: bool = Field(False, description="hide zeros too")
    weeks: int = Field(12, ge=1, le=104, description="complete ISO weeks published")
    syndromes: list[str] = Field(
        default_factory=lambda: [s.value for s in Syndrome],
        min_length=1,
        description="syndromes published (codes); 'all' = all visits",
    )
    district_names: dict[str, str] = Field(
        default_factory=dict, description="display names of districts, by district id"
    )
    risk_syndrome: str = Field(
        "all", description="the visits whose trend feeds the risk level ('all' = all visits)"
    )
    risk_window_days: int = Field(7, ge=1, le=56, description="recent window vs the one before")
    risk_rise_fraction: float = Field(
        0.5, gt=0, le=10, description="a rise of this fraction of the rate counts as rising"
    )
    risk_min_rise: int = Field(
        10, ge=1, description="and at least this many more visits than the window before"
    )
    alert_current_days: int = Field(
        7, ge=0, le=90, description="an open alert counts while it ended this recently"
    )

    @field_validator("syndromes")
    @classmethod
    def _known_syndromes(cls, value: list[str]) -> list[str]:
        known = {"all", *(s.value for s in Syndrome)}
        for code in value:
            if code not in known:
                raise ValueError(
                    f"[public] syndromes: unknown syndrome {code!r}; known: {', '.join(sorted(known))}"
                )
        return value


class BulletinSettings(BaseModel):
    """``[bulletin]``: generated bulletins and their approval (docs/bulletins.md). Small counts
    are hidden by the ``[public]`` suppression rules, as on the public dashboard."""

    model_config = ConfigDict(extra="forbid")

    syndromes: list[str] = Field(
        default_factory=lambda: [s.value for s in Syndrome],
        description="the syndromes a bulletin reports, in this order",
    )
    daily_curve_days: int = Field(
        28, ge=2, le=366, description="days in a daily bulletin's epicurves"
    )
    weekly_curve_weeks: int = Field(
        12, ge=2, le=104, description="ISO weeks in a weekly bulletin's epicurves"
    )
    top_areas: int = Field(3, ge=0, le=20, description="districts named per syndrome")
    alert_lookback_days: int = Field(
        14,
        ge=0,
        le=365,
        description="open alerts that ended at most this many days before the period are listed",
    )
    rt_min_cases: int = Field(
        30,
        ge=1,
        description="Rt is given for a syndrome only with at least this many visits in the city "
        "over the 7 days ending at the period's end",
    )

    @field_validator("syndromes")
    @classmethod
    def _known_syndromes(cls, value: list[str]) -> list[str]:
        known = [s.value for s in Syndrome]
        unknown = [s for s in value if s not in known]
        if unknown:
            raise ValueError(f"unknown syndromes {', '.join(unknown)}; one of {', '.join(known)}")
        if not value:
            raise ValueError("at least one syndrome")
        return list(dict.fromkeys(value))


class CapacitySettings(BaseModel):
    """``[capacity]``: facility capacity reports, demand forecast, nearest clinic."""

    model_config = ConfigDict(extra="forbid")

    stale_hours: float = Field(24.0, gt=0, description="a report older than this is stale")
    patients_per_room_per_day: float = Field(
        48.0,
        gt=0,
        description="patients one open fever-clinic room sees a day (12 hours, one every 15 min)",
    )
    admission_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="share of fever-clinic visits admitted, when the data cannot estimate it",
    )
    min_admission_sample: int = Field(
        200,
        ge=1,
        description="visits with a known patient class needed to estimate the admission share",
    )
    length_of_stay_days: float = Field(5.0, gt=0, description="mean days an admission holds a bed")
    syndromes: list[Syndrome] = Field(
        [Syndrome.FEVER, Syndrome.ILI, Syndrome.RESPIRATORY],
        min_length=1,
        description="syndromes whose fever-clinic visits make the demand",
    )
    history_days: int = Field(42, ge=14, le=365, description="days of demand the forecast uses")
    horizon_days: int = Field(14, ge=7, le=14, description="default forecast horizon")
    forecast_paths: int = Field(1000, ge=100, le=20_000, description="simulated paths")
    min_window_cases: int = Field(
        10, ge=1, description="cases in the last Rt window needed for the renewal forecast"
    )
    circuity_factor: float = Field(
        1.3, ge=1, le=3, description="travel distance / great-circle distance"
    )
    nearest_count: int = Field(5, ge=1, le=50, description="clinics listed by the clinic finder")
