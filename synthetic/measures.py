"""The registers of two Haikou Customs 2024 measures: voluntary disclosures and advance rulings.

Both are drawn after the rest of the world, from the finished declarations and their
truth, each from a random stream of its own (:data:`DISCLOSURE_STREAM`,
:data:`RULING_STREAM`, seeded with the world's seed), so that every other table of a
seed is exactly what it was before these registers existed.

* **Voluntary disclosures** (主动披露, measure 22): a small share of importers disclose,
  most of them firms with violations to disclose. Most disclosures name a declaration
  that really was a violation; about half of those are lodged on the declaration's own
  day (before the decision on it: the declaration is covered), the others weeks or
  months later (a past violation disclosed after the fact). The rest name no
  declaration. Most are minor.
* **Advance rulings** (预裁定, measure 12): a few hundred rulings held by importers on
  the 10-digit codes they import repeatedly, mostly on classification, valid one to
  three years; over the period some expire and some come within 30 to 90 days of their
  end. A ruling's kind is never one the holder's declarations of that code violate
  (the customs decided it in advance), so the register is consistent with the truth.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from portsift.features.contract import (
    DISCLOSURE_FIELDS,
    RULING_FIELDS,
    RULING_KINDS,
    field_names,
)

DISCLOSURE_STREAM: Final = 2
RULING_STREAM: Final = 3

#: Share of the active importers that disclose at all, and how much likelier a firm with
#: violations is to be among them.
_DISCLOSING_SHARE: Final = 0.03
_VIOLATOR_WEIGHT: Final = 6.0
#: Disclosures per disclosing importer: 1 + Poisson(this).
_EXTRA_DISCLOSURES: Final = 0.6
#: Share of disclosures that name one of the firm's violating declarations, and of those
#: the share lodged on the declaration's own day (the rest 5 to 180 days later).
_NAMED_SHARE: Final = 0.6
_SAME_DAY_SHARE: Final = 0.5
_LATE_DAYS: Final = (5, 181)
_MINOR_SHARE: Final = 0.8
#: Disclosure kind of each fraud kind of the truth.
_DISCLOSED_KIND: Final = {
    "undervaluation": "valuation",
    "misclassification": "classification",
    "quantity": "quantity",
    "origin": "origin",
    "compliance": "compliance",
}
_ENTERPRISE_KINDS: Final = ("valuation", "classification", "quantity", "origin", "compliance")
_ENTERPRISE_KIND_WEIGHTS: Final = (0.4, 0.25, 0.15, 0.1, 0.1)

#: Rulings per active importer, and the fewest a world gets.
_RULINGS_PER_IMPORTER: Final = 0.1
_MIN_RULINGS: Final = 10
#: A pair (importer, 10-digit code) asks for a ruling once it has lodged this many.
_MIN_PAIR_DECLARATIONS: Final = 3
_RULING_KIND_WEIGHTS: Final = (0.7, 0.2, 0.1)  # classification, valuation, origin
#: The fraud kind of the truth each ruling kind rules out.
_RULED_OUT: Final = {
    "classification": "misclassification",
    "valuation": "undervaluation",
    "origin": "origin",
}
_VALIDITY_DAYS: Final = (365, 1096)  # one to three years
_FIRST_VALID_BEFORE: Final = 730  # the earliest rulings were issued before the period


def _day_numbers(dates: pd.Series) -> np.ndarray:
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype("int64")


def _dates(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def disclosure_frame(seed: int, declarations: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The register of voluntary disclosures of a world (contract section 1.5).

    Args:
        seed: The world's seed (the stream is ``[seed, DISCLOSURE_STREAM]``).
        declarations: The world's declarations, in date order.
        truth: Its truth, aligned (``violation``, ``fraud_kind``).

    Returns:
        ``disclosure_id, enterprise_id, declaration_id, disclosed_at, kind, minor``,
        sorted by date; ``declaration_id`` is missing for disclosures naming none.
    """
    rng = np.random.default_rng([seed, DISCLOSURE_STREAM])
    importer = declarations["importer_id"].astype(str).to_numpy()
    violation = truth["violation"].to_numpy(dtype=bool)
    names, code = np.unique(importer, return_inverse=True)
    violations = np.bincount(code, weights=violation, minlength=len(names))
    weight = 1.0 + _VIOLATOR_WEIGHT * (violations > 0)
    n_firms = max(1, round(_DISCLOSING_SHARE * len(names)))
    firms = rng.choice(
        len(names), size=min(n_firms, len(names)), replace=False, p=weight / weight.sum()
    )
    counts = 1 + rng.poisson(_EXTRA_DISCLOSURES, size=len(firms))
    firm = np.repeat(firms, counts)
    n = len(firm)
    day = _day_numbers(declarations["declared_at"])
    first, last = int(day.min()), int(day.max())

    # A named disclosure picks one of its firm's violating declarations at random (the
    # rows sorted by firm, a uniform position within the firm's block).
    bad_rows = np.flatnonzero(violation)
    order = bad_rows[np.argsort(code[bad_rows], kind="stable")]
    starts = np.searchsorted(code[order], firm, side="left")
    ends = np.searchsorted(code[order], firm, side="right")
    named = (rng.random(n) < _NAMED_SHARE) & (ends > starts)
    position = starts + np.floor(rng.random(n) * np.maximum(ends - starts, 1)).astype(np.int64)
    if len(order):
        row = np.where(named, order[np.minimum(position, len(order) - 1)], -1)
    else:
        row = np.full(n, -1, dtype=np.int64)
    # A declaration is disclosed once: a firm's second draw of it names none.
    named &= ~pd.Series(np.where(named, row, -1 - np.arange(n))).duplicated().to_numpy()
    same_day = rng.random(n) < _SAME_DAY_SHARE
    late = rng.integers(*_LATE_DAYS, size=n)
    random_day = rng.integers(first, last + 1, size=n)
    named_day = np.where(same_day, day[np.maximum(row, 0)], day[np.maximum(row, 0)] + late)
    disclosed = np.where(named, named_day, random_day)
    fraud_kind = truth["fraud_kind"].astype(str).to_numpy()
    named_kind = np.array(
        [_DISCLOSED_KIND.get(k, "compliance") for k in fraud_kind[np.maximum(row, 0)]],
        dtype=object,
    )
    enterprise_kind = np.asarray(_ENTERPRISE_KINDS, dtype=object)[
        rng.choice(len(_ENTERPRISE_KINDS), size=n, p=_ENTERPRISE_KIND_WEIGHTS)
    ]
    minor = (rng.random(n) < _MINOR_SHARE).astype(np.int64)
    ids = declarations["declaration_id"].astype(str).to_numpy()
    frame = pd.DataFrame(
        {
            "enterprise_id": names[firm],
            "declaration_id": np.where(named, ids[np.maximum(row, 0)], None),
            "disclosed_at": _dates(disclosed),
            "kind": np.where(named, named_kind, enterprise_kind),
            "minor": minor,
        }
    )
    frame = frame.sort_values(["disclosed_at", "enterprise_id"], kind="stable")
    frame.insert(0, "disclosure_id", [f"DS{i:05d}" for i in range(1, n + 1)])
    frame = frame.reset_index(drop=True).astype({"declaration_id": "str", "kind": "str"})
    return frame[field_names(DISCLOSURE_FIELDS)]


def ruling_frame(seed: int, declarations: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The register of advance rulings of a world (contract section 1.6).

    Args:
        seed: The world's seed (the stream is ``[seed, RULING_STREAM]``).
        declarations: The world's declarations, in date order.
        truth: Its truth, aligned (``fraud_kind``).

    Returns:
        ``ruling_id, enterprise_id, hs_code, kind, valid_from, valid_to``, sorted by
        ``valid_from``; at most one ruling of a kind per importer and code.
    """
    rng = np.random.default_rng([seed, RULING_STREAM])
    pairs = pd.DataFrame(
        {
            "enterprise_id": declarations["importer_id"].astype(str).to_numpy(),
            "hs_code": declarations["hs_code"].astype(str).to_numpy(),
            "fraud_kind": truth["fraud_kind"].astype(str).to_numpy(),
        }
    )
    kinds = pd.crosstab([pairs["enterprise_id"], pairs["hs_code"]], pairs["fraud_kind"])
    counts = kinds.sum(axis=1)
    kinds = kinds[counts >= _MIN_PAIR_DECLARATIONS]
    counts = counts[counts >= _MIN_PAIR_DECLARATIONS]
    n_importers = pairs["enterprise_id"].nunique()
    wanted = max(_MIN_RULINGS, round(_RULINGS_PER_IMPORTER * n_importers))
    n = min(wanted, len(counts))
    weight = np.sqrt(counts.to_numpy(dtype="float64"))
    chosen = rng.choice(len(counts), size=n, replace=False, p=weight / weight.sum())
    kind = rng.choice(len(RULING_KINDS), size=n, p=_RULING_KIND_WEIGHTS)
    # The ruled kind must not be one the pair's declarations violate: fall back on the
    # next kind it does not violate (classification, valuation, origin in turn).
    violated = np.column_stack(
        [
            kinds[_RULED_OUT[k]].to_numpy()[chosen] > 0
            if _RULED_OUT[k] in kinds
            else np.zeros(n, dtype=bool)
            for k in RULING_KINDS
        ]
    )
    final = np.full(n, -1, dtype=np.int64)
    for step in range(len(RULING_KINDS)):  # three kinds, not rows
        candidate = (kind + step) % len(RULING_KINDS)
        free = ~violated[np.arange(n), candidate]
        final = np.where((final < 0) & free, candidate, final)
    keep = final >= 0
    index = counts.index[chosen[keep]]
    day = _day_numbers(declarations["declared_at"])
    first, last = int(day.min()), int(day.max())
    m = int(keep.sum())
    valid_from = rng.integers(first - _FIRST_VALID_BEFORE, last - 30, size=m)
    length = rng.integers(*_VALIDITY_DAYS, size=m)
    frame = pd.DataFrame(
        {
            "enterprise_id": index.get_level_values(0).astype(str),
            "hs_code": index.get_level_values(1).astype(str),
            "kind": np.asarray(RULING_KINDS, dtype=object)[final[keep]],
            "valid_from": _dates(valid_from),
            "valid_to": _dates(valid_from + length - 1),
        }
    )
    frame = frame.sort_values(["valid_from", "enterprise_id", "hs_code"], kind="stable")
    frame.insert(0, "ruling_id", [f"YC{i:05d}" for i in range(1, m + 1)])
    frame = frame.reset_index(drop=True).astype(
        {"ruling_id": "str", "enterprise_id": "str", "hs_code": "str", "kind": "str"}
    )
    return frame[field_names(RULING_FIELDS)]
