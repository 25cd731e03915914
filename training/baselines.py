"""Baseline rankings the model is compared with, and the hindsight limit.

* ``random``: a uniformly random order (the mean over several seeded draws).
* ``price``: largest declared value first.
* ``importer_history``: the importer's smoothed historic violation rate.
* ``date_gbdt``: the DATE paper's GBDT set-up: 100 trees of depth 4 on risky-profile
  flags (importer, declarant, HS6, origin and office whose historic violation rate is
  in the top decile of the training rows) and the raw numeric fields.
* ``hindsight``: ranking by the true outcome (violations first, larger revenue first):
  the most any ranking can achieve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

RAW_NUMERIC = (
    "declared_value",
    "quantity",
    "gross_weight",
    "net_weight",
    "fob_value",
    "total_taxes",
    "tax_rate",
)
#: Profiles flagged risky in the DATE set-up, by the feature holding their history.
PROFILE_RATES = (
    "importer_violation_rate",
    "declarant_violation_rate",
    "hs6_violation_rate",
    "hs6_origin_violation_rate",
)


def hindsight_scores(illicit: np.ndarray, revenue: np.ndarray | None) -> np.ndarray:
    """Scores that put every violation first, the largest revenue first among them."""
    illicit = np.asarray(illicit, dtype="float64")
    if revenue is None:
        return illicit
    revenue = np.nan_to_num(np.asarray(revenue, dtype="float64"))
    scale = max(float(revenue.max(initial=0.0)), 1.0)
    return illicit + revenue / (2 * scale)


def random_scores(n_rows: int, seed: int) -> np.ndarray:
    """A seeded uniformly random score."""
    return np.random.default_rng(seed).random(n_rows)


@dataclass
class DateGBDT:
    """The DATE paper's GBDT baseline.

    Args:
        n_estimators: Trees (100 in the paper).
        max_depth: Tree depth (4 in the paper).
        random_state: Seed.
    """

    n_estimators: int = 100
    max_depth: int = 4
    random_state: int = 0

    def fit(self, train: pd.DataFrame, illicit: np.ndarray) -> DateGBDT:
        """Fit on labelled training rows (features and raw fields).

        Args:
            train: Feature frame with profile rates and raw numeric context.
            illicit: Outcome per row.

        Returns:
            The fitted baseline.
        """
        self.thresholds_ = {
            column: float(np.nanquantile(train[column].to_numpy(dtype="float64"), 0.9))
            for column in PROFILE_RATES
            if column in train and train[column].notna().any()
        }
        x = self._matrix(train)
        params = {
            "objective": "binary",
            "max_depth": self.max_depth,
            "num_leaves": 2**self.max_depth,
            "learning_rate": 0.1,
            "verbosity": -1,
            "seed": self.random_state,
            "deterministic": True,
            "force_col_wise": True,
            # One thread: the baseline's figures must not depend on the machine's load.
            "num_threads": 1,
        }
        self.booster_ = lgb.train(params, lgb.Dataset(x, label=illicit), self.n_estimators)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return P(illicit) per row."""
        return self.booster_.predict(self._matrix(frame))

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        columns = [
            (frame[column].to_numpy(dtype="float64") > threshold).astype("float64")
            for column, threshold in self.thresholds_.items()
        ]
        for column in RAW_NUMERIC:
            values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
            columns.append(values.to_numpy(dtype="float64"))
        return np.column_stack(columns)

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted baseline as JSON-serialisable data (LightGBM text model)."""
        return {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "random_state": self.random_state,
            "thresholds": self.thresholds_,
            "booster": self.booster_.model_to_string(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DateGBDT:
        """Rebuild a fitted baseline from :meth:`to_dict` output."""
        baseline = cls(
            n_estimators=int(data["n_estimators"]),
            max_depth=int(data["max_depth"]),
            random_state=int(data["random_state"]),
        )
        # The order of the thresholds is the order of the booster's columns; the bundle's
        # JSON sorts keys, so it is rebuilt from PROFILE_RATES, the order fit used.
        saved = data["thresholds"]
        baseline.thresholds_ = {c: float(saved[c]) for c in PROFILE_RATES if c in saved}
        baseline.booster_ = lgb.Booster(model_str=data["booster"])
        return baseline
