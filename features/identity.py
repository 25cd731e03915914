"""Identity signals: the inspection record of recurring parties and of their combinations.

Much fraud follows *who* is involved rather than what is declared: an importer that
routes its irregular shipments through one complicit broker, a broker that launders one
origin, an importer that misdeclares one tariff line, a seller whose goods of one HS6 line
are counterfeit. Each such *identity key* gets the point-in-time outcome statistics of
:class:`portsift.features.stats.OutcomeStat` (so exactly the leakage rules of every other history
statistic: a training row dated ``t`` sees only outcomes available by ``t``, scoring rows
the fitted totals), and four features:

* ``<key>_inspections``: earlier inspections of the key (``log1p``), so that the model
  knows how much each rate is worth;
* ``<key>_violations``: earlier inspections of the key that found a violation (``log1p``);
* ``<key>_violation_rate``: the Bayesian-smoothed violation rate, shrunk towards the
  overall rate known at that date (as the importer's and the broker's);
* ``<key>_revenue_per_inspection``: smoothed revenue raised per inspection (``log1p``).

All four are missing (NaN) where a part of the key is missing, as the broker's features
are for a declaration without a broker.

Which keys exist is data, not code:

* :data:`PAIRS` lists the combinations by the *roles* they combine. A built-in role is a
  column of the prepared frame (``importer_id``, ``declarant_id``, ``origin_country``,
  ``hs6``), always present there (a missing optional field is an all-missing column,
  whose features are all-NaN and left out at training).
* A schema-file role is filled by a ``[features] categorical`` column:
  :data:`ROLE_COLUMNS` names the model inputs that fill it, ``seller`` by the column whose
  name slugs to ``seller_id`` or ``seller`` (model input ``extra_seller_id`` or
  ``extra_seller``; the first of these present wins). A pair is built only when every
  role it combines is filled, so ``seller_hs6`` exists only for a schema with a seller
  column.
* Every schema-file categorical column gets its own statistics too, named by its model
  input (``extra_courier_id_violation_rate``, ...).

The features are computed from arrays by :func:`identity_features`, which the pandas
pipeline and the compiled per-request path (:mod:`portsift.features.online`) both call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from portsift.features.stats import OutcomeStat


@dataclass(frozen=True)
class IdentityPair:
    """A combination of roles whose inspection record is a feature.

    Attributes:
        name: Prefix of the feature names (``importer_declarant_violation_rate``...).
        roles: The roles combined: built-in columns (:data:`BUILT_IN_ROLES`) or
            schema-file roles (:data:`ROLE_COLUMNS`).
    """

    name: str
    roles: tuple[str, ...]


#: Roles that are columns of every prepared frame.
BUILT_IN_ROLES: tuple[str, ...] = ("importer_id", "declarant_id", "origin_country", "hs6")

#: Schema-file roles: the model inputs (``extra_<slug>`` of a ``[features] categorical``
#: column) that fill each, in order of preference.
ROLE_COLUMNS: dict[str, tuple[str, ...]] = {"seller": ("extra_seller_id", "extra_seller")}

#: The combinations that get their own inspection record.
PAIRS: tuple[IdentityPair, ...] = (
    IdentityPair("importer_declarant", ("importer_id", "declarant_id")),
    IdentityPair("importer_hs6", ("importer_id", "hs6")),
    IdentityPair("declarant_origin", ("declarant_id", "origin_country")),
    IdentityPair("seller_hs6", ("seller", "hs6")),
)

#: Feature name suffixes of each key, in feature order.
SUFFIXES: tuple[str, ...] = (
    "_inspections",
    "_violations",
    "_violation_rate",
    "_revenue_per_inspection",
)


def role_columns(extra_categorical: Sequence[str] = ()) -> dict[str, str]:
    """Return the column that fills each role.

    Args:
        extra_categorical: Model inputs of the schema-file categorical columns
            (``extra_<slug>``, see :func:`portsift.features.pipeline.extra_feature_name`).

    Returns:
        Role -> column, for the built-in roles and the schema-file roles filled.
    """
    roles = {role: role for role in BUILT_IN_ROLES}
    for role, candidates in ROLE_COLUMNS.items():
        found = next((c for c in candidates if c in extra_categorical), None)
        if found is not None:
            roles[role] = found
    return roles


def identity_stats(extra_categorical: Sequence[str] = ()) -> tuple[OutcomeStat, ...]:
    """Return the outcome statistics of the identity keys of a pipeline.

    Args:
        extra_categorical: Model inputs of the schema-file categorical columns
            (``extra_<slug>``).

    Returns:
        One statistic per pair of :data:`PAIRS` whose roles are all filled, in that
        order, then one per schema-file categorical column.
    """
    roles = role_columns(extra_categorical)
    stats = [
        OutcomeStat(pair.name, tuple(roles[role] for role in pair.roles))
        for pair in PAIRS
        if all(role in roles for role in pair.roles)
    ]
    stats += [OutcomeStat(column, (column,)) for column in dict.fromkeys(extra_categorical)]
    return tuple(stats)


#: The identity statistics every pipeline has (over built-in columns only).
BUILT_IN_STATS: tuple[OutcomeStat, ...] = identity_stats()


def feature_names(stats: Sequence[OutcomeStat]) -> list[str]:
    """Return the feature names of identity statistics, in feature order."""
    return [f"{stat.name}{suffix}" for stat in stats for suffix in SUFFIXES]


_VALUES = ("inspected", "illicit", "revenue")


def _matrix(values: Mapping[str, Any], names: Sequence[str], value: str) -> np.ndarray:
    """One statistic value of every named statistic, as a (statistics, rows) matrix."""
    return np.array([np.asarray(values[f"{name}__{value}"], dtype="float64") for name in names])


def _missing(column: Any) -> np.ndarray:
    """Where a key column is missing (``None`` or NaN text, or a pandas missing value)."""
    if isinstance(column, np.ndarray) and column.dtype == object:
        # The compiled path's text arrays: two element-wise comparisons cost far less than
        # pd.isna on the few rows of a request.
        return np.equal(column, None) | np.not_equal(column, column)
    return np.asarray(pd.isna(column), dtype=bool)


def identity_features(
    frame: Mapping[str, Any],
    values: Mapping[str, Any],
    stats: Sequence[OutcomeStat],
    smoothing: float,
) -> dict[str, np.ndarray]:
    """Derive the identity features from point-in-time (or fitted) statistic values.

    All keys are computed at once, as (keys, rows) matrices: the same few operations
    serve a file and the one declaration of an API request.

    Args:
        frame: The declarations' key columns (a prepared frame, or columns of arrays with
            ``None`` for missing text).
        values: Statistic values (``<stat>__<value>`` columns, see
            :mod:`portsift.features.stats`), including the overall ``all`` statistic.
        stats: The identity statistics (:func:`identity_stats`).
        smoothing: Pseudo-inspections of the prior in smoothed rates.

    Returns:
        Feature name -> array, in :func:`feature_names` order.
    """
    if not stats:
        return {}
    inspected_all, illicit_all, revenue_all = (
        np.asarray(values[f"all__{value}"], dtype="float64") for value in _VALUES
    )
    names = [stat.name for stat in stats]
    inspected, illicit, revenue = (_matrix(values, names, value) for value in _VALUES)
    safe = np.maximum(inspected_all, 1.0)
    prior_rate = np.where(inspected_all > 0, illicit_all / safe, 0.0)
    prior_revenue = np.where(inspected_all > 0, revenue_all / safe, 0.0)
    masks = {key: _missing(frame[key]) for key in dict.fromkeys(k for s in stats for k in s.keys)}
    missing = np.array([np.logical_or.reduce([masks[k] for k in stat.keys]) for stat in stats])
    matrices = [
        np.where(missing, np.nan, matrix)
        for matrix in (
            np.log1p(inspected),
            np.log1p(illicit),
            (illicit + smoothing * prior_rate) / (inspected + smoothing),
            np.log1p((revenue + smoothing * prior_revenue) / (inspected + smoothing)),
        )
    ]
    return {
        f"{name}{suffix}": matrix[j]
        for j, name in enumerate(names)
        for suffix, matrix in zip(SUFFIXES, matrices, strict=True)
    }
