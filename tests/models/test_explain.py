"""Reasons in officer language: values, references and the missing-reference case."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.explain import REASONS, Explanation, reasons


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_value_ratio_origin": [np.nan, 0.36],
            "unit_value": [30.0, 3.1],
            "ref_unit_value_origin": [np.nan, 8.6],
            "hs6": ["851713", "610910"],
            "origin_country": ["AE", "BD"],
        }
    )


def test_price_reason_quotes_value_reference_and_gap_in_both_languages() -> None:
    render = REASONS["unit_value_ratio_origin"]
    en = render(_frame(), "unit_value_ratio_origin", "en").tolist()
    zh = render(_frame(), "unit_value_ratio_origin", "zh").tolist()
    assert en[1] == (
        "declared unit value 3.10 USD/unit is 64% below the reference for HS 6109.10 "
        "from BD (8.60 USD/unit)"
    )
    assert zh[1] == "申报单价3.10美元/单位，低于该税号6109.10同原产地(BD)参考值（8.60美元/单位）64%"
    # Without a reference the sentence says so rather than printing "nan%".
    assert "nan" not in en[0] and "no reference" in en[0]
    assert "nan" not in zh[0] and "无参考价" in zh[0]


def test_reasons_list_only_risk_raising_factors_largest_first() -> None:
    frame = _frame()
    explanation = Explanation(
        features=["unit_value_ratio_origin", "other"],
        values=np.array([[0.0, -0.2], [0.9, 0.1]]),
        base_value=np.array([-2.0, -2.0]),
    )
    frame["other"] = [1.0, 2.0]
    texts = reasons(frame, explanation, count=3, lang="en").tolist()
    assert texts[0] == ""
    first, second = texts[1].split("; ")
    assert first.startswith("declared unit value 3.10") and second.startswith("other = 2")
