"""Label drift: the violation rate of the reference window against the recent one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from portsift.monitoring.statistics import finite_or_none, wilson_interval


def label_counts(frame: pd.DataFrame, mask: np.ndarray | None = None) -> tuple[int, int]:
    """Inspected rows with a known outcome and the violations among them.

    Args:
        frame: Declarations with ``inspected`` and ``illicit`` (either may be absent).
        mask: Optional row subset (e.g. the random sample).

    Returns:
        ``(n, violations)``.
    """
    if "illicit" not in frame:
        return 0, 0
    illicit = pd.to_numeric(frame["illicit"], errors="coerce").to_numpy(dtype="float64")
    inspected = (
        pd.to_numeric(frame["inspected"], errors="coerce").to_numpy(dtype="float64") == 1
        if "inspected" in frame
        else ~np.isnan(illicit)
    )
    known = inspected & ~np.isnan(illicit)
    if mask is not None:
        known &= np.asarray(mask, dtype=bool)
    return int(known.sum()), int((illicit[known] == 1).sum())


@dataclass(frozen=True)
class LabelDrift:
    """Violation rate of the reference window against the recent one.

    Attributes:
        sample: ``"random"`` (the random inspection sample) or ``"inspected"`` (every
            inspected row: biased by targeting, used when the file marks no random draw).
        reference_n: Labelled rows of the sample in the reference window.
        reference_violations: Violations among them.
        recent_n: Labelled rows of the sample in the recent window.
        recent_violations: Violations among them.
        confidence: Level of the Wilson intervals.
        min_rows: Fewest labelled rows per window for a verdict.
    """

    sample: str
    reference_n: int
    reference_violations: int
    recent_n: int
    recent_violations: int
    confidence: float
    min_rows: int

    @property
    def reference_rate(self) -> float:
        """Violation rate of the reference window."""
        return self.reference_violations / self.reference_n if self.reference_n else math.nan

    @property
    def recent_rate(self) -> float:
        """Violation rate of the recent window."""
        return self.recent_violations / self.recent_n if self.recent_n else math.nan

    @property
    def _z(self) -> float:
        return float(norm.ppf(0.5 + self.confidence / 2))

    @property
    def reference_interval(self) -> tuple[float, float]:
        """Wilson interval of the reference rate."""
        return wilson_interval(self.reference_violations, self.reference_n, self._z)

    @property
    def recent_interval(self) -> tuple[float, float]:
        """Wilson interval of the recent rate."""
        return wilson_interval(self.recent_violations, self.recent_n, self._z)

    @property
    def enough(self) -> bool:
        """Whether both windows have enough labelled rows for a verdict."""
        return self.reference_n >= self.min_rows and self.recent_n >= self.min_rows

    @property
    def alert(self) -> bool:
        """The two Wilson intervals do not overlap (and both samples are big enough)."""
        if not self.enough:
            return False
        low_a, high_a = self.reference_interval
        low_b, high_b = self.recent_interval
        return high_b < low_a or high_a < low_b

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary."""
        return {
            "sample": self.sample,
            "reference": {
                "n": self.reference_n,
                "violations": self.reference_violations,
                "rate": finite_or_none(self.reference_rate),
                "interval": [finite_or_none(v) for v in self.reference_interval],
            },
            "recent": {
                "n": self.recent_n,
                "violations": self.recent_violations,
                "rate": finite_or_none(self.recent_rate),
                "interval": [finite_or_none(v) for v in self.recent_interval],
            },
            "confidence": self.confidence,
            "min_rows": self.min_rows,
            "enough": self.enough,
            "alert": self.alert,
        }


def label_drift(
    declarations: pd.DataFrame,
    is_recent: np.ndarray,
    in_training: np.ndarray,
    reference_inspected: int,
    reference_violations: int,
    random_mask: np.ndarray | None,
    marker_column: str | None,
    notes: list[str],
    *,
    confidence: float,
    min_rows: int,
) -> LabelDrift | None:
    """Violation rates of the training and the recent window (None without any label)."""
    if "illicit" not in declarations:
        return label_drift_from_counts(
            None,
            None,
            False,
            reference_inspected,
            reference_violations,
            None,
            notes,
            confidence=confidence,
            min_rows=min_rows,
        )
    mask = None if random_mask is None else np.asarray(random_mask, dtype=bool)
    ref = label_counts(declarations.loc[in_training], None if mask is None else mask[in_training])
    rec = label_counts(declarations.loc[is_recent], None if mask is None else mask[is_recent])
    return label_drift_from_counts(
        ref,
        rec,
        bool(in_training.any()),
        reference_inspected,
        reference_violations,
        marker_column if mask is not None else None,
        notes,
        confidence=confidence,
        min_rows=min_rows,
    )


def label_drift_from_counts(
    training: tuple[int, int] | None,
    recent: tuple[int, int] | None,
    has_training_rows: bool,
    reference_inspected: int,
    reference_violations: int,
    marker_column: str | None,
    notes: list[str],
    *,
    confidence: float,
    min_rows: int,
) -> LabelDrift | None:
    """:func:`label_drift` from the label counts of both windows (summed where the rows are).

    Args:
        training: ``(n, violations)`` of the file's training-window rows (of the random
            sample with a marker), or None when the file has no outcomes.
        recent: The same of the recent rows.
        has_training_rows: Whether the file has rows of the training window.
        reference_inspected: The stored reference's labelled rows.
        reference_violations: Its violations.
        marker_column: The random marker's column, or None (all inspected compared).
        notes: Notes, extended in place.
        confidence: Level of the Wilson intervals.
        min_rows: Fewest labelled rows per window for a verdict.

    Returns:
        The label drift, or None without outcomes.
    """
    if training is None or recent is None:
        notes.append("the file has no inspection outcomes (illicit): label drift not computed")
        return None
    ref_n, ref_k = training
    rec_n, rec_k = recent
    if marker_column is not None:
        sample = "random"
        if not has_training_rows:
            notes.append(
                "the file has no training-window rows: the random sample's violation rate of "
                "the training window is unknown"
            )
        notes.append(f"random inspections are marked by the column {marker_column}")
    else:
        sample = "inspected"
        notes.append(
            "the file marks no random inspection (no selection_reason or random_inspection "
            "column): label drift compares all inspected declarations, whose violation rate "
            "the targeting biases"
        )
        if not has_training_rows:
            ref_n, ref_k = reference_inspected, reference_violations
    return LabelDrift(
        sample=sample,
        reference_n=ref_n,
        reference_violations=ref_k,
        recent_n=rec_n,
        recent_violations=rec_k,
        confidence=confidence,
        min_rows=min_rows,
    )
