"""Reasons in the page's language, whatever language the decision was scored in.

A decision stores its reasons in the language it was decided in. The declaration page
writes the model's reasons again in its own language from what the decision carries (its
SHAP contributions), through the explainer that wrote them
(:func:`portsift.models.explain.reason_texts`); the recorded text, whose policy part
cannot be written again, is shown as it is with its language.
"""

from __future__ import annotations

import re

from portsift.serving.console.pages import reasons_language
from tests.serving.console.conftest import Console, record

#: The model's top three: a flag and the tier need only what the decision carries; the
#: price ratio's reason quotes the HS code and the reference price, which are not kept.
CONTRIBUTIONS = [
    {"feature": "perishable", "value": 1.0, "shap": 0.9},
    {"feature": "importer_tier_rank", "value": 3.0, "shap": 0.5},
    {"feature": "unit_value_ratio", "value": 0.38, "shap": 0.3},
    {"feature": "quantity", "value": 10.0, "shap": -0.2},
]
ENGLISH = (
    "selected by risk ranking (risk score 0.40); perishable goods (green channel); "
    "importer credit tier: dishonest; declared unit value 3.20 USD/unit is 62% below the "
    "reference for HS 8504.40 (8.50 USD/unit)"
)
CHINESE = (
    "按风险排序布控（风险评分0.40）; 鲜活易腐商品（绿色通道）; 进口企业信用等级：失信企业; "
    "申报单价3.20美元/单位，低于该税号8504.40参考值（8.50美元/单位）62%"
)


def _reasons(html: str) -> list[str]:
    section = html.split('<section id="reasons">')[1].split("</section>")[0]
    return [" ".join(r.split()) for r in re.findall(r"<li>(.*?)</li>", section, re.S)]


def _recorded(html: str) -> str | None:
    match = re.search(r'id="recorded-reasons">(.*?)</p>', html, re.S)
    return None if match is None else " ".join(match.group(1).split())


def test_an_english_decision_has_chinese_reasons_on_the_chinese_page(console: Console) -> None:
    record(console.store, "EN-1", tier="dishonest", reasons=ENGLISH, contributions=CONTRIBUTIONS)
    console.sign_in()
    html = console.client.get("/declaration/EN-1?lang=zh").text
    reasons = _reasons(html)
    # The explainer's Chinese for the flag and the tier; the ratio by its factor's name.
    assert reasons[:2] == ["鲜活易腐商品（绿色通道）", "进口企业信用等级：失信企业"]
    assert len(reasons) == 3 and "0.38" in reasons[2] and "提高风险" in reasons[2]
    assert not any(re.search(r"[A-Za-z]{3,}", reason) for reason in reasons), reasons
    # The recorded text (the policy's part cannot be written again) with its language.
    recorded = _recorded(html)
    assert recorded is not None and recorded.startswith("决定时记录的理由（英文原文）")
    assert 'lang="en"' in html and "selected by risk ranking" in recorded


def test_an_english_decision_has_its_own_reasons_on_the_english_page(console: Console) -> None:
    record(console.store, "EN-1", tier="dishonest", reasons=ENGLISH, contributions=CONTRIBUTIONS)
    console.sign_in()
    html = console.client.get("/declaration/EN-1?lang=en").text
    assert _reasons(html) == [part.strip() for part in ENGLISH.split(";")]
    assert _recorded(html) is None


def test_a_chinese_decision_has_english_reasons_on_the_english_page(console: Console) -> None:
    record(console.store, "ZH-1", tier="dishonest", reasons=CHINESE, contributions=CONTRIBUTIONS)
    console.sign_in()
    html = console.client.get("/declaration/ZH-1?lang=en").text
    reasons = _reasons(html)
    assert reasons[:2] == ["perishable goods (green channel)", "importer credit tier: dishonest"]
    assert len(reasons) == 3 and "0.38" in reasons[2] and "raises the risk" in reasons[2]
    recorded = _recorded(html)
    assert recorded is not None and "(in Chinese)" in recorded and "按风险排序布控" in recorded
    assert (
        _reasons(console.client.get("/declaration/ZH-1?lang=zh").text)[1]
        == "鲜活易腐商品（绿色通道）"
    )


def test_a_decision_without_contributions_shows_its_text_with_its_language(
    console: Console,
) -> None:
    # Imported from a batch (portsift audit import): nothing to write the reasons from.
    record(console.store, "BATCH-1", reasons=ENGLISH, contributions=[])
    console.sign_in()
    html = console.client.get("/declaration/BATCH-1").text
    assert _reasons(html) == []
    recorded = _recorded(html)
    assert recorded is not None and "英文原文" in recorded and "perishable goods" in recorded


def test_the_language_of_a_reasons_text() -> None:
    assert reasons_language(ENGLISH) == "en"
    assert reasons_language(CHINESE) == "zh"
    # English naming a Chinese term; Chinese quoting a feature's name.
    assert reasons_language("conditional release (附条件放行): duty-free food") == "en"
    assert reasons_language("declared_value = 12000（提高风险）; 新进口企业") == "zh"


def test_a_category_whose_value_is_not_kept_is_named_without_a_placeholder(
    console: Console,
) -> None:
    # The raw HS chapter is not on record, only its code: the factor is named, no "?".
    console.backend.feature_labels = {"hs2_code": "hs_chapter"}
    contributions = [{"feature": "hs2_code", "value": 7.0, "shap": 0.8}, *CONTRIBUTIONS]
    record(console.store, "EN-2", tier="dishonest", reasons=ENGLISH, contributions=contributions)
    console.sign_in()
    zh = _reasons(console.client.get("/declaration/EN-2?lang=zh").text)
    assert zh[:2] == ["鲜活易腐商品（绿色通道）", "商品章提高风险"]
    record(console.store, "ZH-2", tier="dishonest", reasons=CHINESE, contributions=contributions)
    en = _reasons(console.client.get("/declaration/ZH-2?lang=en").text)
    assert en[:2] == ["perishable goods (green channel)", "HS chapter raises the risk"]


def test_a_feature_an_advance_ruling_covers_is_marked_as_the_service_marks_it(
    console: Console,
) -> None:
    # Measure 12: the unit value's risk is covered by valuation ruling AR-9.
    contributions = [{"feature": "unit_value_ratio", "value": 0.38, "shap": 0.95}, *CONTRIBUTIONS]
    rulings = {"ruling_ids": "AR-9", "ruling_kinds": "valuation", "ruling_valid_to": "2027-06-30"}
    record(console.store, "EN-3", reasons=ENGLISH, contributions=contributions, **rulings)
    console.sign_in()
    zh = _reasons(console.client.get("/declaration/EN-3?lang=zh").text)
    assert zh[0] == "单价与税号参考价之比为0.38，提高风险（已由预裁定AR-9覆盖）", zh
    assert not any("预裁定" in reason for reason in zh[1:]), zh
    # No register on the service (ruling_ids null): nothing is marked.
    record(console.store, "EN-4", reasons=ENGLISH, contributions=contributions)
    assert not any("预裁定" in r for r in _reasons(console.client.get("/declaration/EN-4").text))
