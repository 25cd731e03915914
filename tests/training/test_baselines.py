"""The DATE baseline (training/baselines.py) survives the bundle's JSON unchanged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from portsift.training.baselines import PROFILE_RATES, RAW_NUMERIC, DateGBDT


def _rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({column: rng.uniform(0, 1, n) for column in PROFILE_RATES})
    for column in RAW_NUMERIC:
        frame[column] = rng.lognormal(8, 1, n)
    # The label depends on the first and the last rate differently, so a swap of the
    # threshold columns changes the predictions.
    signal = 3 * frame[PROFILE_RATES[0]] - 2 * frame[PROFILE_RATES[-1]]
    illicit = (signal + rng.normal(0, 0.5, n) > 0.8).to_numpy(dtype="float64")
    return frame, illicit


def test_a_baseline_reloaded_from_sorted_json_predicts_the_same() -> None:
    train, illicit = _rows(3_000, 1)
    test, _ = _rows(500, 2)
    fitted = DateGBDT(n_estimators=30, random_state=3).fit(train, illicit)
    # The bundle writes its metadata with sorted keys (as every JSON file of it).
    stored = json.loads(json.dumps(fitted.to_dict(), sort_keys=True))
    assert list(stored["thresholds"]) != list(fitted.thresholds_)  # the order did change
    reloaded = DateGBDT.from_dict(stored)
    assert list(reloaded.thresholds_) == list(fitted.thresholds_)
    np.testing.assert_array_equal(reloaded.predict(test), fitted.predict(test))
