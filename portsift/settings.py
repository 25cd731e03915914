"""The one settings object of portsift, loaded from one TOML file."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tomllib
import zoneinfo
from importlib import resources
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

# Measures 8 and 14 live in their own module; re-exported so that portsift.settings
# stays the one place settings are imported from.
from portsift.measure_settings import (
    GoodsClassSettings as GoodsClassSettings,
)
from portsift.measure_settings import (
    HsPrefixes,
    ReleaseSettings,
    RemoteInspectionSettings,
)
from portsift.measure_settings import (
    ReleaseClassSettings as ReleaseClassSettings,
)


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

    @property
    def shape(self) -> ShapeSettings:
        """The default shape: ``n_estimators``, ``num_leaves``, ``max_depth``, ``learning_rate``."""
        return ShapeSettings(
            n_estimators=self.n_estimators,
            num_leaves=self.num_leaves,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
        )


class ShapeSettings(_Frozen):
    """One shape of the classifier: how many trees, how large, how fast it learns."""

    n_estimators: int = Field(gt=0)
    num_leaves: int = Field(ge=2)
    max_depth: int
    learning_rate: float = Field(gt=0)

    @property
    def label(self) -> str:
        """``400x15, depth 4, lr 0.05``."""
        depth = "free depth" if self.max_depth < 0 else f"depth {self.max_depth}"
        return f"{self.n_estimators}x{self.num_leaves}, {depth}, lr {self.learning_rate:g}"


class ModelSearchSettings(_Frozen):
    """The shapes tried at training and the explanation budget they must keep.

    ``[model]``'s own shape is always tried first; ``shapes`` are the alternatives
    (empty: no search, ``[model]``'s shape is trained as it is).
    """

    shapes: tuple[ShapeSettings, ...]
    percent: float = Field(gt=0, le=100)
    min_shap_rows_per_second: float = Field(ge=0)
    shap_rows: int = Field(ge=10)
    timing_repeats: int = Field(ge=1)


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


LaneName = Literal["yellow", "red", "red_sampling"]
_HS_PREFIX = r"^[0-9]{2,10}$"


class ExplorationSettings(_Frozen):
    """The random share of the budget (unbiased outcomes for retraining and estimates)."""

    share: float = Field(ge=0, lt=1)
    random_state: int


class TierRuleSettings(_Frozen):
    """One tier's inspection-rate rule within a credit rule set.

    A cap (``below`` relative to the reference tier's average rate, or ``below_rate``
    absolute) and a floor (``at_least`` relative, or ``at_least_rate`` absolute); at
    most one of each kind. GACC's rules for certified enterprises are relative ("below
    20% of the regular enterprises' average rate"), those for dishonest ones absolute
    ("an average inspection rate of 80% or more").
    """

    below: float | None = Field(default=None, gt=0)
    below_rate: float | None = Field(default=None, gt=0, le=1)
    at_least: float | None = Field(default=None, gt=0)
    at_least_rate: float | None = Field(default=None, gt=0, le=1)
    source: str = ""
    source_zh: str = ""

    @model_validator(mode="after")
    def _one_of_each(self) -> TierRuleSettings:
        if self.below is not None and self.below_rate is not None:
            raise ValueError("a tier takes `below` or `below_rate`, not both")
        if self.at_least is not None and self.at_least_rate is not None:
            raise ValueError("a tier takes `at_least` or `at_least_rate`, not both")
        return self

    @property
    def relative(self) -> bool:
        """Whether the rule refers to the reference tier's rate."""
        return self.below is not None or self.at_least is not None

    @property
    def has_floor(self) -> bool:
        """Whether the rule sets a minimum rate."""
        return self.at_least is not None or self.at_least_rate is not None

    @property
    def is_empty(self) -> bool:
        """Whether the rule constrains nothing."""
        return not self.has_floor and self.below is None and self.below_rate is None


class CreditRuleSetSettings(_Frozen):
    """The credit-management rules of one legal instrument, in force from a date."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    valid_from: dt.date
    source: str
    source_zh: str
    reference_tier: str
    # Register tiers the instrument does not know, read as a tier it does know.
    fallback: dict[str, str] = Field(default_factory=dict)
    tiers: dict[str, TierRuleSettings]

    @model_validator(mode="after")
    def _consistent(self) -> CreditRuleSetSettings:
        reference = self.tiers.get(self.reference_tier)
        if reference is None:
            raise ValueError(
                f"rule set {self.id}: reference_tier {self.reference_tier!r} is not among its tiers"
            )
        if not reference.is_empty:
            raise ValueError(f"rule set {self.id}: the reference tier cannot carry a rule")
        unknown = sorted(set(self.fallback.values()) - set(self.tiers))
        if unknown:
            raise ValueError(f"rule set {self.id}: fallback to tiers it does not list: {unknown}")
        both = sorted(set(self.fallback) & set(self.tiers))
        if both:
            raise ValueError(f"rule set {self.id}: tiers both listed and mapped away: {both}")
        return self


class CreditSettings(_Frozen):
    """Differentiated credit management: dated rule sets, each picked by ``declared_at``."""

    tier_names_zh: dict[str, str] = Field(default_factory=dict)
    rule_sets: tuple[CreditRuleSetSettings, ...] = Field(min_length=1)

    @field_validator("rule_sets")
    @classmethod
    def _ordered(
        cls, value: tuple[CreditRuleSetSettings, ...]
    ) -> tuple[CreditRuleSetSettings, ...]:
        dates = [rule_set.valid_from for rule_set in value]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("rule_sets must be listed by strictly increasing valid_from")
        ids = [rule_set.id for rule_set in value]
        if len(set(ids)) != len(ids):
            raise ValueError("rule_sets need distinct ids")
        return value

    def name_zh(self, tier: str) -> str:
        """The Chinese name of a tier (the code itself when none is configured)."""
        return self.tier_names_zh.get(tier, tier)

    def rule_set(self, rule_set_id: str) -> CreditRuleSetSettings:
        """The rule set with this id.

        Raises:
            KeyError: No such rule set.
        """
        for rule_set in self.rule_sets:
            if rule_set.id == rule_set_id:
                return rule_set
        raise KeyError(rule_set_id)

    @property
    def latest(self) -> CreditRuleSetSettings:
        """The rule set in force last (for declarations dated after every change)."""
        return self.rule_sets[-1]


class AcceptanceSettings(_Frozen):
    """Third-party lab acceptance (采信): how long a pass report stays valid."""

    default_validity_days: int = Field(gt=0)
    validity_days: dict[str, int] = Field(default_factory=dict)

    @field_validator("validity_days")
    @classmethod
    def _prefixes(cls, value: dict[str, int]) -> dict[str, int]:
        for prefix, days in value.items():
            if not re.match(_HS_PREFIX, prefix) or days <= 0:
                raise ValueError(f"validity_days: bad entry {prefix!r} = {days!r}")
        return value


class GreenChannelSettings(_Frozen):
    """Deadlines of selected perishable goods."""

    inspection_hours: float = Field(gt=0)
    release_hours: float = Field(gt=0)


class LabTestClassSettings(_Frozen):
    """A goods class with its own lab test time limit."""

    name: str
    name_zh: str
    days: float = Field(gt=0)
    hs_prefixes: HsPrefixes


class SamplingSettings(_Frozen):
    """Deadlines of the sampling lane."""

    submission_days: float = Field(gt=0)
    lab_test: tuple[LabTestClassSettings, ...] = ()


class LaneSettings(_Frozen):
    """How a selection is split between physical inspection and document review."""

    red_min_value: float = Field(ge=0)
    physical_weight_ratio: float = Field(gt=1)


class RuleSettings(_Frozen):
    """An officer's plain selection rule: every condition given must hold."""

    name: str
    lane: LaneName
    hs_prefix: str | None = Field(default=None, pattern=_HS_PREFIX)
    origin_country: str | None = None
    importer_id: str | None = None
    credit_tier: str | None = None
    source: str = ""

    @model_validator(mode="after")
    def _has_condition(self) -> RuleSettings:
        if not any((self.hs_prefix, self.origin_country, self.importer_id, self.credit_tier)):
            raise ValueError(f"rule {self.name!r} has no condition and would select everything")
        return self


class DisclosureSettings(_Frozen):
    """Voluntary disclosure (主动披露, Haikou Customs 2024 measure 22).

    A declaration covered by a disclosure lodged before the decision on it is not a
    detection target: it goes to document review (``yellow``, ``selection_reason =
    disclosure``) outside the budget, and its outcome is a disclosed violation, never a
    hit. Which disclosures cover a declaration:

    * one that names it (``declaration_id``), lodged no later than ``decision_days``
      after the declaration's day;
    * with ``enterprise_scope``, one of its importer that names no declaration, lodged
      no later than ``decision_days`` after the declaration's day and at most
      ``enterprise_scope_days`` after it (the disclosed period reaches back that far);
    * not minor ones only with ``cover_not_minor``.
    """

    decision_days: int = Field(ge=0)
    enterprise_scope: bool
    enterprise_scope_days: int = Field(ge=0)
    cover_not_minor: bool
    source: str
    source_zh: str


#: The kinds of an advance ruling (as ``portsift.features.contract.RULING_KINDS``).
RulingKind = Literal["classification", "valuation", "origin"]


class RulingSettings(_Frozen):
    """Advance rulings (预裁定, Haikou Customs 2024 measure 12).

    A declaration that matches a valid ruling of its importer and HS code has the risk
    of the ruling's kind covered: the model features of that kind
    (``covered_features``) are marked as covered in its explanation and their
    risk-raising contributions do not count in its selection priority; a selection
    whose documentary kinds are all covered is not sent to document review. A ruling
    that ends within ``expiry_warning_days`` (``[from, to]`` days, inclusive) of the
    declaration's day is flagged (``ruling_expiring``): the enterprise may ask for the
    extension the measure allows.
    """

    expiry_warning_days: tuple[int, int]
    covered_features: dict[RulingKind, tuple[str, ...]]
    source: str
    source_zh: str

    @field_validator("expiry_warning_days")
    @classmethod
    def _window(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError("expiry_warning_days must be [from, to] with 0 <= from <= to")
        return value

    @field_validator("covered_features")
    @classmethod
    def _every_kind(
        cls, value: dict[RulingKind, tuple[str, ...]]
    ) -> dict[RulingKind, tuple[str, ...]]:
        missing = sorted({"classification", "valuation", "origin"} - set(value))
        if missing:
            raise ValueError(f"covered_features lacks the ruling kind(s) {missing}")
        return value


#: What the ranking of the budget maximises (see ``[selection] objective``).
ObjectiveName = Literal["hits", "revenue", "blend"]


class BlendSettings(_Frozen):
    """How training chooses the revenue weight of the ``blend`` objective."""

    weights: tuple[float, ...] = Field(min_length=1)
    min_precision_share: float = Field(gt=0, le=1)
    percent: float = Field(gt=0, le=100)

    @field_validator("weights")
    @classmethod
    def _unit(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 <= w <= 1 for w in value) or 0.0 not in value:
            raise ValueError("weights must lie in [0, 1] and include 0 (risk alone)")
        return tuple(sorted(set(value)))


class SelectionSettings(_Frozen):
    """The selection policy: budget, credit rules, exploration, 采信, deadlines, rules."""

    default_rate: float = Field(gt=0, le=1)
    objective: ObjectiveName
    blend: BlendSettings
    exploration: ExplorationSettings
    credit: CreditSettings
    acceptance: AcceptanceSettings
    green_channel: GreenChannelSettings
    sampling: SamplingSettings
    lanes: LaneSettings
    disclosure: DisclosureSettings
    rulings: RulingSettings
    remote_inspection: RemoteInspectionSettings
    release: ReleaseSettings
    rules: tuple[RuleSettings, ...] = ()


class MonitoringSettings(_Frozen):
    """Drift monitoring (``portsift monitor``): PSI bins, thresholds, label-drift rule."""

    bins: int = Field(ge=2, le=100)
    psi_warn: float = Field(gt=0)
    psi_alert: float = Field(gt=0)
    share_floor: float = Field(gt=0, lt=0.01)
    no_alert_features: tuple[str, ...] = ()
    point_in_time_features: tuple[str, ...] = ()
    label_confidence: float = Field(gt=0, lt=1)
    label_min_rows: int = Field(ge=1)
    weekly_min_rows: int = Field(ge=1)
    experiment_name: str

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringSettings:
        if self.psi_alert < self.psi_warn:
            raise ValueError("psi_alert must be at least psi_warn")
        return self


#: Selection strategies ``portsift simulate`` can replay (training/simulation.py).
StrategyName = Literal["exploit", "policy", "uncertainty", "bandit", "policy_ipw"]


class SimulationSettings(_Frozen):
    """The week-by-week replay of the selection feedback loop (``portsift simulate``)."""

    weeks: int = Field(ge=1)
    warmup_weeks: int = Field(ge=0)
    retrain_every: int = Field(ge=1)
    strategies: tuple[StrategyName, ...] = Field(min_length=1)
    bandit_shares: tuple[float, ...] = Field(min_length=2)
    bandit_discount: float = Field(gt=0, le=1)
    uncertainty_floor: float = Field(gt=0)
    ipw_max_weight: float = Field(ge=1)
    ring_found_share: float = Field(gt=0, le=1)
    ring_min_rows: int = Field(ge=1)
    psi_bins: int = Field(ge=2, le=100)
    psi_reference_weeks: int = Field(ge=1)
    n_estimators: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    early_stopping_rounds: int = Field(ge=1)
    revenue_n_estimators: int = Field(gt=0)
    random_state: int

    @field_validator("bandit_shares")
    @classmethod
    def _shares(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 <= share < 1 for share in value):
            raise ValueError("bandit_shares must each be in [0, 1)")
        return value


class FeedbackSettings(_Frozen):
    """What ``POST /feedback`` accepts as an inspection outcome."""

    max_revenue_to_declared_value: float = Field(gt=0)
    revenue_always_plausible: float = Field(ge=0)


class ServingSettings(_Frozen):
    """``portsift serve``: how often a worker looks for changed register files."""

    register_check_seconds: float = Field(ge=0)


class ConsoleSettings(_Frozen):
    """The officer console at ``/console`` (serving/console): officers, sessions, paging."""

    officers_file: str = ""
    monitor_json: str = ""
    session_minutes: int = Field(gt=0, le=24 * 60)
    max_failed_logins: int = Field(ge=1)
    failed_login_window_s: int = Field(gt=0)
    failed_login_delay_s: float = Field(ge=0, le=10)
    page_size: int = Field(ge=1, le=500)
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not an IANA time zone name: {value!r}") from None
        return value


class InputBoundsSettings(_Frozen):
    """The largest plausible value of each numeric declaration field (``[input_bounds]``).

    A value above its bound is refused like a negative one: by the API (400 naming the
    field) and by every command reading a file (an input error naming file, column and
    row, or the row set aside with ``--skip-invalid``). The reasons for each number are in
    ``settings.toml`` and ``docs/contract.md``.
    """

    declared_value: float = Field(gt=0)
    fob_value: float = Field(gt=0)
    total_taxes: float = Field(gt=0)
    revenue: float = Field(gt=0)
    quantity: float = Field(gt=0)
    gross_weight: float = Field(gt=0)
    net_weight: float = Field(gt=0)
    tax_rate: float = Field(gt=0)

    def as_mapping(self) -> dict[str, float]:
        """Field name -> largest accepted value."""
        return dict(self.model_dump())


class Settings(_Frozen):
    """All settings of a portsift run."""

    features: FeatureSettings
    model: ModelSettings
    model_search: ModelSearchSettings
    revenue_model: RevenueModelSettings
    training: TrainingSettings
    evaluation: EvaluationSettings
    selection: SelectionSettings
    monitoring: MonitoringSettings
    simulation: SimulationSettings
    feedback: FeedbackSettings
    serving: ServingSettings
    input_bounds: InputBoundsSettings
    console: ConsoleSettings


#: Sub-tables of ``[selection]`` added after policy versions were first recorded: they
#: enter the policy version's digest only where they differ from the packaged defaults
#: (see ``SelectionPolicy.version``), so that the versions of earlier decisions stay.
LATER_SELECTION_SECTIONS: tuple[str, ...] = ("disclosure", "rulings")


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


@functools.cache
def packaged_settings() -> Settings:
    """The packaged defaults of ``portsift/settings.toml`` alone (no override file).

    Returns:
        The frozen, validated packaged settings.
    """
    defaults = _read_toml(
        resources.files("portsift").joinpath("settings.toml").read_text("utf-8"),
        "portsift/settings.toml",
    )
    return Settings.model_validate(defaults)
