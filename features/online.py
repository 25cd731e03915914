"""The fitted feature pipeline compiled into lookups, for a few declarations at a time.

:meth:`portsift.features.pipeline.FeaturePipeline.transform` is built for files: every statistic
is a join over pandas frames, which costs a fixed ~100 ms however few rows there are. A
scoring API answers one declaration at a time, so :class:`OnlineFeatures` compiles the
same fitted state once per worker into plain dictionaries (key -> row of totals, enterprise
-> its dated tier history, HS prefix -> catalogue flags, category -> code) and computes
the features of a handful of declarations with numpy arrays and those dictionaries.

It is the same arithmetic as the pandas path, written once more for small inputs (the
identity features of :mod:`portsift.features.identity` are derived by the one function both paths
call on their arrays), so it is held to the pandas path by a test: on thousands of
declarations (unknown keys, missing optional fields, inline lab reports, enterprises
without a register entry) every column equals :meth:`FeaturePipeline.transform` exactly
(see ``tests/features/test_online.py``). Pipelines trained with schema-file extra features
are not compiled (:func:`compile_online` raises :class:`NotCompilableError`) and are
served by the pandas path; the registers of measures 22 and 12 are compiled too
(:mod:`portsift.features.online_measures`); the pair statistics over built-in columns
(importer x broker, importer x HS6, broker x origin) are compiled like every other
statistic.

Input and output are *columns*: a mapping from field name to a 1-D numpy array, text as
``object`` arrays with ``None`` for missing, numbers and flags as ``float64`` with NaN,
dates as ``datetime64[ns]`` with NaT.

Why this file stays whole (over 600 lines): it is one compiled mirror of
:class:`FeaturePipeline`, family by family, held to the pandas path by one test; split,
a change to one feature family would still touch every part of the mirror at once.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from portsift.features import commodity, enterprise, identity, lab, transaction
from portsift.features.contract import (
    CREDIT_TIERS,
    DECLARATION_FIELDS,
    DEFAULT_TIER,
    INLINE_LAB_FIELDS,
    LAB_RESULT_FIELDS,
    LAB_RESULTS,
    LABEL_FIELDS,
    Field,
)
from portsift.features.online_measures import MeasureRegisters
from portsift.features.pipeline import CONTEXT_COLUMNS, FeaturePipeline, Registers
from portsift.features.stats import (
    ActivityStat,
    OutcomeStat,
    first_day_name,
    state_key,
    values_of,
)

Columns = dict[str, np.ndarray]

_NS_PER_DAY: Final[int] = 86_400_000_000_000
#: 1970-01-01 was a Thursday (pandas' ``dayofweek`` counts Monday as 0).
_EPOCH_WEEKDAY: Final[int] = 3
_TIER_RANK: Final[dict[str, float]] = {tier: float(rank) for rank, tier in enumerate(CREDIT_TIERS)}


class NotCompilableError(ValueError):
    """The fitted pipeline uses something the compiled path does not implement."""


@dataclass(frozen=True)
class _KeyedTotals:
    """A statistic's fitted totals: key -> row of ``values``; the last row is the fill."""

    keys: tuple[str, ...]
    value_names: tuple[str, ...]
    index: dict[Hashable, int]
    values: np.ndarray

    def lookup(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        if not self.keys:
            return np.broadcast_to(self.values[0], (n, self.values.shape[1]))
        parts = [columns[key] for key in self.keys]
        keys: Iterable[Hashable] = parts[0] if len(parts) == 1 else zip(*parts, strict=True)
        # A missing key part never matches: the fill row (index -1) holds the defaults.
        # A key with a missing part is never in the state, so it gets the fill row.
        rows = np.fromiter((self.index.get(k, -1) for k in keys), dtype="int64", count=n)
        return self.values[rows]


@dataclass(frozen=True)
class _TierHistory:
    """Each registered enterprise's tier changes, sorted by date."""

    since: dict[str, list[int]]
    rows: dict[str, list[tuple[str, float, float]]]

    def in_force(self, ids: np.ndarray, declared_ns: np.ndarray) -> tuple[np.ndarray, ...]:
        """Tier, days in tier, changes and worsened flag in force on each date."""
        n = len(ids)
        tier: list[object] = [DEFAULT_TIER] * n
        days: list[float] = [math.nan] * n
        changes: list[float] = [0.0] * n
        worsened: list[float] = [0.0] * n
        # Each row a dict lookup and a bisect, on Python lists: numpy's per-element
        # indexing cost more than the lookup itself (a third of a batch's feature time).
        for i, (key, declared) in enumerate(zip(ids.tolist(), declared_ns.tolist(), strict=True)):
            dates = self.since.get(key) if key is not None else None
            if dates is None or declared == _NAT:
                continue
            at = bisect.bisect_right(dates, declared) - 1
            if at < 0:
                continue
            tier[i], changes[i], worsened[i] = self.rows[key][at]
            days[i] = (declared - dates[at]) // _NS_PER_DAY
        return (
            np.array(tier, dtype=object),
            np.array(days, dtype="float64"),
            np.array(changes, dtype="float64"),
            np.array(worsened, dtype="float64"),
        )


_NAT: Final[int] = int(np.datetime64("NaT", "ns").astype("int64"))


@dataclass(frozen=True)
class OnlineFeatures:
    """A fitted :class:`FeaturePipeline` and its registers, compiled into lookups.

    Build it with :func:`compile_online`; :meth:`transform` then gives the columns
    :meth:`FeaturePipeline.transform` gives, as numpy arrays.

    Attributes:
        smoothing: Pseudo-inspections of the prior in smoothed rates.
        new_importer_days: Days after its first declaration an importer counts as new.
        identity: The identity statistics (pairs over built-in columns, see
            :mod:`portsift.features.identity`) whose features are derived.
        identity_smoothing: Pseudo-inspections of the prior in their smoothed rates.
        totals: Fitted totals per statistic (``outcome:importer``, ``activity:hs6``...).
        first_days: First-declaration day per activity statistic name.
        tiers: The credit register's tier histories (None = no register).
        catalogue: Catalogue flags per prefix length, longest first.
        vocabulary: Category -> code per categorical column.
        measures: The registers of measures 22 and 12 (None: neither is given).
    """

    smoothing: float
    new_importer_days: int
    identity: tuple[OutcomeStat, ...]
    identity_smoothing: float
    totals: dict[str, _KeyedTotals]
    first_days: dict[str, _KeyedTotals]
    tiers: _TierHistory | None
    catalogue: tuple[tuple[int, dict[str, tuple[float, float]]], ...]
    vocabulary: dict[str, dict[str, float]]
    measures: MeasureRegisters | None = None

    def transform(self, columns: Mapping[str, np.ndarray]) -> Columns:
        """Compute features and context columns of declarations.

        Args:
            columns: Canonical declaration fields as arrays (see the module docstring);
                optional fields may be absent, inline lab fields may be given.

        Returns:
            Every column :meth:`FeaturePipeline.transform` returns, as arrays.
        """
        n = len(columns["declaration_id"])
        frame = self._prepare(columns, n)
        values = self._stats(frame, n)
        out: Columns = {name: frame[name] for name in enterprise.CREDIT_FEATURES}
        out.update(self._history(frame, values))
        out.update(
            identity.identity_features(frame, values, self.identity, self.identity_smoothing)
        )
        out.update(self._lab(frame, values))
        out.update(self._commodity(frame, values))
        out.update(_transaction(frame, n))
        out.update(self._codes(frame, n))
        if self.measures is not None:
            out.update(self.measures.columns(columns))
        for name in (*CONTEXT_COLUMNS, *self.vocabulary):
            if name in frame:
                out.setdefault(name, frame[name])
        return out

    # -- the steps of FeaturePipeline.prepare -----------------------------------------

    def _prepare(self, columns: Mapping[str, np.ndarray], n: int) -> Columns:
        frame: Columns = {k: v for k, v in columns.items() if k not in lab.LAB_COLUMNS}
        code = columns["hs_code"]
        for digits in (2, 4, 6):
            frame[f"hs{digits}"] = np.array([c[:digits] for c in code], dtype=object)
        value = columns["declared_value"].astype("float64")
        quantity = _optional_number(columns, "quantity", n)
        weight = _optional_number(columns, "gross_weight", n)
        frame["unit_value"] = commodity.ratio(value, quantity)
        frame["value_per_kg"] = commodity.ratio(value, weight)
        frame["weight_per_unit"] = commodity.ratio(weight, quantity)
        for name in ("unit_value", "value_per_kg", "weight_per_unit"):
            frame[f"log_{name}"] = commodity.safe_log(frame[name])
        taxes = _optional_number(columns, "total_taxes", n)
        frame["effective_tax_rate"] = 100.0 * commodity.ratio(taxes, value)
        frame["tax_rate"] = _optional_number(columns, "tax_rate", n)
        frame["acceptance_listed"], frame["perishable"] = self._catalogue_flags(code, n)
        frame.update(_lab_reports(columns, n))
        frame.update(self._credit(columns, n))
        for name in ("declarant_id", "origin_country"):
            if name not in frame:
                frame[name] = np.full(n, None, dtype=object)
        frame["lab_pass_report"] = frame["lab_result"] == "pass"
        return frame

    def _catalogue_flags(self, code: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        listed = [0.0] * n
        perishable = [0.0] * n
        for i, hs in enumerate(code.tolist()):
            for length, table in self.catalogue:
                flags = table.get(hs[:length])
                if flags is not None:
                    listed[i], perishable[i] = flags
                    break
        return np.array(listed, dtype="float64"), np.array(perishable, dtype="float64")

    def _credit(self, columns: Mapping[str, np.ndarray], n: int) -> Columns:
        declared = columns["declared_at"].astype("datetime64[ns]").astype("int64")
        importer = self._tier_in_force(columns["importer_id"], declared, n)
        out: Columns = {
            "credit_tier": importer[0],
            "importer_tier_rank": _rank(importer[0]),
            "importer_days_in_tier": importer[1],
            "importer_tier_changes": importer[2],
            "importer_tier_worsened": importer[3],
        }
        if "declarant_id" in columns:
            ids = columns["declarant_id"]
            declarant = self._tier_in_force(ids, declared, n)
            out["declarant_tier_rank"] = np.where(_missing_text(ids), np.nan, _rank(declarant[0]))
        else:
            out["declarant_tier_rank"] = np.full(n, np.nan)
        return out

    def _tier_in_force(
        self, ids: np.ndarray, declared: np.ndarray, n: int
    ) -> tuple[np.ndarray, ...]:
        if self.tiers is None:
            return (np.full(n, DEFAULT_TIER, dtype=object), np.full(n, np.nan), *np.zeros((2, n)))
        return self.tiers.in_force(ids, declared)

    # -- statistics and derived features -----------------------------------------------

    def _stats(self, frame: Columns, n: int) -> dict[str, np.ndarray]:
        values: dict[str, np.ndarray] = {}
        for name, table in self.totals.items():
            found = table.lookup(frame, n)
            prefix = name.split(":", 1)[1]
            for j, value in enumerate(table.value_names):
                values[f"{prefix}__{value}"] = found[:, j]
        for name, table in self.first_days.items():
            values[f"{name}__first_day"] = table.lookup(frame, n)[:, 0]
        return values

    def _smoothed(self, events: np.ndarray, count: np.ndarray, prior: np.ndarray) -> np.ndarray:
        return (events + self.smoothing * prior) / (count + self.smoothing)

    def _history(self, frame: Columns, values: dict[str, np.ndarray]) -> Columns:
        out: Columns = {}
        inspected_all = values["all__inspected"]
        safe = np.maximum(inspected_all, 1.0)
        prior_rate = np.where(inspected_all > 0, values["all__illicit"] / safe, 0.0)
        prior_revenue = np.where(inspected_all > 0, values["all__revenue"] / safe, 0.0)
        for who in ("importer", "declarant"):
            inspected = values[f"{who}__inspected"]
            out[f"{who}_inspections"] = np.log1p(inspected)
            out[f"{who}_violation_rate"] = self._smoothed(
                values[f"{who}__illicit"], inspected, prior_rate
            )
            out[f"{who}_revenue_per_inspection"] = np.log1p(
                self._smoothed(values[f"{who}__revenue"], inspected, prior_revenue)
            )
            out[f"{who}_declarations"] = np.log1p(values[f"{who}__declarations"])
        no_declarant = _missing_text(frame["declarant_id"])
        for name in [c for c in out if c.startswith("declarant_")]:
            out[name] = np.where(no_declarant, np.nan, out[name])
        first = values["importer__first_day"]
        active = np.where(first > 0, _day_number(frame["declared_at"]) - first, 0.0)
        out["importer_days_active"] = active
        out["importer_is_new"] = (active < self.new_importer_days).astype("float64")
        hs6_count = values["importer_hs6__declarations"]
        out["importer_hs6_declarations"] = np.log1p(hs6_count)
        out["importer_hs6_is_new"] = (hs6_count == 0).astype("float64")
        return out

    def _lab(self, frame: Columns, values: dict[str, np.ndarray]) -> Columns:
        present = ~_missing_text(frame["lab_id"])
        age = _days_between(frame["declared_at"], frame["issued_at"])
        inspected = values["all_lab_pass__inspected"]
        prior = np.where(
            inspected > 0, values["all_lab_pass__illicit"] / np.maximum(inspected, 1), 0.0
        )
        rate = self._smoothed(values["lab_pass__illicit"], values["lab_pass__inspected"], prior)
        accredited = np.where(np.isnan(frame["lab_accredited"]), 0.0, frame["lab_accredited"])
        return {
            "acceptance_listed": frame["acceptance_listed"],
            "lab_report_present": present.astype("float64"),
            "lab_accredited": np.where(present, accredited, np.nan),
            "lab_result_pass": np.where(present, (frame["lab_result"] == "pass") * 1.0, np.nan),
            "lab_report_age_days": np.where(present, age, np.nan),
            "lab_disagreement_rate": np.where(present, rate, np.nan),
        }

    def _commodity(self, frame: Columns, values: dict[str, np.ndarray]) -> Columns:
        out: Columns = {}
        inspected = values["all__inspected"]
        prior = np.where(inspected > 0, values["all__illicit"] / np.maximum(inspected, 1), 0)
        for name, _ in commodity.RATE_LEVELS:
            rate = self._smoothed(values[f"{name}__illicit"], values[f"{name}__inspected"], prior)
            out[f"{name}_violation_rate"] = rate
            prior = rate
        for feature, measure, stat, context in _PRICE_PAIRS:
            reference = _reference_level(values, stat)
            out[feature] = np.exp(frame[measure] - reference)
            out[context] = np.exp(reference)
        out["ref_tax_rate"] = _reference_level(values, "rate_hs4")
        out["tax_rate_gap"] = frame["tax_rate"] - out["ref_tax_rate"]
        out["tax_assessment_gap"] = frame["effective_tax_rate"] - frame["tax_rate"]
        out["perishable"] = frame["perishable"]
        return out

    def _codes(self, frame: Columns, n: int) -> Columns:
        out: Columns = {}
        for column, codes in self.vocabulary.items():
            name = transaction.code_name(column)
            if column not in frame:
                out[name] = np.full(n, np.nan)
                continue
            other = float(len(codes))
            out[name] = np.array(
                [np.nan if v is None else codes.get(v, other) for v in frame[column]],
                dtype="float64",
            )
        return out


_PRICE_PAIRS: Final = (
    ("unit_value_ratio", "log_unit_value", "uv_hs6", "ref_unit_value"),
    ("unit_value_ratio_origin", "log_unit_value", "uv_hs6_origin", "ref_unit_value_origin"),
    ("unit_value_ratio_importer", "log_unit_value", "uv_importer_hs6", "ref_unit_value_importer"),
    ("value_per_kg_ratio", "log_value_per_kg", "vpk_hs6", "ref_value_per_kg"),
    ("weight_per_unit_ratio", "log_weight_per_unit", "wpu_hs6", "ref_weight_per_unit"),
)


def compile_online(pipeline: FeaturePipeline, registers: Registers) -> OnlineFeatures:
    """Compile a fitted pipeline and the registers it reads against into lookups.

    Args:
        pipeline: A fitted :class:`FeaturePipeline`.
        registers: The enterprise register, commodity catalogue and the registers of
            measures 22 and 12 in force (the lab results register is not read: the API
            takes lab reports inline).

    Returns:
        The compiled features.

    Raises:
        NotCompilableError: The pipeline has schema-file extra features, or a lab results
            register is given.
    """
    if pipeline.extra_categorical or pipeline.extra_numeric:
        raise NotCompilableError("schema-file extra features are computed by the pandas path only")
    if registers.lab_results is not None:
        raise NotCompilableError("a lab results register is read by the pandas path only")
    totals: dict[str, _KeyedTotals] = {}
    first_days: dict[str, _KeyedTotals] = {}
    # Without schema-file columns (refused above) the statistics are STATS exactly.
    for stat in pipeline.statistics():
        key = state_key(stat)
        totals[key] = _keyed(pipeline.state_[key], stat.keys, values_of(stat))
        if isinstance(stat, ActivityStat):
            name = first_day_name(stat)
            first_days[stat.name] = _keyed(pipeline.state_[f"first:{stat.name}"], stat.keys, [name])
    return OnlineFeatures(
        smoothing=pipeline.smoothing,
        new_importer_days=pipeline.new_importer_days,
        identity=identity.BUILT_IN_STATS,
        identity_smoothing=pipeline.identity_weight,
        totals=totals,
        first_days=first_days,
        tiers=_tier_history(registers.enterprises),
        catalogue=_catalogue(registers.commodities),
        vocabulary={
            column: {category: float(code) for code, category in enumerate(categories)}
            for column, categories in pipeline.vocabulary_.items()
        },
        measures=MeasureRegisters.compile(registers.disclosures, registers.rulings),
    )


def columns_from_frame(frame: pd.DataFrame) -> Columns:
    """Turn typed declarations (as the loaders return them) into :data:`Columns`."""
    out: Columns = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            out[name] = column.to_numpy(dtype="datetime64[ns]")
        elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            out[name] = column.to_numpy(dtype="float64", na_value=np.nan)
        else:
            out[name] = column.astype(object).where(column.notna(), None).to_numpy(dtype=object)
    return out


# -- compiling -------------------------------------------------------------------------


def _keyed(table: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> _KeyedTotals:
    matrix = table[list(values)].to_numpy(dtype="float64")
    if not keys:
        row = matrix[:1] if len(matrix) else np.zeros((1, len(values)))
        return _KeyedTotals((), tuple(values), {}, row)
    parts = [table[key].astype(object).where(table[key].notna(), None).tolist() for key in keys]
    labels = parts[0] if len(keys) == 1 else list(zip(*parts, strict=True))
    # pandas' get_indexer returns the first match of a duplicated key; so does this.
    index: dict[Hashable, int] = {}
    for position, label in enumerate(labels):
        index.setdefault(label, position)
    fill = np.zeros((1, len(values)))
    return _KeyedTotals(tuple(keys), tuple(values), index, np.vstack([matrix, fill]))


def _tier_history(enterprises: pd.DataFrame | None) -> _TierHistory | None:
    if enterprises is None or len(enterprises) == 0:
        return None
    register = enterprise.register_history(enterprises)
    register = register.sort_values(["enterprise_id", "tier_since"], kind="stable")
    since: dict[str, list[int]] = {}
    rows: dict[str, list[tuple[str, float, float]]] = {}
    dates = register["tier_since"].to_numpy(dtype="datetime64[ns]").astype("int64").tolist()
    for key, date, tier, changes, worsened in zip(
        register["enterprise_id"].tolist(),
        dates,
        register["credit_tier"].tolist(),
        register["tier_changes"].tolist(),
        register["tier_worsened"].tolist(),
        strict=True,
    ):
        if tier is None or (isinstance(tier, float) and np.isnan(tier)):
            continue
        since.setdefault(key, []).append(date)
        rows.setdefault(key, []).append((tier, changes, worsened))
    return _TierHistory(since, rows)


def _catalogue(
    commodities: pd.DataFrame | None,
) -> tuple[tuple[int, dict[str, tuple[float, float]]], ...]:
    if commodities is None or len(commodities) == 0:
        return ()
    prefixes = commodities["hs_prefix"].astype("str")
    levels = []
    for length in sorted(prefixes.str.len().unique(), reverse=True):
        level = commodities[prefixes.str.len() == length]
        table: dict[str, tuple[float, float]] = {}
        for prefix, listed, perishable in zip(
            level["hs_prefix"].astype("str").tolist(),
            level["acceptance_listed"].astype("float64").tolist(),
            level["perishable"].astype("float64").tolist(),
            strict=True,
        ):
            table.setdefault(prefix, (listed, perishable))  # first match, as get_indexer
        levels.append((int(length), table))
    return tuple(levels)


# -- small helpers ---------------------------------------------------------------------


def _missing_text(values: np.ndarray) -> np.ndarray:
    return np.fromiter((v is None for v in values), dtype=bool, count=len(values))


def _optional_number(columns: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    if name not in columns:
        return np.full(n, np.nan)
    return columns[name].astype("float64")


def _rank(tiers: np.ndarray) -> np.ndarray:
    return np.array([_TIER_RANK.get(t, np.nan) for t in tiers], dtype="float64")


def _day_number(dates: np.ndarray) -> np.ndarray:
    ns = dates.astype("datetime64[ns]").astype("int64")
    days = np.floor_divide(ns, _NS_PER_DAY).astype("float64") + 1.0
    return np.where(ns == _NAT, np.nan, days)


def _days_between(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    a = later.astype("datetime64[ns]").astype("int64")
    b = earlier.astype("datetime64[ns]").astype("int64")
    days = np.floor_divide(a - b, _NS_PER_DAY).astype("float64")
    return np.where((a == _NAT) | (b == _NAT), np.nan, days)


def _reference_level(values: dict[str, np.ndarray], name: str) -> np.ndarray:
    weight = values[f"{name}__weight"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, values[f"{name}__weighted_sum"] / weight, np.nan)


def _lab_reports(columns: Mapping[str, np.ndarray], n: int) -> Columns:
    # As lab.attach_lab_reports without a register: the inline report counts only when
    # it names its lab.
    out: Columns = {
        "lab_id": np.full(n, None, dtype=object),
        "lab_accredited": np.full(n, np.nan),
        "lab_result": np.full(n, None, dtype=object),
        "issued_at": np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"),
    }
    if "lab_id" not in columns:
        return out
    given = ~_missing_text(columns["lab_id"])
    for name in lab.LAB_COLUMNS:
        if name in columns:
            target = out[name]
            target[given] = columns[name][given].astype(target.dtype)
    return out


def _transaction(frame: Columns, n: int) -> Columns:
    out: Columns = {}
    if "origin_country" in frame and "departure_country" in frame:
        origin, departure = frame["origin_country"], frame["departure_country"]
        known = ~(_missing_text(origin) | _missing_text(departure))
        out["origin_departure_mismatch"] = np.where(known, (origin != departure) * 1.0, np.nan)
    else:
        out["origin_departure_mismatch"] = np.full(n, np.nan)
    days = np.floor_divide(
        frame["declared_at"].astype("datetime64[ns]").astype("int64"), _NS_PER_DAY
    )
    out["day_of_week"] = ((days + _EPOCH_WEEKDAY) % 7).astype("float64")
    months = frame["declared_at"].astype("datetime64[M]").astype("int64")
    out["month"] = (months % 12 + 1).astype("float64")
    out["net_gross_ratio"] = _pair_ratio(frame, "net_weight", "gross_weight", n)
    out["cif_fob_ratio"] = _pair_ratio(frame, "declared_value", "fob_value", n)
    out["log_declared_value"] = np.log1p(frame["declared_value"].astype("float64"))
    return out


def _pair_ratio(frame: Columns, numerator: str, denominator: str, n: int) -> np.ndarray:
    if numerator not in frame or denominator not in frame:
        return np.full(n, np.nan)
    return commodity.ratio(frame[numerator].astype("float64"), frame[denominator].astype("float64"))


# -- JSON records ------------------------------------------------------------------------

_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?")
_CODE_TEXT = re.compile(r"[0-9]{6,10}")
#: Years a date may have on the fast path (pandas' nanosecond range is 1678 to 2261).
_YEARS: Final[tuple[int, int]] = (1700, 2200)


def _record_fields() -> dict[str, Field]:
    lab_fields = {f.name: f for f in LAB_RESULT_FIELDS}
    fields = {f.name: f for f in DECLARATION_FIELDS if f.name not in LABEL_FIELDS}
    fields.update({name: lab_fields[name] for name in INLINE_LAB_FIELDS})
    return fields


_RECORD_FIELDS: Final[dict[str, Field]] = _record_fields()
#: On a declaration the inline lab report is optional as a whole.
_REQUIRED: Final[tuple[str, ...]] = tuple(f.name for f in DECLARATION_FIELDS if f.required)


def columns_from_records(records: Sequence[Mapping[str, object]]) -> Columns | None:
    """Read JSON declarations that are clean already straight into :data:`Columns`.

    The fast path of the API's validation. It accepts only what the loader
    (:func:`portsift.features.loading.declarations_from_records`) would accept *unchanged*:
    canonical fields only, no labels, ids and text already stripped, HS codes of 6 to
    10 plain digits, ISO dates (``YYYY-MM-DD`` with an optional ``HH:MM[:SS]``), finite
    numbers (non-negative where the contract says so), 0/1 flags, ``pass``/``fail``,
    unique declaration ids. Anything else returns ``None`` and goes through the loader,
    which either normalises it or names the field and record in its error, so the
    answers and the error messages are the loader's in every case.

    Args:
        records: Declaration objects (``None`` values count as absent).

    Returns:
        The columns, or ``None`` when the loader has to look at the records.
    """
    n = len(records)
    if n == 0:
        return None
    values: dict[str, list[object]] = {}
    for position, record in enumerate(records):
        for key, raw in record.items():
            field = _RECORD_FIELDS.get(key)
            if field is None:
                return None
            value = _clean_value(field, raw)
            if value is _REJECT:
                return None
            column = values.get(key)
            if column is None:
                column = values[key] = [None] * n
            column[position] = value
    for name in _REQUIRED:
        if name not in values or any(v is None for v in values[name]):
            return None
    if len(set(values["declaration_id"])) != n:
        return None
    return {name: _as_array(_RECORD_FIELDS[name].kind, column) for name, column in values.items()}


_REJECT: Final = object()


def _clean_value(field: Field, raw: object) -> object:
    if raw is None:
        return None
    kind = field.kind
    if kind in ("number", "flag"):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return _REJECT
        number = float(raw)
        if kind == "flag":
            return number if number in (0.0, 1.0) else _REJECT
        if not math.isfinite(number) or (field.non_negative and number < 0):
            return _REJECT
        return number + 0.0
    if isinstance(raw, int) and not isinstance(raw, bool) and kind in ("id", "code"):
        raw = str(raw)
    if not isinstance(raw, str) or not raw or raw != raw.strip():
        return _REJECT
    if kind == "code":
        return raw if _CODE_TEXT.fullmatch(raw) else _REJECT
    if kind == "date":
        if not _DATE_TEXT.fullmatch(raw) or not _YEARS[0] <= int(raw[:4]) <= _YEARS[1]:
            return _REJECT
        try:
            return np.datetime64(raw.replace(" ", "T"), "ns")
        except ValueError:
            return _REJECT
    if field.name == "lab_result":
        return raw if raw in LAB_RESULTS else _REJECT
    return raw


def _as_array(kind: str, column: list[object]) -> np.ndarray:
    if kind in ("number", "flag"):
        return np.array([np.nan if v is None else v for v in column], dtype="float64")
    if kind == "date":
        return np.array(
            [np.datetime64("NaT") if v is None else v for v in column], dtype="datetime64[ns]"
        )
    return np.array(column, dtype=object)


def concat_columns(parts: Sequence[Mapping[str, np.ndarray]]) -> Columns:
    """Stack the columns of several requests; a field absent from one is missing there."""
    if len(parts) == 1:
        return dict(parts[0])
    lengths = [len(p["declaration_id"]) for p in parts]
    out: Columns = {}
    for name in dict.fromkeys(k for p in parts for k in p):
        example = next(p[name] for p in parts if name in p)
        pieces = [
            p[name] if name in p else _missing_like(example, n)
            for p, n in zip(parts, lengths, strict=True)
        ]
        out[name] = np.concatenate(pieces)
    return out


def _missing_like(example: np.ndarray, n: int) -> np.ndarray:
    if example.dtype.kind == "M":
        return np.full(n, np.datetime64("NaT"), dtype=example.dtype)
    if example.dtype.kind == "f":
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)
