"""The feature pipeline: declarations and registers in, one model-ready frame out.

:class:`FeaturePipeline` follows scikit-learn's estimator rules. ``fit_transform`` gives
training rows their out-of-time features (every historic statistic as of the row's own
date) and keeps the totals over the training history as fitted state; ``transform``
applies that state to declarations lodged later. The state is plain tables and is
saved as JSON with the model.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from portsift.features import (
    commodity,
    disclosure,
    enterprise,
    identity,
    lab,
    ruling,
    transaction,
)
from portsift.features.stats import (
    OutcomeStat,
    Stat,
    State,
    state_key,
    stats_as_of,
    stats_from_state,
)

#: The statistics of every pipeline. A pipeline with schema-file categorical columns
#: adds their identity statistics (see :meth:`FeaturePipeline.statistics`).
STATS: tuple[Stat, ...] = (
    OutcomeStat("all", ()),
    *enterprise.OUTCOME_STATS,
    *enterprise.ACTIVITY_STATS,
    *lab.OUTCOME_STATS,
    *commodity.OUTCOME_STATS,
    *commodity.REFERENCE_STATS,
    *identity.BUILT_IN_STATS,
)

#: Features whose risk may only grow as the declared price falls: a lower declared
#: value against the reference must never lower the score (a behavioural guarantee).
MONOTONE_DECREASING: tuple[str, ...] = (
    "unit_value_ratio",
    "unit_value_ratio_origin",
    "unit_value_ratio_importer",
    "value_per_kg_ratio",
)

#: Features that only the revenue model uses: the amount at stake, not the risk.
REVENUE_ONLY: tuple[str, ...] = ("log_declared_value", "tax_rate")

#: Columns carried beside the features for the policy, explanations and reports.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "declaration_id",
    "declared_at",
    "importer_id",
    "declarant_id",
    "hs_code",
    "origin_country",
    "declared_value",
    "quantity",
    "gross_weight",
    "net_weight",
    "fob_value",
    "tax_rate",
    "total_taxes",
    "unit_value",
    "value_per_kg",
    "weight_per_unit",
    "credit_tier",
    "hs2",
    "hs4",
    "hs6",
    "lab_id",
    "lab_result",
    "issued_at",
    "inspected",
    "illicit",
    "revenue",
    # Present only when the registers of measures 22 and 12 are given.
    *disclosure.CONTEXT_COLUMNS,
    *ruling.CONTEXT_COLUMNS,
)

#: Features that exist only when an optional register is given: without it they are
#: neither candidates nor reported as left out (:meth:`FeaturePipeline.candidate_features`).
OPTIONAL_REGISTER_FEATURES: tuple[str, ...] = disclosure.HISTORY_FEATURES


@dataclass(frozen=True)
class Registers:
    """The reference registers a declaration is read against.

    ``disclosures`` (voluntary disclosures, measure 22) and ``rulings`` (advance
    rulings, measure 12) are optional: without them no feature, decision or output
    column of those measures exists.
    """

    enterprises: pd.DataFrame | None = None
    lab_results: pd.DataFrame | None = None
    commodities: pd.DataFrame | None = None
    disclosures: pd.DataFrame | None = None
    rulings: pd.DataFrame | None = None


class NotFittedError(RuntimeError):
    """The pipeline was used before ``fit``."""


class FeaturePipeline:
    """Build the enterprise, identity, lab, commodity and transaction features.

    Args:
        smoothing: Pseudo-inspections of the prior in every smoothed rate.
        label_delay_days: Days between lodging and a known inspection outcome.
        reference_period: Period alias of the reference-price medians.
        new_importer_days: Days after its first declaration an importer counts as new.
        min_category_count: Categories seen fewer times in training become "other".
        extra_categorical: Further categorical input columns (from a schema file).
        extra_numeric: Further numeric input columns (from a schema file).
        identity_smoothing: Pseudo-inspections of the prior in the identity keys' smoothed
            rates (:mod:`portsift.features.identity`); None for ``smoothing``. Their records are
            short (a pair is inspected a few times), and the model also sees their counts.
    """

    def __init__(
        self,
        smoothing: float = 20.0,
        label_delay_days: int = 0,
        reference_period: str = "M",
        new_importer_days: int = 90,
        min_category_count: int = 20,
        extra_categorical: tuple[str, ...] = (),
        extra_numeric: tuple[str, ...] = (),
        identity_smoothing: float | None = None,
    ) -> None:
        self.smoothing = smoothing
        self.identity_smoothing = identity_smoothing
        self.label_delay_days = label_delay_days
        self.reference_period = reference_period
        self.new_importer_days = new_importer_days
        self.min_category_count = min_category_count
        self.extra_categorical = extra_categorical
        self.extra_numeric = extra_numeric

    # -- estimator API -------------------------------------------------------------

    def fit(self, declarations: pd.DataFrame, registers: Registers) -> Self:
        """Fit the state on a labelled history.

        Args:
            declarations: Canonical declarations (the training history).
            registers: Enterprise register, lab results and commodity catalogue.

        Returns:
            The fitted pipeline.
        """
        self.fit_transform(declarations, registers)
        return self

    def fit_transform(self, declarations: pd.DataFrame, registers: Registers) -> pd.DataFrame:
        """Fit the state and return out-of-time features of the training rows.

        Args:
            declarations: Canonical declarations (the training history).
            registers: Enterprise register, lab results and commodity catalogue.

        Returns:
            Features and context columns, aligned with ``declarations.index``.
        """
        frame = self.prepare(declarations, registers)
        values, state = stats_as_of(
            frame,
            self.statistics(),
            label_delay_days=self.label_delay_days,
            period=self.reference_period,
        )
        self.vocabulary_ = transaction.fit_vocabulary(
            frame, self.categorical_inputs(frame), self.min_category_count
        )
        self.state_: State = state
        self.history_end_ = pd.Timestamp(frame["declared_at"].max())
        features = self.derive(frame, values)
        candidates = self.candidate_features(features.columns)
        empty = [name for name in candidates if features[name].isna().all()]
        self.feature_names_ = [name for name in candidates if name not in empty]
        self.dropped_features_ = empty
        return features

    def transform(self, declarations: pd.DataFrame, registers: Registers) -> pd.DataFrame:
        """Return features of declarations lodged after the fitted history.

        Args:
            declarations: Canonical declarations to score.
            registers: Enterprise register, lab results and commodity catalogue.

        Returns:
            Features and context columns, aligned with ``declarations.index``.

        Raises:
            NotFittedError: If the pipeline has not been fitted.
        """
        if not hasattr(self, "state_"):
            raise NotFittedError("FeaturePipeline.transform called before fit")
        stats = self.statistics()
        absent = [state_key(s) for s in stats if state_key(s) not in self.state_]
        if absent:
            raise NotFittedError(
                f"the fitted state lacks the statistics {', '.join(absent)} (a model "
                "trained by an earlier portsift); retrain it"
            )
        frame = self.prepare(declarations, registers)
        values = stats_from_state(frame, stats, self.state_)
        return self.derive(frame, values)

    def statistics(self) -> tuple[Stat, ...]:
        """Return every statistic this pipeline computes, in computing order.

        :data:`STATS`, then the identity statistics that the schema-file categorical
        columns add (each column's own, and the pairs whose roles they fill, see
        :mod:`portsift.features.identity`).
        """
        extra = self._identity_stats()
        built_in = set(identity.BUILT_IN_STATS)
        return (*STATS, *(stat for stat in extra if stat not in built_in))

    @property
    def identity_weight(self) -> float:
        """Pseudo-inspections of the prior in the identity keys' smoothed rates."""
        return self.smoothing if self.identity_smoothing is None else self.identity_smoothing

    def _identity_stats(self) -> tuple[OutcomeStat, ...]:
        extra = tuple(extra_feature_name(c) for c in self.extra_categorical)
        return identity.identity_stats(extra)

    # -- feature lists -------------------------------------------------------------

    @property
    def categorical_features_(self) -> list[str]:
        """Model features that are category codes."""
        codes = {transaction.code_name(column) for column in self.vocabulary_}
        return [name for name in self.feature_names_ if name in codes]

    @property
    def risk_features_(self) -> list[str]:
        """Features of the risk (violation) model."""
        return [name for name in self.feature_names_ if name not in REVENUE_ONLY]

    @property
    def revenue_features_(self) -> list[str]:
        """Features of the revenue model: the risk features and the amount at stake."""
        return list(self.feature_names_)

    def feature_labels(self) -> dict[str, str]:
        """Map each model feature to the input field or signal an officer knows it by."""
        labels = {name: name for name in self.feature_names_}
        for column in self.vocabulary_:
            labels[transaction.code_name(column)] = column
        for original in self.extra_categorical:
            labels[transaction.code_name(extra_feature_name(original))] = original
        for original in self.extra_numeric:
            labels[extra_feature_name(original)] = original
        labels[transaction.code_name("hs2")] = "hs_chapter"
        return labels

    def categorical_inputs(self, frame: pd.DataFrame) -> tuple[str, ...]:
        """The categorical input columns of ``frame`` the pipeline codes (built-in and schema)."""
        fields = [c for c in transaction.CATEGORICAL_FIELDS if c in frame]
        fields += [extra_feature_name(c) for c in self.extra_categorical]
        return tuple(fields)

    def candidate_features(self, available: Collection[str] | None = None) -> list[str]:
        """Every feature the pipeline can produce, before unusable ones are dropped.

        Args:
            available: The columns of the derived features, if known: the features of
                an optional register that was not given (:data:`OPTIONAL_REGISTER_FEATURES`)
                are then left out, so that a run without that register is the run it was
                before the register existed.

        Returns:
            The feature names, in model column order.
        """
        optional = [
            name for name in OPTIONAL_REGISTER_FEATURES if available is None or name in available
        ]
        names = [
            "importer_tier_rank",
            "importer_days_in_tier",
            "importer_tier_changes",
            "importer_tier_worsened",
            "declarant_tier_rank",
            "importer_inspections",
            "importer_violation_rate",
            "importer_revenue_per_inspection",
            "importer_declarations",
            "importer_days_active",
            "importer_is_new",
            "importer_hs6_declarations",
            "importer_hs6_is_new",
            "declarant_inspections",
            "declarant_violation_rate",
            "declarant_revenue_per_inspection",
            "declarant_declarations",
            *optional,
            *identity.feature_names(self._identity_stats()),
            "acceptance_listed",
            "lab_report_present",
            "lab_accredited",
            "lab_result_pass",
            "lab_report_age_days",
            "lab_disagreement_rate",
            "hs2_violation_rate",
            "hs4_violation_rate",
            "hs6_violation_rate",
            "hs6_origin_violation_rate",
            "unit_value_ratio",
            "unit_value_ratio_origin",
            "unit_value_ratio_importer",
            "value_per_kg_ratio",
            "weight_per_unit_ratio",
            "tax_rate_gap",
            "tax_assessment_gap",
            "perishable",
            "origin_departure_mismatch",
            "day_of_week",
            "month",
            "net_gross_ratio",
            "cif_fob_ratio",
            *(transaction.code_name(column) for column in self.vocabulary_),
            *(extra_feature_name(c) for c in self.extra_numeric),
            *REVENUE_ONLY,
        ]
        return list(dict.fromkeys(names))

    # -- the steps -----------------------------------------------------------------

    def prepare(self, declarations: pd.DataFrame, registers: Registers) -> pd.DataFrame:
        """Declarations joined with the registers and the per-row measures, before any statistic."""
        parts = [
            declarations,
            commodity.measures(declarations).drop(columns=["tax_rate"]),
            commodity.catalogue_flags(declarations["hs_code"], registers.commodities),
            lab.attach_lab_reports(declarations, registers.lab_results),
            enterprise.credit_features(declarations, registers.enterprises),
            disclosure.disclosure_columns(declarations, registers.disclosures),
            ruling.ruling_columns(declarations, registers.rulings),
        ]
        frame = pd.concat(
            [parts[0].drop(columns=list(lab.LAB_COLUMNS), errors="ignore"), *parts[1:]], axis=1
        )
        if "tax_rate" not in frame:
            frame["tax_rate"] = np.nan
        for column in ("declarant_id", "origin_country"):
            if column not in frame:
                frame[column] = pd.Series(np.nan, index=frame.index, dtype="str")
        frame["lab_pass_report"] = lab.pass_report(frame).to_numpy()
        for original in (*self.extra_categorical, *self.extra_numeric):
            frame[extra_feature_name(original)] = declarations[original]
        return frame

    def derive(self, frame: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
        """The features of prepared rows from the statistics' values looked up for them."""
        parts = [
            frame[list(enterprise.CREDIT_FEATURES)],
            enterprise.history_features(frame, values, self.smoothing, self.new_importer_days),
            frame[[c for c in disclosure.HISTORY_FEATURES if c in frame]],
            pd.DataFrame(
                identity.identity_features(
                    frame, values, self._identity_stats(), self.identity_weight
                ),
                index=frame.index,
            ),
            lab.lab_features(frame, values, self.smoothing),
            commodity.commodity_features(frame, values, self.smoothing),
            transaction.transaction_features(frame),
            transaction.encode(frame, self.vocabulary_),
        ]
        for original in self.extra_numeric:
            name = extra_feature_name(original)
            parts.append(frame[[name]].astype("float64"))
        context = [c for c in (*CONTEXT_COLUMNS, *self.vocabulary_) if c in frame]
        context = list(dict.fromkeys(context))
        parts.append(frame[context])
        return pd.concat(parts, axis=1)

    # -- persistence ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters and fitted state as JSON-serialisable data."""
        return {
            "params": {
                "smoothing": self.smoothing,
                "label_delay_days": self.label_delay_days,
                "reference_period": self.reference_period,
                "new_importer_days": self.new_importer_days,
                "min_category_count": self.min_category_count,
                "extra_categorical": list(self.extra_categorical),
                "extra_numeric": list(self.extra_numeric),
                "identity_smoothing": self.identity_smoothing,
            },
            "vocabulary": self.vocabulary_,
            "feature_names": self.feature_names_,
            "dropped_features": self.dropped_features_,
            "history_end": self.history_end_.isoformat(),
            "state": {name: table_to_dict(table) for name, table in self.state_.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeaturePipeline:
        """Rebuild a fitted pipeline from :meth:`to_dict` output."""
        params = dict(data["params"])
        params["extra_categorical"] = tuple(params["extra_categorical"])
        params["extra_numeric"] = tuple(params["extra_numeric"])
        params.setdefault("identity_smoothing", None)
        pipeline = cls(**params)
        pipeline.vocabulary_ = {k: list(v) for k, v in data["vocabulary"].items()}
        pipeline.feature_names_ = list(data["feature_names"])
        pipeline.dropped_features_ = list(data["dropped_features"])
        pipeline.history_end_ = pd.Timestamp(data["history_end"])
        pipeline.state_ = {name: table_from_dict(t) for name, t in data["state"].items()}
        return pipeline


def extra_feature_name(original: str) -> str:
    """Return the model feature name of a schema-file extra column."""
    slug = re.sub(r"[^0-9A-Za-z]+", "_", original).strip("_").lower()
    return f"extra_{slug}"


def table_to_dict(table: pd.DataFrame) -> dict[str, Any]:
    """Return a table as JSON-serialisable columns (floats, text or datetimes)."""
    columns: dict[str, list[Any]] = {}
    kinds: dict[str, str] = {}
    for name in table.columns:
        column = table[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            kinds[name] = "datetime"
            text = column.dt.strftime("%Y-%m-%dT%H:%M:%S")
            columns[name] = text.astype(object).where(column.notna(), None).tolist()
        elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            kinds[name] = "float"
            numbers = column.astype("float64")
            columns[name] = numbers.astype(object).where(numbers.notna(), None).tolist()
        else:
            kinds[name] = "str"
            columns[name] = column.astype(object).where(column.notna(), None).tolist()
    return {"kinds": kinds, "columns": columns}


def table_from_dict(data: dict[str, Any]) -> pd.DataFrame:
    """Rebuild a table written by :func:`table_to_dict`."""
    series: dict[str, pd.Series] = {}
    for name, values in data["columns"].items():
        kind = data["kinds"][name]
        if kind == "datetime":
            series[name] = pd.to_datetime(pd.Series(values, dtype="str")).astype("datetime64[ns]")
        elif kind == "float":
            series[name] = pd.Series(values, dtype="float64")
        else:
            series[name] = pd.Series(values, dtype="str")
    return pd.DataFrame(series)
