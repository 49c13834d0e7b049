"""Settings: defaults < epiradar.toml < EPIRADAR_* environment < explicit options."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from epiradar.config import DEFAULT_DB, DetectSettings, Settings, load_settings


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in (
        "EPIRADAR_DB",
        "EPIRADAR_CONFIG",
        "EPIRADAR_DETECT__ALPHA",
        "EPIRADAR_PSEUDONYM_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults():
    settings = load_settings()
    assert settings.db == DEFAULT_DB == "sqlite:///./epiradar.db"
    detect = settings.detect
    assert detect.methods == ["nb_glm"] and detect.by_syndrome == {"ili": ["ewma_regression"]}
    assert (detect.windows, detect.burden, detect.fdr_level) == ([1, 3, 7], "fdr", 0.1)


def test_toml_then_environment_then_options(tmp_path, monkeypatch):
    (tmp_path / "epiradar.toml").write_text(
        'db = "sqlite:///from-toml.db"\n[detect]\nalpha = 0.01\nmethods = ["C2"]\n'
    )
    settings = load_settings()
    assert settings.db == "sqlite:///from-toml.db"
    assert settings.detect.alpha == 0.01 and settings.detect.methods == ["C2"]
    monkeypatch.setenv("EPIRADAR_DB", "sqlite:///from-env.db")
    monkeypatch.setenv("EPIRADAR_DETECT__ALPHA", "0.005")
    settings = load_settings()
    assert settings.db == "sqlite:///from-env.db" and settings.detect.alpha == 0.005
    assert load_settings(db="sqlite:///from-option.db").db == "sqlite:///from-option.db"
    assert load_settings(db=None).db == "sqlite:///from-env.db"  # an absent option changes nothing


def test_config_file_named_by_environment(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.toml"
    other.write_text("[detect]\nbaseline = 14\n")
    monkeypatch.setenv("EPIRADAR_CONFIG", str(other))
    assert load_settings().detect.baseline == 14


def test_invalid_detector_settings_are_refused(tmp_path):
    (tmp_path / "epiradar.toml").write_text('[detect]\nmethods = ["C9"]\n')
    with pytest.raises(ValidationError, match="C9"):
        load_settings()


def test_pseudonym_key_is_generated_once_private_and_apart(tmp_path):
    key_file = tmp_path / "keys" / "pseudonym.key"
    settings = load_settings(pseudonym_key_file=key_file)
    first = settings.pseudonym_secret()
    assert len(first) == 64 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_settings(pseudonym_key_file=key_file).pseudonym_secret() == first
    other = load_settings(pseudonym_key_file=tmp_path / "other.key").pseudonym_secret()
    assert other != first
    assert load_settings(pseudonym_key="given").pseudonym_secret() == b"given"


def test_detectors_per_syndrome_params_and_burden_from_toml(tmp_path):
    (tmp_path / "epiradar.toml").write_text(
        "[detect]\n"
        'methods = ["C2", "farrington"]\n'
        'burden = "hierarchical"\n'
        "fdr_level = 0.01\n"
        "windows = [1, 3, 7]\n"
        "[detect.by_syndrome]\n"
        'ili = ["ewma_regression"]\n'
        "[detect.params.ewma_regression]\n"
        "baseline = 42\n",
        encoding="utf-8",
    )
    detect = load_settings().detect
    chosen = detect.methods_by_syndrome()
    assert chosen["ili"] == ["ewma_regression"] and chosen["fever"] == ["C2", "farrington"]
    assert detect.params == {"ewma_regression": {"baseline": 42}}
    assert (detect.burden, detect.fdr_level, detect.windows) == ("hierarchical", 0.01, [1, 3, 7])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('methods = ["C1", "C9"]', "C9"),
        ('by_syndrome = { ili = ["nope"] }', "nope"),
        ("params = { unknown = { a = 1 } }", "unknown"),
        ('burden = "bonferroni"', "burden"),
        ("windows = [0, 7]", "windows"),
    ],
)
def test_bad_detection_settings_are_refused_naming_the_entry(tmp_path, text, message):
    (tmp_path / "epiradar.toml").write_text(f"[detect]\n{text}\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        load_settings()


def test_readme_settings_block_is_valid_and_shows_the_detection_defaults():
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```toml\ndb =") + len("```toml\n") :]
    documented = tomllib.loads(block[: block.index("```")])
    detect = Settings(**documented).detect
    defaults = DetectSettings()
    assert detect.model_dump(exclude={"params"}) == defaults.model_dump(exclude={"params"})
