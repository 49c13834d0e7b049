"""Settings: defaults < ``epiradar.toml`` < ``EPIRADAR_*`` environment < command-line options."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from epiradar.config_auth import AuthSettings
from epiradar.config_notify import NotifySettings
from epiradar.config_share import (
    BulletinSettings,
    CapacitySettings,
    ExportSettings,
    FhirSettings,
    PublicSettings,
)
from epiradar.config_workflow import WorkflowSettings
from epiradar.model import Syndrome

DEFAULT_DB = "sqlite:///./epiradar.db"
CONFIG_FILE_ENV = "EPIRADAR_CONFIG"


class _SpaceTimeFields(BaseModel):
    """The settings of one syndrome's space-time scan (``None`` in an override: inherit)."""

    model_config = ConfigDict(extra="forbid")


class SpaceTimeOverride(_SpaceTimeFields):
    """``[detect.spacetime.by_syndrome.<syndrome>]``: the entries that differ for a syndrome
    (an entry left out keeps ``[detect.spacetime]``'s value, so an override cannot remove a
    ``max_radius_km`` or ``max_neighbors`` set there)."""

    enabled: bool | None = None
    method: Literal["permutation", "poisson"] | None = None
    shape: Literal["circle", "adjacency"] | None = None
    max_days: int | None = Field(None, ge=1, le=28)
    max_fraction: float | None = Field(None, gt=0, le=0.5)
    max_radius_km: float | None = Field(None, gt=0)
    max_neighbors: int | None = Field(None, ge=1)
    min_cases: int | None = Field(None, ge=2)
    n_sim: int | None = Field(None, ge=99)
    min_recurrence_days: float | None = Field(None, ge=1)
    study_days: int | None = Field(None, ge=7)
    baseline_days: int | None = Field(None, ge=7)


class SpaceTimeSettings(_SpaceTimeFields):
    """Space-time scan statistics over the finest regions, per syndrome, every detection day
    (``[detect.spacetime]``; docs/detection.md, "Space-time clusters", says why these)."""

    enabled: bool = Field(True, description="scan every monitored syndrome for clusters")
    method: Literal["permutation", "poisson"] = Field(
        "permutation",
        description="space-time permutation scan (Kulldorff et al. 2005): needs no population "
        "and adjusts for each region's usual share and each day's city total; or the "
        "expectation-based Poisson scan (Neill 2009) against a day-of-week-adjusted baseline",
    )
    shape: Literal["circle", "adjacency"] = Field(
        "circle",
        description="candidate zones: circles around each region's centroid, or regions "
        "connected by shared boundaries (breadth-first)",
    )
    max_days: int = Field(7, ge=1, le=28, description="longest cluster, in days ending today")
    max_fraction: float = Field(
        0.2,
        gt=0,
        le=0.5,
        description="largest cluster, as a share of the study period's cases (permutation) or "
        "of the baseline (poisson); larger increases are the district and city series' job",
    )
    max_radius_km: float | None = Field(
        None, gt=0, description="largest circle radius (chord km between centroids); circles only"
    )
    max_neighbors: int | None = Field(None, ge=1, description="most regions in one cluster")
    min_cases: int = Field(3, ge=2, description="no cluster with fewer visits")
    n_sim: int = Field(999, ge=99, description="Monte Carlo replicates of each scan")
    min_recurrence_days: float = Field(
        365.0,
        ge=1,
        description="alert on clusters whose recurrence interval (how often a cluster this "
        "strong arises by chance with daily scans, 1/p days) is at least this many days: "
        "once a year per syndrome by chance (NYC DOHMH's 100 days would mean one chance "
        "cluster every two weeks over eight syndromes)",
    )
    study_days: int = Field(
        365,
        ge=7,
        description="permutation: days of history whose regional shares define the expected",
    )
    baseline_days: int = Field(
        28,
        ge=7,
        description="poisson: days before the scanned window that form each region's "
        "baseline (adjusted for the city's day-of-week pattern)",
    )
    by_syndrome: dict[Syndrome, SpaceTimeOverride] = Field(
        {},
        description="entries that differ for a syndrome, e.g. "
        "[detect.spacetime.by_syndrome.ili] enabled = false",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SpaceTimeSettings:
        _check_spacetime(self, "[detect.spacetime]")
        for syndrome in self.by_syndrome:
            _check_spacetime(
                self.for_syndrome(syndrome), f"[detect.spacetime.by_syndrome.{syndrome}]"
            )
        return self

    def for_syndrome(self, syndrome: Syndrome | str) -> SpaceTimeSettings:
        """The settings of ``syndrome``: these, with its ``by_syndrome`` entries applied."""
        override = self.by_syndrome.get(Syndrome(syndrome))
        if override is None:
            return self.model_copy(update={"by_syndrome": {}})
        given = override.model_dump(exclude_none=True)
        return self.model_copy(update=given | {"by_syndrome": {}})


def _check_spacetime(s: SpaceTimeSettings, where: str) -> None:
    if s.shape == "adjacency" and s.max_radius_km is not None:
        raise ValueError(f'{where}: max_radius_km applies to shape = "circle" only')
    if s.method == "permutation" and s.study_days < 2 * s.max_days:
        raise ValueError(
            f"{where}: study_days ({s.study_days}) must be at least twice max_days "
            f"({s.max_days}): the expected counts come from the days outside the cluster too"
        )
    if s.min_recurrence_days > s.n_sim + 1:
        raise ValueError(
            f"{where}: min_recurrence_days ({s.min_recurrence_days:g}) can never be reached with "
            f"n_sim = {s.n_sim} (at most n_sim + 1 days): raise n_sim"
        )


class DetectSettings(BaseModel):
    """Temporal detection over region x syndrome counts: which detectors, and how many alarms
    reach people (``burden``); and space-time scans of the finest regions (``spacetime``)."""

    methods: list[str] = Field(
        ["nb_glm"],
        description="detectors run on every syndrome: daily ones (C1, C2, C3, ewma, "
        "regression, ewma_regression, holt_winters, ...) on daily counts, weekly ones "
        "(farrington, farrington_original) on 7-day sums",
    )
    by_syndrome: dict[Syndrome, list[str]] = Field(
        {Syndrome.ILI: ["ewma_regression"]},
        description="detectors of a syndrome, replacing `methods` for it (influenza-like "
        "illness: the NSSP switch follows a flu season of any timing; a yearly model does not)",
    )
    params: dict[str, dict[str, Any]] = Field(
        {}, description="a detector's own settings, e.g. [detect.params.ewma] baseline = 28"
    )
    baseline: int = Field(7, ge=3, description="days in the moving baseline")
    alpha: float = Field(0.001, gt=0, lt=0.5, description="one-sided level of each daily test")
    min_sigma: float = Field(0.5, ge=0, description="floor on the baseline standard deviation")
    min_observed: int = Field(3, ge=1, description="no signal below this many visits")
    syndromes: list[Syndrome] = list(Syndrome)
    merge_gap_days: int = Field(1, ge=0, description="signals this many days apart join one alert")
    p_correction: Literal["none", "sidak", "bonferroni"] = Field(
        "none",
        description="an alert's p-value is its strongest signal's, optionally corrected for "
        "the number of signals merged",
    )
    count_guard: bool = Field(
        True, description="signals must also be improbable as overdispersed counts"
    )
    city: bool = Field(True, description="also monitor the whole city as one series")
    burden: Literal["none", "fdr", "hierarchical"] = Field(
        "fdr",
        description="false-alarm burden control across the run's series: each detector's own "
        "alarms, one false-discovery-rate family per day, or city -> district -> region "
        "tested top-down (see docs/detection.md)",
    )
    fdr_level: float = Field(0.1, gt=0, lt=0.5, description="FDR level of burden control")
    windows: list[int] = Field(
        [1, 3, 7],
        min_length=1,
        description="evidence windows in days: [1, 3, 7] also tests the sums of the last 3 and "
        "7 days against their expected values, so a sustained small excess alarms",
    )
    spacetime: SpaceTimeSettings = Field(
        SpaceTimeSettings(),
        description="space-time scans of the finest regions (see docs/detection.md)",
    )

    @field_validator("windows")
    @classmethod
    def _positive_windows(cls, value: list[int]) -> list[int]:
        if any(k < 1 or k > 28 for k in value):
            raise ValueError(f"windows must be between 1 and 28 days, got {value}")
        return value

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        return _check_detectors(value)

    @field_validator("by_syndrome")
    @classmethod
    def _known_by_syndrome(cls, value: dict[Syndrome, list[str]]) -> dict[Syndrome, list[str]]:
        for names in value.values():
            _check_detectors(names)
        return value

    @model_validator(mode="after")
    def _known_params(self) -> DetectSettings:
        _check_detectors(list(self.params), what="[detect.params] names")
        return self

    def methods_by_syndrome(self) -> dict[Syndrome, list[str]]:
        """The detectors of each monitored syndrome."""
        return {s: self.by_syndrome.get(s, self.methods) for s in self.syndromes}


def _check_detectors(names: list[str], what: str = "detectors") -> list[str]:
    from epiradar.detect.temporal.registry import DETECTORS

    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {', '.join(DETECTORS)}")
    return names


class SerialInterval(BaseModel):
    """A serial interval (days from a case's symptom onset to its infectee's), as the mean and
    standard deviation of a gamma distribution discretised as EpiEstim's ``discr_si``."""

    model_config = ConfigDict(extra="forbid")

    mean: float = Field(gt=1, le=60, description="days; above 1 (EpiEstim's discretisation)")
    sd: float = Field(gt=0, le=60, description="days")
    source: str | None = Field(None, description="where the values come from")


_INFLUENZA = SerialInterval(
    mean=2.6, sd=1.5, source="influenza; Ferguson et al. 2005, Nature 437:209 (EpiEstim Flu2009)"
)

DEFAULT_SERIAL_INTERVALS: dict[Syndrome, SerialInterval] = {
    Syndrome.FEVER: _INFLUENZA,
    Syndrome.ILI: _INFLUENZA,
    Syndrome.RESPIRATORY: _INFLUENZA,
    Syndrome.SEVERE_RESPIRATORY: SerialInterval(
        mean=8.4, sd=3.8, source="SARS; Lipsitch et al. 2003, Science 300:1966 (EpiEstim SARS2003)"
    ),
    Syndrome.GASTROINTESTINAL: SerialInterval(
        mean=3.6,
        sd=2.0,
        source="norovirus; mean from Heijne et al. 2009, Emerg Infect Dis 15:24; sd assumed",
    ),
    Syndrome.RASH_FEVER: SerialInterval(
        mean=14.9,
        sd=3.9,
        source="measles; Groendyke et al. 2011, Scand J Stat 38:600 (EpiEstim Measles1861)",
    ),
    Syndrome.HAEMORRHAGIC: SerialInterval(
        mean=15.3,
        sd=9.3,
        source="Ebola; WHO Ebola Response Team 2014, N Engl J Med 371:1481",
    ),
}
"""Serial intervals used when ``[trace.serial_intervals]`` does not name the syndrome.
Neurological syndromes have none: their causes (meningococcus, enteroviruses, arboviruses)
spread too differently for one default, so chains and Rt are skipped until one is set."""


class TraceSettings(BaseModel):
    """Tracing an alert: exposure enrichment against comparable non-alert visits, point-source
    and origin ranking, transmission chains and Rt (see docs/tracing.md)."""

    controls_per_case: int = Field(10, ge=1)
    exposure_window_days: int = Field(14, ge=0)
    serial_intervals: dict[Syndrome, SerialInterval] = Field(
        {},
        description="serial interval of a syndrome, replacing its default, e.g. "
        "[trace.serial_intervals.ili] mean = 3.0, sd = 1.5 (defaults: DEFAULT_SERIAL_INTERVALS)",
    )
    rt_window_days: int = Field(
        7, ge=1, le=28, description="days in each sliding window of the Rt estimate (EpiEstim: 7)"
    )
    rt_mean_prior: float = Field(5.0, gt=0, description="prior mean of Rt (EpiEstim: 5)")
    rt_std_prior: float = Field(5.0, gt=0, description="prior sd of Rt (EpiEstim: 5)")
    rt_lookback_days: int = Field(
        28, ge=7, le=365, description="days of incidence before the alert that Rt starts from"
    )
    arrival_alpha: float = Field(
        0.001,
        gt=0,
        lt=0.5,
        description="a region counts as reached on the first day its cumulative count of the "
        "syndrome since the outbreak window opened is this improbable under its usual rate",
    )
    max_sites: int = Field(50, ge=1, description="candidate sites kept in a trace result")
    max_chain_cases: int = Field(
        1000, ge=2, description="no transmission chains for alerts with more cases"
    )

    @field_validator("serial_intervals", mode="before")
    @classmethod
    def _named_entries(cls, value: Any) -> Any:
        if isinstance(value, dict):
            known = {s.value for s in Syndrome}
            for key, entry in value.items():
                if str(key) not in known:
                    raise ValueError(
                        f"[trace.serial_intervals.{key}]: unknown syndrome; known: "
                        f"{', '.join(sorted(known))}"
                    )
                if isinstance(entry, dict):
                    try:
                        SerialInterval.model_validate(entry)
                    except ValidationError as exc:
                        problems = "; ".join(
                            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                        )
                        raise ValueError(f"[trace.serial_intervals.{key}] {problems}") from None
        return value

    def serial_interval(self, syndrome: Syndrome | str) -> SerialInterval | None:
        """The syndrome's serial interval: ``serial_intervals``, else the default, else None."""
        syndrome = Syndrome(syndrome)
        return self.serial_intervals.get(syndrome) or DEFAULT_SERIAL_INTERVALS.get(syndrome)


class FeedSettings(BaseModel):
    """Hospital feeds: when a facility that usually sends counts as silent."""

    silent_hours: float = Field(4.0, gt=0, description="hours without arrivals before a check")
    min_expected: float = Field(
        5.0,
        gt=0,
        description="raise only when the facility's usual rate predicts at least this many "
        "arrivals in the silent hours (Poisson: P(none) = exp(-5) < 1%)",
    )
    history_days: int = Field(28, ge=1, description="days that define the usual rate")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EPIRADAR_", env_nested_delimiter="__", extra="ignore"
    )

    db: str = DEFAULT_DB
    pseudonym_key_file: Path = Field(
        default_factory=lambda: _config_home() / "epiradar" / "pseudonym.key",
        description="secret key of the patient-id HMAC; kept apart from the data",
    )
    pseudonym_key: str | None = Field(None, description="the key itself (overrides the file)")
    ingest_chunk_rows: int = Field(50_000, ge=100)
    detect: DetectSettings = DetectSettings()
    trace: TraceSettings = TraceSettings()
    feeds: FeedSettings = FeedSettings()
    notify: NotifySettings = NotifySettings()
    workflow: WorkflowSettings = WorkflowSettings()
    auth: AuthSettings = AuthSettings()
    fhir: FhirSettings = FhirSettings()
    export: ExportSettings = ExportSettings()
    public: PublicSettings = PublicSettings()
    bulletin: BulletinSettings = BulletinSettings()
    capacity: CapacitySettings = CapacitySettings()
    host: str = "127.0.0.1"
    port: int = 8000
    mllp_port: int | None = Field(None, description="MLLP listener port (HL7 v2); off when unset")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_FILE_ENV, "epiradar.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    def pseudonym_secret(self) -> bytes:
        """The HMAC key; generated into ``pseudonym_key_file`` (mode 600) on first use."""
        if self.pseudonym_key:
            return self.pseudonym_key.encode()
        path = self.pseudonym_key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def load_settings(**overrides) -> Settings:
    """Settings from the environment and ``epiradar.toml``; ``None`` overrides are ignored."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def load_settings_file(path: Path | str, **overrides) -> Settings:
    """Settings with ``path`` as the TOML file instead of ``epiradar.toml``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"settings file {path} does not exist")
    previous = os.environ.get(CONFIG_FILE_ENV)
    os.environ[CONFIG_FILE_ENV] = str(path)
    try:
        return load_settings(**overrides)
    finally:
        if previous is None:
            del os.environ[CONFIG_FILE_ENV]
        else:
            os.environ[CONFIG_FILE_ENV] = previous
