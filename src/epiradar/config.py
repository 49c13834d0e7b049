"""Settings: defaults < ``epiradar.toml`` < ``EPIRADAR_*`` environment < command-line options."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from epiradar.model import Syndrome

DEFAULT_DB = "sqlite:///./epiradar.db"
CONFIG_FILE_ENV = "EPIRADAR_CONFIG"


class DetectSettings(BaseModel):
    """Temporal detection over region x syndrome counts: which detectors, and how many alarms
    reach people (``burden``)."""

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


class TraceSettings(BaseModel):
    """Exposure enrichment of an alert's cases against comparable non-alert visits."""

    controls_per_case: int = Field(10, ge=1)
    exposure_window_days: int = Field(14, ge=0)


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
