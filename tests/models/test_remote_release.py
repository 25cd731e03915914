"""Measures 8 (remote video inspection) and 14 (conditional release) in the policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.features.online import columns_from_frame, compile_online
from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle, load_bundle
from portsift.models.policy import RealTimePolicy, SelectionPolicy
from portsift.models.scoring import (
    POLICY_OUTPUT_COLUMNS,
    SCORE_COLUMNS,
    registers_for,
    score_declarations,
    score_online,
)
from portsift.settings import GoodsClassSettings, RuleSettings, SelectionSettings
from portsift.synthetic.generator import generate_synthetic
from tests.models.policy_cases import RATES, lab_report, scored_frame

# -- helpers ---------------------------------------------------------------------------


def _remote(config: SelectionSettings, **changes: object) -> SelectionSettings:
    """The configuration with ``[selection.remote_inspection]`` changed."""
    section = config.remote_inspection.model_copy(update=changes)
    return config.model_copy(update={"remote_inspection": section})


def _release_off(config: SelectionSettings) -> SelectionSettings:
    section = config.release.model_copy(update={"enabled": False})
    return config.model_copy(update={"release": section})


def _prefixed(codes: pd.Series, prefixes: tuple[str, ...]) -> np.ndarray:
    return codes.astype(str).str.startswith(prefixes).to_numpy()


def _video_eligible(frame: pd.DataFrame, config: SelectionSettings) -> np.ndarray:
    """Measure 8's conditions, worked out here from the settings (independently)."""
    remote = config.remote_inspection
    ratio = frame["weight_per_unit_ratio"].to_numpy(dtype="float64")
    prefixes = tuple(p for goods in remote.goods for p in goods.hs_prefixes)
    eligible = frame["credit_tier"].isin(remote.credit_tiers).to_numpy()
    eligible = eligible & _prefixed(frame["hs_code"], prefixes)
    limit = remote.weight_ratio or config.lanes.physical_weight_ratio
    eligible = eligible & (ratio <= limit) & (ratio >= 1 / limit)
    if not remote.perishable:
        eligible = eligible & (frame["perishable"].to_numpy() != 1)
    return eligible


# -- measure 8: remote video inspection ------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_remote_inspection_replaces_red_and_selects_no_more(
    scored: pd.DataFrame, config: SelectionSettings, rate: float
) -> None:
    with_video = SelectionPolicy(config, rate=rate)
    without = SelectionPolicy(_remote(config, enabled=False), rate=rate)
    on, off = with_video.decide(scored), without.decide(scored)
    # The budget and who is selected (and why) do not depend on the measure.
    assert on["selected"].sum() == off["selected"].sum() == with_video.batch_.selected
    assert with_video.batch_.budget == without.batch_.budget
    pd.testing.assert_series_equal(on["selected"], off["selected"])
    pd.testing.assert_series_equal(on["selection_reason"], off["selection_reason"])
    assert with_video.summarise(on, scored["credit_tier"]).constraints_met
    remote = on["lane"] == "red_remote"
    # Only the red the lane rule chose moves, and exactly the eligible ones do (at a 2%
    # rate there may be none: the eligible tiers are capped at a fifth of the rate).
    assert (off.loc[remote, "lane"] == "red").all()
    assert (on.loc[~remote, "lane"] == off.loc[~remote, "lane"]).all()
    eligible = _video_eligible(scored, config)
    red = (off["lane"] == "red").to_numpy()
    np.testing.assert_array_equal(remote.to_numpy(), red & eligible)
    assert (on.loc[remote, "inspection_deadline_hours"] == 8).all()
    assert off["lane"].ne("red_remote").all()


def test_remote_inspection_never_for_perishables_unless_configured(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    # A goods class of fish and fruit, perishable in the catalogue: refused by default.
    fresh = GoodsClassSettings(
        name="fish and fruit", name_zh="水产品和水果", hs_prefixes=("03", "08")
    )
    goods = (*config.remote_inspection.goods, fresh)
    perishable = scored["perishable"] == 1
    refused = SelectionPolicy(_remote(config, goods=goods), rate=0.10).decide(scored)
    assert not (refused["lane"].eq("red_remote") & perishable).any()
    allowed_config = _remote(config, goods=goods, perishable=True)
    allowed = SelectionPolicy(allowed_config, rate=0.10).decide(scored)
    fresh_remote = allowed["lane"].eq("red_remote") & perishable
    assert fresh_remote.sum() > 0
    np.testing.assert_array_equal(
        allowed["lane"].eq("red_remote").to_numpy(),
        allowed["selected"].eq(1).to_numpy()
        & refused["lane"].isin(["red", "red_remote"]).to_numpy()
        & _video_eligible(scored, allowed_config),
    )
    # The green channel's 4 hours stay the deadline: the shorter of the two.
    assert (allowed.loc[fresh_remote, "inspection_deadline_hours"] == 4).all()
    assert (allowed.loc[fresh_remote, "priority_lane"] == 1).all()


def test_remote_inspection_never_with_a_weight_signal(config: SelectionSettings) -> None:
    ratios = [1.0, 1.49, 1 / 1.49, 1.51, 0.66, np.nan, 2.0]
    frame = scored_frame(
        [{"credit_tier": "advanced", "declared_value": 300_000.0, "weight_per_unit_ratio": r}
         for r in ratios]
    )  # fmt: skip
    lanes = SelectionPolicy(config, rate=1.0, exploration_share=0.0).decide(frame)["lane"]
    assert lanes.tolist() == ["red_remote"] * 3 + ["red"] * 4


def test_remote_inspection_needs_tier_goods_and_no_officer_rule(
    config: SelectionSettings,
) -> None:
    base = {"credit_tier": "advanced", "declared_value": 300_000.0}
    frame = scored_frame(
        [
            base,  # 8471: machinery, advanced
            {**base, "credit_tier": "certified", "hs_code": "8703230000"},  # vehicles
            {**base, "credit_tier": "dishonest"},  # always on the spot
            {**base, "hs_code": "3304990000"},  # cosmetics: not a video class
            {**base, "declared_value": 10_000.0},  # document review stays yellow
            {**base, "hs_code": "8517620000", "importer_id": "I9"},  # the officer rule's red
        ]
    )
    rule = RuleSettings(name="R-I9", importer_id="I9", lane="red", source="test")
    ruled = config.model_copy(update={"rules": (rule,)})
    decisions = SelectionPolicy(ruled, rate=1.0, exploration_share=0.0).decide(frame)
    assert decisions["lane"].tolist() == ["red_remote", "red_remote", "red", "red", "yellow", "red"]
    disabled = SelectionPolicy(_remote(ruled, enabled=False), rate=1.0, exploration_share=0.0)
    assert disabled.decide(frame)["lane"].tolist()[:2] == ["red", "red"]


def test_remote_inspection_reason_in_english_and_chinese(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    decisions = SelectionPolicy(config, rate=0.10).decide(scored)
    remote = decisions["lane"] == "red_remote"
    assert remote.sum() > 0
    en, zh = decisions["policy_note_en"], decisions["policy_note_zh"]
    assert en[remote].str.contains("remote video inspection").all()
    assert (
        en[remote]
        .str.contains("inspect by video within 8 h (Haikou Customs 2024 measure 8)", regex=False)
        .all()
    )
    assert zh[remote].str.contains("远程视频查验：").all()
    assert (
        zh[remote].str.contains("8小时内完成视频查验（海口海关2024年措施第8条）", regex=False).all()
    )
    assert zh[remote & scored["credit_tier"].eq("advanced")].str.contains("高级认证企业").all()
    assert not en[~remote].str.contains("remote video").any()
    assert not zh[~remote].str.contains("远程视频").any()


# -- measure 14: conditional release ---------------------------------------------------


def test_conditional_early_release_only_for_its_classes_and_lanes(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    decisions = SelectionPolicy(config, rate=0.10).decide(scored)
    early = config.release.early
    condition = decisions["release_condition"]
    assert set(condition) <= {"conditional_early_release", "conditional_release", ""}
    failed = (scored["lab_report_present"] == 1) & (scored["lab_result_pass"] == 0)
    assert failed.sum() > 0
    qualifies = (
        decisions["lane"].isin(early.lanes).to_numpy()
        & _prefixed(scored["hs_code"], early.hs_prefixes)
        & ~failed.to_numpy()
    )
    # The generated data has no duty-free goods: every condition is an early release.
    assert qualifies.sum() > 10
    np.testing.assert_array_equal(condition.eq("conditional_early_release").to_numpy(), qualifies)
    assert condition[~qualifies].eq("").all()
    # Sampling goods outside the classes (toys need a licence) wait for the result.
    toys = decisions["lane"].eq("red_sampling") & scored["hs_code"].str.startswith("9503")
    assert toys.sum() > 0 and condition[toys].eq("").all()
    # The lane, the deadlines and the selection are those without the measure.
    plain = SelectionPolicy(_release_off(config), rate=0.10).decide(scored)
    assert plain["release_condition"].eq("").all()
    for column in ("selected", "lane", "selection_reason", "sampling_deadline_days"):
        pd.testing.assert_series_equal(decisions[column], plain[column])
    en, zh = decisions["policy_note_en"], decisions["policy_note_zh"]
    released = condition == "conditional_early_release"
    assert en[released].str.contains("conditional early release").all()
    assert zh[released].str.contains("附条件先行提离：已排除禁止入境及许可证件风险").all()
    assert not en[~released].str.contains("conditional").any()
    assert not zh[~released].str.contains("附条件").any()


def test_no_release_condition_with_a_rule_hit_or_a_failed_report(
    config: SelectionSettings,
) -> None:
    garments = lab_report(0, 1, 30, hs="6109100000")  # unaccredited: sampling
    frame = scored_frame(
        [
            garments,
            {**lab_report(1, 0, 30, hs="6109100000")},  # failed report
            {**garments, "importer_id": "I9"},  # the officer rule's sampling lane
            {**garments, "hs_code": "9503000000"},  # toys: not in the class
            {"hs_code": "3304990000", "trade_mode": "1741", "declared_value": 300_000.0},
            {"hs_code": "3304990000", "trade_mode": "0110", "declared_value": 300_000.0},
            {"hs_code": "3304990000", "trade_mode": "1741"},  # document review: no check
        ]
    )
    rule = RuleSettings(name="R-I9", importer_id="I9", lane="red_sampling", source="test")
    ruled = config.model_copy(update={"rules": (rule,)})
    decisions = SelectionPolicy(ruled, rate=1.0, exploration_share=0.0).decide(frame)
    assert decisions["lane"].tolist() == ["red_sampling"] * 4 + ["red", "red", "yellow"]
    assert decisions["release_condition"].tolist() == [
        "conditional_early_release",
        "",
        "",
        "",
        "conditional_release",
        "",
        "",
    ]
    assert "附条件放行：离岛免税食品、化妆品" in decisions.loc[4, "policy_note_zh"]
    assert "offshore duty-free" in decisions.loc[4, "policy_note_en"]


# -- generated offshore duty-free data: batch and real time ----------------------------


@pytest.fixture(scope="module")
def bundle(trained_model_dir: Path) -> Bundle:
    return load_bundle(trained_model_dir)


@pytest.fixture(scope="module")
def duty_free_declarations() -> pd.DataFrame:
    """A small world with offshore duty-free operators, lab reports inline, no labels."""
    data = generate_synthetic(rows=3000, seed=23, duty_free_share=0.6)
    later = data.declarations.drop(columns=["inspected", "illicit", "revenue"])
    reports = data.lab_results.drop_duplicates("declaration_id", keep="last")
    return later.merge(reports, on="declaration_id", how="left").reset_index(drop=True)


@pytest.fixture(scope="module")
def busy_policy(
    bundle: Bundle, duty_free_declarations: pd.DataFrame, config: SelectionSettings
) -> RealTimePolicy:
    """A real-time policy fitted at 30% on the data, so that every lane and condition occurs."""
    batch = score_declarations(
        bundle, duty_free_declarations, Registers(), rate=0.3, explain_rows=False
    )
    fitter = SelectionPolicy(config, rate=0.3)
    state = fitter.fit_thresholds(
        batch.decisions["priority"], credit_tier=batch.decisions["credit_tier"]
    )
    return RealTimePolicy(config, rate=0.3, thresholds=state)


def test_generated_duty_free_goods_get_conditional_release(
    bundle: Bundle, duty_free_declarations: pd.DataFrame, config: SelectionSettings
) -> None:
    d = duty_free_declarations
    assert d["trade_mode"].eq("1741").sum() > 30
    scored = score_declarations(bundle, d, Registers(), rate=0.3, explain_rows=False)
    decisions = scored.decisions
    duty_free = config.release.duty_free
    condition = decisions["release_condition"]
    released = condition.eq("conditional_release").to_numpy()
    assert released.sum() > 5
    assert d.loc[released, "trade_mode"].eq("1741").all()
    assert _prefixed(d.loc[released, "hs_code"], duty_free.hs_prefixes).all()
    assert decisions.loc[released, "lane"].isin(duty_free.lanes).all()
    # Every selected duty-free row with a check and no failed report has it.
    checked = (
        decisions["lane"].isin(duty_free.lanes).to_numpy()
        & d["trade_mode"].eq("1741").to_numpy()
        & _prefixed(d["hs_code"], duty_free.hs_prefixes)
    )
    failed = d["lab_result"].eq("fail").to_numpy()
    np.testing.assert_array_equal(released, checked & ~failed)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_batch_and_real_time_paths_decide_the_measures_alike(
    bundle: Bundle, busy_policy: RealTimePolicy, duty_free_declarations: pd.DataFrame, lang: str
) -> None:
    d = duty_free_declarations
    expected = score_declarations(
        bundle, d, Registers(), rate=0.3, policy=busy_policy, lang=lang
    ).decisions
    online = compile_online(bundle.pipeline, registers_for(bundle, Registers()))
    got = score_online(bundle, online, columns_from_frame(d), policy=busy_policy, lang=lang)
    got = got.decisions
    lanes = set(expected["lane"])
    assert {"red_remote", "red", "red_sampling", "yellow", "green"} <= lanes
    conditions = set(expected["release_condition"])
    assert {"conditional_early_release", "conditional_release", ""} <= conditions
    for column in (*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS):
        want, have = expected[column], got[column]
        if pd.api.types.is_numeric_dtype(want):
            np.testing.assert_array_equal(want.to_numpy(dtype="float64"), have, err_msg=column)
        else:
            assert list(have) == want.astype(object).tolist(), column
    remote = expected["lane"] == "red_remote"
    marker = "远程视频查验" if lang == "zh" else "remote video inspection"
    assert expected.loc[remote, "reasons"].str.contains(marker).all()
