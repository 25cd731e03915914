"""The registers of measures 22 and 12 compiled for the API's per-request path.

:func:`portsift.features.disclosure.disclosure_columns` and
:func:`portsift.features.ruling.ruling_columns` sort and merge the whole register for
every batch: right for a file, ~10 ms of fixed pandas cost for one request.
:class:`MeasureRegisters` sorts each register once per worker into numpy arrays and
answers a request with binary searches (``np.searchsorted``) and array operations: no
pandas and no per-declaration Python loop. It is the same arithmetic as those two
functions, in the same order of ties, held to them column by column by
``tests/features/test_online.py``:

* **history**: the importer's disclosures on days before the declaration's day (a
  sorted array of ``(importer, day)`` keys, counted by two searches), and the days since
  the latest;
* **named disclosure**: the earliest (by date, then id) disclosure naming the
  declaration;
* **the importer's next disclosure naming no declaration**, on or after its day
  (earliest day, then smallest id);
* **rulings**: per kind, of the importer's rulings whose code prefixes the declaration's
  and whose validity holds its day, the one with the latest ``valid_to`` (then the
  largest id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from portsift.features.contract import RULING_KINDS

Columns = dict[str, np.ndarray]

#: An importer's position and a day number pack into one int64 (as the pandas path).
_DAY_SPAN: Final[int] = 1 << 32
_NAT_NS: Final = np.datetime64("NaT", "ns")


def _text(values: pd.Series | np.ndarray) -> np.ndarray:
    """Text as a numpy ``str`` array, ``""`` where missing (ids are never empty)."""
    if isinstance(values, pd.Series):  # a register, once per worker
        return values.astype(object).where(values.notna(), "").astype(str).to_numpy(dtype=str)
    # A request's object array, ``None`` where missing: numpy only (pandas' fixed cost
    # would be most of the lookup).
    array = np.asarray(values, dtype=object)
    return np.where(array == None, "", array).astype(str)  # noqa: E711


def _days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Whole days since 1970-01-01 (floored), as int64."""
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]").astype("int64")


def _packed(codes: np.ndarray, days: np.ndarray) -> np.ndarray:
    return codes.astype("int64") * _DAY_SPAN + (days + _DAY_SPAN // 2)


def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each key's position in a sorted unique array, -1 where it is not there."""
    if len(sorted_keys) == 0:
        return np.full(len(keys), -1, dtype="int64")
    at = np.searchsorted(sorted_keys, keys)
    inside = at < len(sorted_keys)
    hit = np.zeros(len(keys), dtype=bool)
    hit[inside] = sorted_keys[at[inside]] == keys[inside]
    return np.where(hit, at, -1)


@dataclass(frozen=True)
class _Disclosures:
    """The disclosures register sorted for lookups."""

    enterprises: np.ndarray  # sorted unique enterprise ids of the register
    history: np.ndarray  # sorted packed (enterprise, day) of every disclosure
    named_ids: np.ndarray  # sorted declaration ids that a disclosure names
    named: tuple[np.ndarray, np.ndarray, np.ndarray]  # id, date, minor of its earliest
    general_keys: np.ndarray  # sorted packed (enterprise, day) of those naming none
    general: tuple[np.ndarray, np.ndarray, np.ndarray]  # id, date, minor, same order

    @classmethod
    def compile(cls, register: pd.DataFrame) -> _Disclosures:
        enterprise = _text(register["enterprise_id"])
        enterprises = np.unique(enterprise)
        code = np.searchsorted(enterprises, enterprise)
        day = _days(register["disclosed_at"])
        ids = _text(register["disclosure_id"])
        at = register["disclosed_at"].to_numpy(dtype="datetime64[ns]")
        minor = register["minor"].to_numpy(dtype="float64")
        if "declaration_id" in register:
            named_of = _text(register["declaration_id"])
        else:
            named_of = np.full(len(register), "", dtype=str)
        naming = np.flatnonzero(named_of != "")
        # Earliest by (date, id) per declaration: sorted by declaration, date, id, first kept.
        order = naming[np.lexsort((ids[naming], at[naming], named_of[naming]))]
        first = np.ones(len(order), dtype=bool)
        first[1:] = named_of[order][1:] != named_of[order][:-1]
        order = order[first]
        general = np.flatnonzero(named_of == "")
        keys = _packed(code[general], day[general])
        general = general[np.lexsort((ids[general], keys))]
        return cls(
            enterprises=enterprises,
            history=np.sort(_packed(code, day)),
            named_ids=named_of[order],
            named=(ids[order], at[order], minor[order]),
            general_keys=_packed(code[general], day[general]),
            general=(ids[general], at[general], minor[general]),
        )

    def columns(self, importer: np.ndarray, declaration: np.ndarray, day: np.ndarray) -> Columns:
        n = len(day)
        code = _find(self.enterprises, importer)
        known = code >= 0
        before = np.searchsorted(self.history, _packed(code, day), side="left")
        start = np.searchsorted(self.history, _packed(code, np.full(n, -(_DAY_SPAN // 2))))
        count = np.where(known, before - start, 0)
        if len(self.history):
            last = self.history[np.maximum(before - 1, 0)] % _DAY_SPAN - _DAY_SPAN // 2
        else:
            last = day
        out: Columns = {
            "importer_disclosures": count.astype("float64"),
            "importer_days_since_disclosure": np.where(
                known & (count > 0), day - last, np.nan
            ).astype("float64"),
        }
        out.update(_picked("named_", _find(self.named_ids, declaration), self.named))
        at = np.searchsorted(self.general_keys, _packed(code, day), side="left")
        inside = at < len(self.general_keys)
        same = np.zeros(n, dtype=bool)
        same[inside] = self.general_keys[at[inside]] // _DAY_SPAN == code[inside]
        position = np.where(known & inside & same, at, -1)
        out.update(_picked("enterprise_", position, self.general))
        return out


def _picked(
    prefix: str, position: np.ndarray, table: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> Columns:
    """The id, date and minor flag of ``table``'s row ``position`` (-1: none)."""
    ids, dates, minor = table
    found = (position >= 0) & (len(ids) > 0)
    rows = np.maximum(position, 0)[found]
    picked_ids = np.full(len(position), None, dtype=object)
    picked_dates = np.full(len(position), _NAT_NS, dtype="datetime64[ns]")
    picked_minor = np.full(len(position), np.nan)
    picked_ids[found] = ids[rows].astype(object)
    picked_dates[found] = dates[rows]
    picked_minor[found] = minor[rows]
    return {
        f"{prefix}disclosure_id": picked_ids,
        f"{prefix}disclosed_at": picked_dates,
        f"{prefix}disclosure_minor": picked_minor,
    }


@dataclass(frozen=True)
class _Rulings:
    """The rulings register sorted by enterprise, then kind, end date and id."""

    enterprise: np.ndarray
    ids: np.ndarray
    codes: np.ndarray
    kinds: np.ndarray
    start: np.ndarray  # valid_from, whole days
    end: np.ndarray  # valid_to, whole days
    valid_to: np.ndarray  # valid_to as datetime64[ns]

    @classmethod
    def compile(cls, register: pd.DataFrame) -> _Rulings:
        enterprise = _text(register["enterprise_id"])
        ids = _text(register["ruling_id"])
        kinds = _text(register["kind"])
        valid_to = register["valid_to"].to_numpy(dtype="datetime64[ns]")
        # Within an enterprise and kind the last of this order is the ruling the pandas
        # path keeps (latest valid_to, then the largest id).
        order = np.lexsort((ids, valid_to, kinds, enterprise))
        return cls(
            enterprise=enterprise[order],
            ids=ids[order],
            codes=_text(register["hs_code"])[order],
            kinds=kinds[order],
            start=_days(register["valid_from"])[order],
            end=_days(register["valid_to"])[order],
            valid_to=valid_to[order],
        )

    def columns(self, importer: np.ndarray, code: np.ndarray, day: np.ndarray) -> Columns:
        n = len(day)
        low = np.searchsorted(self.enterprise, importer, side="left")
        high = np.searchsorted(self.enterprise, importer, side="right")
        counts = np.where(importer != "", high - low, 0)
        # Every (declaration, ruling of its importer) pair, as two index arrays.
        row = np.repeat(np.arange(n), counts)
        offsets = np.cumsum(counts) - counts
        ruling = np.repeat(low, counts) + np.arange(int(counts.sum())) - np.repeat(offsets, counts)
        valid = (self.start[ruling] <= day[row]) & (day[row] <= self.end[ruling])
        if len(row):
            valid &= np.strings.startswith(code[row], self.codes[ruling])
        out: Columns = {}
        for kind in RULING_KINDS:
            of_kind = valid & (self.kinds[ruling] == kind)
            best = np.full(n, -1, dtype="int64")
            np.maximum.at(best, row[of_kind], ruling[of_kind])
            found = best >= 0
            ids = np.full(n, None, dtype=object)
            ends = np.full(n, _NAT_NS, dtype="datetime64[ns]")
            ids[found] = self.ids[best[found]].astype(object)
            ends[found] = self.valid_to[best[found]]
            out[f"ruling_{kind}_id"] = ids
            out[f"ruling_{kind}_valid_to"] = ends
        return out


@dataclass(frozen=True)
class MeasureRegisters:
    """The registers of voluntary disclosures and advance rulings, compiled once.

    Attributes:
        disclosures: The disclosures register sorted for lookups (None: not given).
        rulings: The rulings register sorted for lookups (None: not given).
    """

    disclosures: _Disclosures | None = None
    rulings: _Rulings | None = None

    @classmethod
    def compile(
        cls, disclosures: pd.DataFrame | None, rulings: pd.DataFrame | None
    ) -> MeasureRegisters | None:
        """Sort the validated registers for lookups.

        Args:
            disclosures: The register of voluntary disclosures, or None.
            rulings: The register of advance rulings, or None.

        Returns:
            The compiled registers, or None when neither is given.
        """
        if disclosures is None and rulings is None:
            return None
        return cls(
            disclosures=None if disclosures is None else _Disclosures.compile(disclosures),
            rulings=None if rulings is None else _Rulings.compile(rulings),
        )

    def columns(self, columns: Mapping[str, np.ndarray]) -> Columns:
        """The history features and context columns of measures 22 and 12 of declarations.

        Args:
            columns: Canonical declaration fields as arrays (``declaration_id``,
                ``importer_id``, ``hs_code``, ``declared_at``).

        Returns:
            What :meth:`portsift.features.pipeline.FeaturePipeline.transform` gives for
            them: the disclosure history features and candidate disclosures with a
            disclosures register, the ruling context columns with a rulings register.
        """
        importer = _text(columns["importer_id"])
        day = _days(columns["declared_at"])
        out: Columns = {}
        if self.disclosures is not None:
            declaration = _text(columns["declaration_id"])
            out.update(self.disclosures.columns(importer, declaration, day))
        if self.rulings is not None:
            out.update(self.rulings.columns(importer, _text(columns["hs_code"]), day))
        return out
