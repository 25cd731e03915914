"""The one settings object of portsift, loaded from one TOML file."""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureSettings(_Frozen):
    """Parameters of the feature pipelines."""

    smoothing: float = Field(gt=0)
    label_delay_days: int = Field(ge=0)
    reference_period: str
    new_importer_days: int = Field(gt=0)
    min_category_count: int = Field(ge=1)


class ModelSettings(_Frozen):
    """LightGBM classifier parameters for P(illicit)."""

    n_estimators: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    num_leaves: int = Field(ge=2)
    max_depth: int
    min_child_samples: int = Field(ge=1)
    subsample: float = Field(gt=0, le=1)
    subsample_freq: int = Field(ge=0)
    colsample_bytree: float = Field(gt=0, le=1)
    reg_lambda: float = Field(ge=0)
    early_stopping_rounds: int = Field(ge=1)
    n_jobs: int = Field(ge=0)
    random_state: int


class RevenueModelSettings(_Frozen):
    """LightGBM regressor parameters for the revenue an inspection raises."""

    n_estimators: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    num_leaves: int = Field(ge=2)
    max_depth: int
    min_child_samples: int = Field(ge=1)
    estimate_evaded_share: float = Field(ge=0, le=1)
    estimate_default_tax_rate: float = Field(ge=0)


class TrainingSettings(_Frozen):
    """How the labelled history is split and where runs are recorded."""

    holdout_fraction: float = Field(ge=0, lt=1)
    validation_fraction: float = Field(gt=0, lt=1)
    experiment_name: str
    registered_model_name: str


class EvaluationSettings(_Frozen):
    """Which cut-offs and baselines the evaluation reports."""

    percents: tuple[float, ...]
    calibration_bins: int = Field(ge=2)
    random_baseline_draws: int = Field(ge=1)
    random_state: int


class SelectionSettings(_Frozen):
    """Inspection budget."""

    default_rate: float = Field(gt=0, le=1)
    revenue_weight: float = Field(ge=0, le=1)


class Settings(_Frozen):
    """All settings of a portsift run."""

    features: FeatureSettings
    model: ModelSettings
    revenue_model: RevenueModelSettings
    training: TrainingSettings
    evaluation: EvaluationSettings
    selection: SelectionSettings


class SettingsError(ValueError):
    """A settings file that cannot be read or does not validate."""


def _read_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{source}: not valid TOML: {exc}") from exc


def load_settings(path: str | Path | None = None) -> Settings:
    """Load the settings.

    The packaged ``settings.toml`` gives every default; a file given as ``path`` (or
    in ``PORTSIFT_CONFIG``) overrides it key by key within each section.

    Args:
        path: Optional settings file overriding the packaged defaults.

    Returns:
        The frozen, validated settings.

    Raises:
        SettingsError: If a file is missing, not TOML, or has unknown or invalid keys.
    """
    defaults = _read_toml(
        resources.files("portsift").joinpath("settings.toml").read_text("utf-8"),
        "portsift/settings.toml",
    )
    override_path = path if path is not None else os.environ.get("PORTSIFT_CONFIG")
    merged = {section: dict(values) for section, values in defaults.items()}
    source = "portsift/settings.toml"
    if override_path:
        source = str(override_path)
        try:
            text = Path(override_path).read_text("utf-8")
        except OSError as exc:
            raise SettingsError(f"{override_path}: cannot read settings file: {exc}") from exc
        for section, values in _read_toml(text, source).items():
            if not isinstance(values, dict):
                raise SettingsError(f"{source}: [{section}] must be a table")
            merged.setdefault(section, {}).update(values)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(f"{source}: invalid settings:\n{exc}") from exc
