"""Reasons in officer language: values, references and the missing-reference case."""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.models.explain import REASONS, Explanation, reasons


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
    """Only positive contributions become reasons, largest first, at most ``count``.

    The largest contribution is deliberately not in the first column, and a row has more
    risk-raising factors than ``count``, so ordering and truncation are both exercised.
    Mutations tried in ``top_features`` (each made this test fail, then restored):
    ``np.argsort(values, ...)`` (smallest first); ``np.where(chosen >= 0, ...)`` (a zero
    contribution becomes a reason); dropping the ``[:, :count]`` slice (every positive
    factor listed).
    """
    frame = pd.DataFrame(
        {
            "unit_value_ratio_origin": [np.nan, 0.36, 0.36],
            "unit_value": [30.0, 3.1, 3.1],
            "ref_unit_value_origin": [np.nan, 8.6, 8.6],
            "hs6": ["851713", "610910", "610910"],
            "origin_country": ["AE", "BD", "BD"],
            "other": [1.0, 2.0, 3.0],
            "third": [4.0, 5.0, 6.0],
        }
    )
    explanation = Explanation(
        features=["unit_value_ratio_origin", "other", "third"],
        values=np.array([[0.0, -0.2, -0.1], [0.1, 0.9, -0.3], [0.3, 0.2, 0.5]]),
        base_value=np.full(3, -2.0),
    )
    texts = reasons(frame, explanation, count=2, lang="en").tolist()
    assert texts[0] == ""  # nothing raised the risk: no reason, not a zero one
    first, second = texts[1].split("; ")  # the negative "third" is left out
    assert first.startswith("other = 2") and second.startswith("declared unit value 3.10")
    first, second = texts[2].split("; ")  # three raised it; count keeps the two largest
    assert first.startswith("third = 6") and second.startswith("declared unit value 3.10")


def _identity_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "importer_id": ["IMP01", "IMP02", "IMP03"],
            "declarant_id": ["BRK7", "BRK8", None],
            "hs6": ["851713", "610910", "610910"],
            "importer_declarant_inspections": np.log1p([7.0, 0.0, np.nan]),
            "importer_declarant_violations": np.log1p([5.0, 0.0, np.nan]),
            "importer_declarant_violation_rate": [0.31, 0.09, np.nan],
            "extra_courier_id": ["CUR003", "CUR004", "CUR005"],
            "extra_courier_id_inspections": np.log1p([1.0, 4.0, 2.0]),
            "extra_courier_id_violations": np.log1p([1.0, 0.0, 2.0]),
            "extra_courier_id_violation_rate": [0.2, 0.05, 0.3],
        }
    )


def test_identity_reason_quotes_the_pair_record_in_both_languages() -> None:
    frame = _identity_frame()
    for feature in ("importer_declarant_violation_rate", "importer_declarant_violations"):
        explanation = Explanation([feature], np.ones((3, 1)), np.zeros(3))
        en = reasons(frame, explanation, lang="en").tolist()
        zh = reasons(frame, explanation, lang="zh").tolist()
        assert en[0] == "importer IMP01 with broker BRK7: 5 of 7 past inspections found a violation"
        assert zh[0] == "进口企业IMP01经报关企业BRK7申报：此前7次查验中5次查获违规"
        assert en[1] == "importer IMP02 with broker BRK8: no past inspection"
        assert zh[1] == "进口企业IMP02经报关企业BRK8申报：此前未经查验"
        # No broker: the pair has no record, and the reason says why.
        assert (en[2], zh[2]) == ("broker not given", "未填报报关企业")


def test_a_party_not_given_is_said_so_never_nan() -> None:
    """A declaration without a broker (absent or empty) has no broker statistics at all."""
    frame = pd.DataFrame(
        {
            "importer_id": ["IMP01", "IMP02", "IMP03"],
            "declarant_id": ["BRK7", None, ""],
            "importer_declarations": np.log1p([3.0, 12.0, 0.0]),
            "declarant_declarations": np.log1p([2.0, np.nan, np.nan]),
            "declarant_violation_rate": [0.25, np.nan, np.nan],
            "declarant_inspections": np.log1p([4.0, np.nan, np.nan]),
            "declarant_revenue_per_inspection": [10.0, np.nan, np.nan],
            "declarant_tier_rank": [2.0, np.nan, np.nan],
        }
    )
    features = [c for c in frame.columns if not c.endswith("_id")]
    for feature in features:
        explanation = Explanation([feature], np.ones((3, 1)), np.zeros(3))
        en = reasons(frame, explanation, lang="en").tolist()
        zh = reasons(frame, explanation, lang="zh").tolist()
        assert "nan" not in en[0] and "nan" not in zh[0]
        if feature.startswith("declarant_"):
            assert en[1:] == ["broker not given"] * 2, feature
            assert zh[1:] == ["未填报报关企业"] * 2, feature
    count = Explanation(["declarant_declarations"], np.ones((3, 1)), np.zeros(3))
    assert reasons(frame, count, lang="en")[0] == "the broker has lodged only 2 declarations before"
    assert reasons(frame, count, lang="zh")[0] == "该报关企业此前仅申报2票"
    # The importer is required; a caller who skips the loader still gets no "nan".
    frame.loc[2, "importer_id"] = None
    importer = Explanation(["importer_declarations"], np.ones((3, 1)), np.zeros(3))
    assert reasons(frame, importer, lang="en").tolist()[2] == "importer not given"
    assert reasons(frame, importer, lang="zh").tolist()[2] == "未填报进口企业"
    # Several broker statistics among the top reasons: said once.
    several = Explanation(features[1:4], np.ones((3, 3)), np.zeros(3))
    assert reasons(frame, several, lang="en").tolist()[1] == "broker not given"


def test_identity_reason_of_a_schema_column_names_the_field() -> None:
    frame = _identity_frame()
    explanation = Explanation(["extra_courier_id_violation_rate"], np.ones((3, 1)), np.zeros(3))
    en = reasons(frame, explanation, lang="en").tolist()
    zh = reasons(frame, explanation, lang="zh").tolist()
    assert en[0] == "courier CUR003: 1 of 1 past inspection found a violation"
    assert en[1] == "courier CUR004: 0 of 4 past inspections found a violation"
    assert zh[2] == "承运企业CUR005：此前2次查验中2次查获违规"


def test_identity_factors_have_officer_names() -> None:
    from portsift.reports import i18n

    assert i18n.factor_name("importer_declarant_violation_rate", "en") == (
        "importer with this broker: violation rate"
    )
    assert i18n.factor_name("seller_hs6_inspections", "zh") == "卖方供应该税号此前查验次数"
    assert i18n.factor_kind("declarant_origin_violations") == i18n.LOG_COUNT
    assert i18n.factor_name("extra_courier_id_violation_rate", "en") == "courier: violation rate"
    assert i18n.factor_kind("extra_courier_id_violation_rate") == i18n.RATE
    assert i18n.factor_kind("extra_courier_id_code") == i18n.NUMBER
