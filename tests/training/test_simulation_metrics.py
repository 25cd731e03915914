"""What a replay measures (training/simulation_metrics.py)."""

from __future__ import annotations

import math

import pandas as pd

from portsift.training.simulation_metrics import ring_found_week


def test_ring_found_week_definition() -> None:
    weekly = pd.DataFrame(
        {
            "sim_week": [1, 2, 3, 4],
            "ring_rows": [0, 2, 10, 8],
            "ring_selected": [0, 2, 4, 6],
            "ring_share": [math.nan, 1.0, 0.4, 0.75],
        }
    )
    # Week 2 has too few ring rows to count, week 3 too small a share.
    assert ring_found_week(weekly, share=0.5, min_rows=3) == 4
    assert ring_found_week(weekly, share=0.5, min_rows=2) == 2
    assert ring_found_week(weekly, share=0.9, min_rows=3) is None
