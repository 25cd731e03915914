"""The historic selection: the targeting rule that decided which rows were inspected.

The rule inspects by credit tier in force and moves inspections towards risky chapters,
low unit values (seen through an imperfect price database) and new importers; a uniform
random share comes on top. Its labels are therefore a biased sample of the truth.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from portsift.features.contract import CREDIT_TIERS
from portsift.synthetic.catalogue import Catalogue
from portsift.synthetic.fraud import Declared
from portsift.synthetic.parties import Importers, tier_on_day
from portsift.synthetic.trade import Rows

# Historic targeting. Tier rates of the rule, before the uniform random share; the
# rule's multipliers move inspections towards its risky chapters, low unit values (as
# seen through an imperfect price database) and new importers within each tier.
_RULE_TIER_RATE: Final = (0.003, 0.035, 0.115, 0.49, 0.80)
_RANDOM_INSPECTION_SHARE: Final = 0.015
_RULE_CHAPTERS: Final = ("02", "03", "22", "33", "42", "61", "62", "71", "91")
_RULE_CHAPTER_BOOST: Final = 0.7
_RULE_LOW_VALUE_BOOST: Final = 1.2
_RULE_LOW_VALUE_RATIO: Final = 0.5
_RULE_PRICE_NOISE: Final = 0.5
_RULE_NEW_IMPORTER_BOOST: Final = 0.6
_RULE_NEW_IMPORTER_DAYS: Final = 90
_RULE_MAX_RATE: Final = 0.97


def inspect(
    rng: np.random.Generator,
    catalogue: Catalogue,
    importers: Importers,
    rows: Rows,
    declared: Declared,
) -> tuple[np.ndarray, np.ndarray]:
    """The historic targeting rule plus a uniform random share.

    Args:
        rng: The world's random stream.
        catalogue: The tariff catalogue.
        importers: The importers, for their tier in force and their age.
        rows: The rows.
        declared: The declared fields the rule sees.

    Returns:
        ``inspected`` and ``random_pick`` (rows the random share selected).
    """
    n = rows.code.shape[0]
    # The rule's chapters are read off the codes as declared, as the rule saw them.
    rule_chapter = np.isin(np.strings.slice(catalogue.codes, 0, 2), np.array(_RULE_CHAPTERS))
    tier = tier_on_day(importers, rows.importer, rows.day)
    with np.errstate(divide="ignore"):
        unit_value = declared.cif / declared.quantity
        ratio = np.log(unit_value / catalogue.ref_price[declared.code])
    seen = ratio + rng.normal(0.0, _RULE_PRICE_NOISE, n)
    low_value = (seen < np.log(_RULE_LOW_VALUE_RATIO)) & (declared.cif > 0)
    entry = importers.entry[rows.importer]
    new = (entry >= 0) & (rows.day - entry < _RULE_NEW_IMPORTER_DAYS)
    multiplier = (
        1.0
        + _RULE_CHAPTER_BOOST * rule_chapter[declared.code]
        + _RULE_LOW_VALUE_BOOST * low_value
        + _RULE_NEW_IMPORTER_BOOST * new
    )
    tier_mean = np.bincount(tier, weights=multiplier, minlength=len(CREDIT_TIERS)) / np.maximum(
        np.bincount(tier, minlength=len(CREDIT_TIERS)), 1
    )
    p_rule = np.minimum(
        np.asarray(_RULE_TIER_RATE)[tier] * multiplier / tier_mean[tier], _RULE_MAX_RATE
    )
    by_rule = rng.random(n) < p_rule
    random_pick = rng.random(n) < _RANDOM_INSPECTION_SHARE
    return by_rule | random_pick, random_pick
