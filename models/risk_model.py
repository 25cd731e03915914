"""The risk model: calibrated P(illicit) and the revenue an inspection would raise.

Two LightGBM boosters. The classifier learns P(illicit) from inspected declarations
only (uninspected ones are not negatives: their outcome is unknown); its raw log-odds
are calibrated by Platt scaling (a logistic map of the log-odds) fitted on the latest
slice of the training history, which also drives early stopping. Platt scaling is
strictly increasing, so the calibrated score keeps the ranking of the raw score
without the ties and hard 0/1 steps that isotonic regression gives on small slices.
The regressor (gamma deviance, log link) learns the revenue raised when a violation is
found, as a share of the declared value; ``expected_revenue`` is the calibrated
probability times that amount. Without a revenue label the amount is
estimated from the declared value and tax rate, and the model says so.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from portsift.models.tree_shap import TreeShap

# One lock for every model's compilation: compiling is rare (once per classifier), and a
# lock held on the instance would be state outside the scikit-learn rules.
_TREE_SHAP_LOCK = threading.Lock()


@dataclass(frozen=True)
class TrainingData:
    """Model-ready training rows.

    Attributes:
        features: Feature frame (all features, float codes for categories).
        declared_at: Lodging time of each row (for the time-ordered split).
        inspected: 1 where the row was inspected.
        illicit: Outcome where known, NaN elsewhere.
        revenue: Revenue raised where known, or ``None`` when the data has no label.
    """

    features: pd.DataFrame
    declared_at: pd.Series
    inspected: pd.Series
    illicit: pd.Series
    revenue: pd.Series | None


def time_split(data: TrainingData, validation_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The time-ordered split of the labelled rows that :meth:`RiskModel.fit` uses.

    Args:
        data: Training rows; only inspected rows with a known outcome are split.
        validation_fraction: Latest share of the labelled rows for validation.

    Returns:
        ``(train_rows, valid_rows)``: positions in ``data``, each in time order.
    """
    labelled = (data.inspected == 1).to_numpy() & data.illicit.notna().to_numpy()
    order = np.argsort(data.declared_at.to_numpy()[labelled], kind="stable")
    rows = np.flatnonzero(labelled)[order]
    cut = round(len(rows) * (1 - validation_fraction))
    return rows[:cut], rows[cut:]


class RiskModel:
    """LightGBM violation classifier with Platt calibration, and a revenue regressor.

    Args:
        risk_features: Feature columns of the classifier, in order.
        revenue_features: Feature columns of the regressor, in order.
        categorical_features: Columns holding category codes.
        monotone_decreasing: Classifier features constrained to non-increasing risk.
        classifier_params: LightGBM parameters of the classifier.
        regressor_params: LightGBM parameters of the regressor.
        n_estimators: Maximum boosting rounds of the classifier.
        revenue_n_estimators: Maximum boosting rounds of the regressor.
        early_stopping_rounds: Rounds without improvement before stopping.
        validation_fraction: Latest share of labelled rows for early stopping and
            calibration.
        estimate_evaded_share: Without a revenue label, the share of the duty at stake
            assumed to be evaded.
        estimate_default_tax_rate: Tax rate (%) assumed where none is declared.
        n_jobs: LightGBM threads (0 = LightGBM's default).
        random_state: Seed of every random choice.
    """

    def __init__(
        self,
        risk_features: list[str],
        revenue_features: list[str],
        categorical_features: list[str],
        monotone_decreasing: tuple[str, ...] = (),
        classifier_params: dict[str, Any] | None = None,
        regressor_params: dict[str, Any] | None = None,
        n_estimators: int = 400,
        revenue_n_estimators: int = 300,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.15,
        estimate_evaded_share: float = 0.3,
        estimate_default_tax_rate: float = 10.0,
        n_jobs: int = 0,
        random_state: int = 17,
    ) -> None:
        self.risk_features = risk_features
        self.revenue_features = revenue_features
        self.categorical_features = categorical_features
        self.monotone_decreasing = monotone_decreasing
        self.classifier_params = classifier_params
        self.regressor_params = regressor_params
        self.n_estimators = n_estimators
        self.revenue_n_estimators = revenue_n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.estimate_evaded_share = estimate_evaded_share
        self.estimate_default_tax_rate = estimate_default_tax_rate
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------

    def fit(self, data: TrainingData, sample_weight: np.ndarray | None = None) -> Self:
        """Fit both boosters and the calibration on the labelled rows of ``data``.

        Args:
            data: Training rows; only inspected rows with a known outcome are used.
            sample_weight: Optional weight per row of ``data`` (aligned with it; the
                weights of unlabelled rows are ignored), e.g. inverse-probability
                weights ``1 / p`` of rows drawn at random with probability ``p``, so
                that the fitted model and its calibration describe the whole
                population instead of the inspected sample. None (the default)
                weighs every labelled row equally, exactly as without the argument.

        Returns:
            The fitted model.

        Raises:
            ValueError: If there are too few labelled rows or only one class, or the
                weights are not finite, positive and one per row.
        """
        train_rows, valid_rows = time_split(data, self.validation_fraction)
        rows = np.concatenate([train_rows, valid_rows])
        y = data.illicit.to_numpy(dtype="float64")[rows]
        if len(rows) < 50 or y.min() == y.max():
            raise ValueError(
                f"need at least 50 inspected declarations with both outcomes to train, "
                f"got {len(rows)} labelled rows with {int(y.sum())} violations"
            )
        weight = _checked_weights(sample_weight, len(data.features), rows)
        cut = len(train_rows)
        x_risk = data.features[self.risk_features].to_numpy(dtype="float64")
        self.classifier_ = self._fit_classifier(x_risk, y, train_rows, valid_rows, weight)
        raw_valid = self.classifier_.predict(x_risk[valid_rows], raw_score=True)
        self._fit_calibration(
            raw_valid, y[len(train_rows) :], None if weight is None else weight[valid_rows]
        )
        self.revenue_labelled_ = data.revenue is not None
        self.regressor_ = None
        if data.revenue is not None:
            self.regressor_ = self._fit_regressor(data, rows, cut, weight)
        self.training_rows_ = len(rows)
        self.training_positive_rate_ = float(y.mean())
        return self

    def _fit_classifier(
        self,
        x: np.ndarray,
        y: np.ndarray,
        train_rows: np.ndarray,
        valid_rows: np.ndarray,
        weight: np.ndarray | None = None,
    ) -> lgb.Booster:
        # ``y`` is aligned with ``rows``, whose first ``len(train_rows)`` are the training rows.
        y_train, y_valid = y[: len(train_rows)], y[len(train_rows) :]
        categorical = [
            self.risk_features.index(c)
            for c in self.categorical_features
            if c in self.risk_features
        ]
        monotone = [-1 if name in self.monotone_decreasing else 0 for name in self.risk_features]
        params = {
            "objective": "binary",
            "metric": "binary_logloss",
            "verbosity": -1,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "monotone_constraints": monotone,
            "monotone_constraints_method": "advanced",
            "max_cat_to_onehot": 8,
            "max_cat_threshold": 16,
            "cat_smooth": 20.0,
            "deterministic": True,
            "force_col_wise": True,
            **(self.classifier_params or {}),
        }
        train_set = lgb.Dataset(
            x[train_rows],
            label=y_train,
            weight=None if weight is None else weight[train_rows],
            feature_name=self.risk_features,
            categorical_feature=categorical,
            free_raw_data=True,
        )
        # Early stopping scores the weighted loss too, so that it stops where the
        # population's loss (not the inspected sample's) stops improving.
        valid_set = lgb.Dataset(
            x[valid_rows],
            label=y_valid,
            weight=None if weight is None else weight[valid_rows],
            reference=train_set,
        )
        return lgb.train(
            params,
            train_set,
            num_boost_round=self.n_estimators,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )

    def _fit_calibration(
        self, raw: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None
    ) -> None:
        platt = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
        platt.fit(raw.reshape(-1, 1), y, sample_weight=weight)
        self.calibration_slope_ = float(platt.coef_[0, 0])
        self.calibration_intercept_ = float(platt.intercept_[0])

    def _fit_regressor(
        self,
        data: TrainingData,
        rows: np.ndarray,
        cut: int,
        weight: np.ndarray | None = None,
    ) -> lgb.Booster | None:
        assert data.revenue is not None
        revenue = data.revenue.to_numpy(dtype="float64")
        illicit = data.illicit.to_numpy(dtype="float64")
        positive = (illicit[rows] == 1) & (revenue[rows] > 0)
        train_rows = rows[:cut][positive[:cut]]
        valid_rows = rows[cut:][positive[cut:]]
        if len(train_rows) < 20 or len(valid_rows) < 5:
            return None
        x = data.features[self.revenue_features].to_numpy(dtype="float64")
        # The regressor learns revenue as a share of the declared value, so that the
        # amount at stake scales with the value instead of being capped by the leaves.
        share = revenue / value_base(data.features)
        categorical = [
            self.revenue_features.index(c)
            for c in self.categorical_features
            if c in self.revenue_features
        ]
        params = {
            "objective": "gamma",
            "metric": "gamma",
            "verbosity": -1,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "max_cat_to_onehot": 8,
            "max_cat_threshold": 16,
            "deterministic": True,
            "force_col_wise": True,
            **(self.regressor_params or {}),
        }
        train_set = lgb.Dataset(
            x[train_rows],
            label=share[train_rows],
            weight=None if weight is None else weight[train_rows],
            feature_name=self.revenue_features,
            categorical_feature=categorical,
        )
        valid_set = lgb.Dataset(
            x[valid_rows],
            label=share[valid_rows],
            weight=None if weight is None else weight[valid_rows],
            reference=train_set,
        )
        return lgb.train(
            params,
            train_set,
            num_boost_round=self.revenue_n_estimators,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )

    # -- prediction ----------------------------------------------------------------

    def raw_score(self, x_risk: np.ndarray, num_threads: int = 0) -> np.ndarray:
        """Return the classifier's log-odds for rows of the risk features."""
        return self.classifier_.predict(x_risk, raw_score=True, num_threads=num_threads)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map log-odds to calibrated probabilities."""
        z = self.calibration_slope_ * np.asarray(raw, dtype="float64") + self.calibration_intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def revenue_if_illicit(
        self, features: pd.DataFrame | Mapping[str, np.ndarray], num_threads: int = 0
    ) -> tuple[np.ndarray, bool]:
        """Return the revenue a found violation would raise, and whether it is estimated.

        Args:
            features: Feature frame with the revenue features, ``declared_value`` and
                ``tax_rate`` context columns.
            num_threads: LightGBM threads.

        Returns:
            ``(amount, estimated)``; ``estimated`` is True when no revenue model exists.
        """
        if self.regressor_ is not None:
            x = feature_matrix(features, self.revenue_features)
            share = self.regressor_.predict(x, num_threads=num_threads)
            return share * value_base(features), False
        value = np.asarray(features["declared_value"], dtype="float64")
        rate = np.asarray(features["tax_rate"], dtype="float64") if "tax_rate" in features else None
        if rate is None:
            rate = np.full(len(features), self.estimate_default_tax_rate)
        rate = np.where(np.isfinite(rate), rate, self.estimate_default_tax_rate)
        return value * rate / 100.0 * self.estimate_evaded_share, True

    def contributions(self, x_risk: np.ndarray, num_threads: int = 0) -> np.ndarray:
        """Return TreeSHAP contributions in log-odds; the last column is the base value.

        The values are LightGBM's ``pred_contrib`` (equal to 1e-9), computed from tables
        compiled once per classifier (:class:`portsift.models.tree_shap.TreeShap`) on
        the first call; a classifier beyond the tables' caps runs ``pred_contrib``.

        Args:
            x_risk: Rows of the risk features.
            num_threads: LightGBM threads of ``pred_contrib`` when it is the fallback.

        Returns:
            Rows x (risk features + 1), as ``pred_contrib`` returns them.
        """
        return self._tree_shap().contributions(x_risk, num_threads=num_threads)

    def prepare_explainer(self) -> None:
        """Compile the TreeSHAP tables now rather than on the first explanation.

        A server calls it while it loads, so that its first explained request does not
        pay the compile (about 70 ms on the demo model).
        """
        self._tree_shap()

    def _tree_shap(self) -> TreeShap:
        # Compiled lazily (not at import or load) and again when the classifier is
        # replaced; the lock keeps the API's threads from compiling it twice at once.
        explainer = getattr(self, "tree_shap_", None)
        if explainer is not None and explainer.booster is self.classifier_:
            return explainer
        with _TREE_SHAP_LOCK:
            explainer = getattr(self, "tree_shap_", None)
            if explainer is None or explainer.booster is not self.classifier_:
                explainer = TreeShap(self.classifier_)
                self.tree_shap_ = explainer
        return explainer

    # -- persistence ---------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Return everything but the boosters as JSON-serialisable data."""
        return {
            "risk_features": self.risk_features,
            "revenue_features": self.revenue_features,
            "categorical_features": self.categorical_features,
            "monotone_decreasing": list(self.monotone_decreasing),
            "estimate_evaded_share": self.estimate_evaded_share,
            "estimate_default_tax_rate": self.estimate_default_tax_rate,
            "random_state": self.random_state,
            "calibration": {
                "method": "platt",
                "slope": self.calibration_slope_,
                "intercept": self.calibration_intercept_,
            },
            "revenue_labelled": self.revenue_labelled_,
            "training_rows": self.training_rows_,
            "training_positive_rate": self.training_positive_rate_,
            "best_iteration": int(self.classifier_.best_iteration or self.classifier_.num_trees()),
        }

    @classmethod
    def from_parts(
        cls, metadata: dict[str, Any], classifier: lgb.Booster, regressor: lgb.Booster | None
    ) -> RiskModel:
        """Rebuild a fitted model from :meth:`metadata` and the two boosters."""
        model = cls(
            risk_features=list(metadata["risk_features"]),
            revenue_features=list(metadata["revenue_features"]),
            categorical_features=list(metadata["categorical_features"]),
            monotone_decreasing=tuple(metadata["monotone_decreasing"]),
            estimate_evaded_share=float(metadata["estimate_evaded_share"]),
            estimate_default_tax_rate=float(metadata["estimate_default_tax_rate"]),
            random_state=int(metadata["random_state"]),
        )
        model.classifier_ = classifier
        model.regressor_ = regressor
        model.calibration_slope_ = float(metadata["calibration"]["slope"])
        model.calibration_intercept_ = float(metadata["calibration"]["intercept"])
        model.revenue_labelled_ = bool(metadata["revenue_labelled"])
        model.training_rows_ = int(metadata["training_rows"])
        model.training_positive_rate_ = float(metadata["training_positive_rate"])
        return model


def _checked_weights(
    sample_weight: np.ndarray | None, n_rows: int, labelled_rows: np.ndarray
) -> np.ndarray | None:
    """Validate optional per-row weights; only the labelled rows' weights must be usable."""
    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight, dtype="float64")
    if weight.shape != (n_rows,):
        raise ValueError(
            f"sample_weight: need one weight per training row ({n_rows}), got shape {weight.shape}"
        )
    used = weight[labelled_rows]
    if not (np.isfinite(used).all() and (used > 0).all()):
        raise ValueError("sample_weight: weights of labelled rows must be finite and positive")
    return weight


def value_base(features: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Declared value used as the scale of revenue (at least 1, for free-of-charge goods)."""
    return np.maximum(np.asarray(features["declared_value"], dtype="float64"), 1.0)


def feature_matrix(
    features: pd.DataFrame | Mapping[str, np.ndarray], names: Sequence[str]
) -> np.ndarray:
    """The named feature columns as one float64 matrix (from a frame or from arrays)."""
    if isinstance(features, pd.DataFrame):
        return features[list(names)].to_numpy(dtype="float64")
    if not names:
        raise ValueError("feature_matrix: no feature names")
    # Filled column by column (a loop over the features, not the rows): np.column_stack
    # reshapes and copies every column on its own, most of the cost for a few rows.
    columns = [np.asarray(features[name], dtype="float64") for name in names]
    matrix = np.empty((len(columns[0]), len(columns)), dtype="float64")
    for position, column in enumerate(columns):
        matrix[:, position] = column
    return matrix
