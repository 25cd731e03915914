"""Offshore duty-free imports (离岛免税): food and cosmetics declared as duty-free goods.

Hainan's offshore duty-free shops import their stock as duty-free goods (trade mode 1741,
免税品). With ``portsift generate --duty-free-share S`` a share ``S`` of the importers of
food and cosmetics become duty-free operators: their general-trade declarations of those
goods are declared under 1741 instead. Who they are is drawn from a random stream of its
own (:data:`DUTY_FREE_STREAM`, seeded with the world's seed), after the world is built,
and only the trade mode changes, so that with the default share of 0 every table of a
seed is exactly what it was before this mode existed. Haikou Customs 2024 measure 14
lets such goods be released under conditions (``release_condition =
conditional_release``, :mod:`portsift.models.release`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

DUTY_FREE_STREAM: Final = 4
#: The trade mode of goods for the duty-free shops (免税品), and the one they leave.
DUTY_FREE_TRADE_MODE: Final = "1741"
GENERAL_TRADE_MODE: Final = "0110"
#: Headings of the synthetic catalogue sold in the duty-free shops: prepared foods,
#: beverages, perfumes, make-up and skin care, hair preparations.
DUTY_FREE_HEADINGS: Final = ("1901", "2106", "2203", "2204", "2208", "3303", "3304", "3305")


def with_duty_free(declarations: pd.DataFrame, seed: int, share: float) -> pd.DataFrame:
    """The declarations with the duty-free operators' food and cosmetics under 1741.

    Args:
        declarations: The finished declarations (``importer_id``, ``hs_code``,
            ``trade_mode``).
        seed: The world's seed.
        share: Share of the importers of those goods that are duty-free operators
            (0: the declarations are returned unchanged).

    Returns:
        The declarations (a copy when any row changes).

    Raises:
        ValueError: If ``share`` is not in [0, 1].
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"duty_free_share: must be in [0, 1], got {share!r}")
    if share == 0.0:
        return declarations
    goods = declarations["hs_code"].astype("str").str[:4].isin(DUTY_FREE_HEADINGS)
    general = declarations["trade_mode"].astype("str") == GENERAL_TRADE_MODE
    candidates = goods & general
    importers = np.sort(declarations.loc[candidates, "importer_id"].astype("str").unique())
    rng = np.random.default_rng([seed, DUTY_FREE_STREAM])
    operators = importers[rng.random(len(importers)) < share]
    moved = candidates & declarations["importer_id"].astype("str").isin(operators)
    if not moved.any():
        return declarations
    out = declarations.copy()
    out.loc[moved, "trade_mode"] = DUTY_FREE_TRADE_MODE
    return out
