"""The calendar of the period: how declaration volume spreads over its days.

Customs works Monday to Friday with reduced weekend service, trade grows over the
period and stops for the Spring Festival week; firms declare only from their entry day.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

# Calendar. Customs works Monday to Friday with reduced weekend service; trade grows
# over the period (the free-trade port opened fully in 2025) and stops for the Spring
# Festival week.
_WEEKDAY_WEIGHTS: Final = (1.15, 1.10, 1.10, 1.05, 1.10, 0.35, 0.15)  # Monday first
_GROWTH_OVER_PERIOD: Final = 0.35
_SPRING_FESTIVAL: Final = (
    "2018-02-16", "2019-02-05", "2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22",
    "2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13",
    "2030-02-03",
)  # fmt: skip
_SPRING_FESTIVAL_DAYS: Final = 7
_SPRING_FESTIVAL_FACTOR: Final = 0.35


def parse_start(start: str) -> np.datetime64:
    """The first day of the period.

    Args:
        start: Any date ``pandas.Timestamp`` parses.

    Returns:
        The day, as ``datetime64[D]``.

    Raises:
        ValueError: If ``start`` is not a date.
    """
    try:
        return pd.Timestamp(start).to_datetime64().astype("datetime64[D]")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start: not a date: {start!r}") from exc


def _day_weights(start_day: np.datetime64, days: int) -> np.ndarray:
    """Relative declaration volume of each day: weekday pattern, growth, Spring Festival."""
    dates = start_day + np.arange(days)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    weights = np.asarray(_WEEKDAY_WEIGHTS)[weekday]
    weights = weights * (1.0 + _GROWTH_OVER_PERIOD * np.arange(days) / max(days - 1, 1))
    festivals = np.array(_SPRING_FESTIVAL, dtype="datetime64[D]")
    offset = (dates[:, None] - festivals[None, :]).astype(np.int64)
    holiday = ((offset >= 0) & (offset < _SPRING_FESTIVAL_DAYS)).any(axis=1)
    weights[holiday] *= _SPRING_FESTIVAL_FACTOR
    return weights / weights.sum()


def day_cdf(start_day: np.datetime64, days: int) -> np.ndarray:
    """Cumulative share of the period's declaration volume up to each day.

    Args:
        start_day: First day of the period.
        days: Length of the period in days.

    Returns:
        Non-decreasing shares, one per day, the last exactly 1 (so that a uniform draw
        always falls on a day of the period).
    """
    cdf = np.cumsum(_day_weights(start_day, days))
    cdf[-1] = 1.0
    return cdf


def mass_before(cdf: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Share of the period's volume falling before ``day`` (0 for days before the start).

    Args:
        cdf: Cumulative day shares (:func:`day_cdf`).
        day: Day offsets.

    Returns:
        One share per day offset.
    """
    clipped = np.clip(day, 0, cdf.shape[0])
    return np.where(clipped > 0, cdf[np.maximum(clipped - 1, 0)], 0.0)


def sample_days(rng: np.random.Generator, cdf: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """Draw declaration days from the day distribution, each at or after ``entry``.

    Args:
        rng: The random stream.
        cdf: Cumulative day shares (:func:`day_cdf`).
        entry: First day each draw may fall on.

    Returns:
        Day offsets within the period.
    """
    low = mass_before(cdf, entry)
    u = low + rng.random(entry.shape[0]) * (1.0 - low)
    day = np.searchsorted(cdf, u, side="right")
    return np.clip(np.maximum(day, entry), 0, cdf.shape[0] - 1)
