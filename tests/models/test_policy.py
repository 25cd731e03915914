"""The selection policy: budget, credit-tier rates, exploration, 采信, lanes, deadlines, rules.

The realistic tests score the time hold-out of the session's generated data once per
package with the session's bundle. Where the model's own ranking happens to satisfy a
rule already, a stressed ranking (low tiers made to look riskiest) shows first that the
unconstrained top-k breaks the rule and then that the policy does not.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from portsift.models.budget import budget_count, exploration_count, select_top
from portsift.models.policy import DECISION_COLUMNS, SelectionPolicy
from portsift.settings import RuleSettings, SelectionSettings, TierRuleSettings
from portsift.training.evaluate import policy_section
from tests.conftest import EvaluateRun
from tests.models.policy_cases import RATES, held_to_rows, scored_frame

CJK = r"[\u4e00-\u9fff]"


@pytest.fixture(scope="module")
def stressed(scored: pd.DataFrame) -> pd.DataFrame:
    """The same batch ranked as if advanced and certified firms were the riskiest."""
    factor = {"advanced": 3.0, "certified": 2.0, "regular": 1.0}
    multiplier = scored["credit_tier"].map(factor).fillna(0.05).to_numpy(dtype="float64")
    return scored.assign(priority=scored["priority"].to_numpy() * multiplier)


def _violations(selected: np.ndarray, frame: pd.DataFrame, config: SelectionSettings) -> list[str]:
    """Credit rules the realised rates break (computed here, independently of the policy)."""
    held = held_to_rows(frame, config).assign(selected=np.asarray(selected, dtype="float64"))
    broken = []
    for name, rows in held.groupby("rule_set"):
        rule_set = config.credit.rule_set(str(name))
        rates = rows.groupby("tier")["selected"].mean()
        reference = rates.get(rule_set.reference_tier, math.nan)
        for tier, rule in rule_set.tiers.items():
            if tier not in rates.index:
                continue
            rate = rates[tier]
            if rule.below is not None and not rate < rule.below * reference:
                broken.append(f"{tier} {rate:.4f} not < {rule.below} x {reference:.4f}")
            if rule.at_least is not None and not rate >= rule.at_least * reference:
                broken.append(f"{tier} {rate:.4f} not >= {rule.at_least} x {reference:.4f}")
            if rule.at_least_rate is not None and not rate >= rule.at_least_rate - 1e-12:
                broken.append(f"{tier} {rate:.4f} not >= {rule.at_least_rate} absolute")
    return broken


def _floor_need(frame: pd.DataFrame, config: SelectionSettings) -> int:
    """Selections the absolute floors need, counted here from the rows."""
    held = held_to_rows(frame, config)
    need = 0
    for (name, tier), rows in held.groupby(["rule_set", "tier"]):
        rule = config.credit.rule_set(str(name)).tiers.get(str(tier))
        if rule is not None and rule.at_least_rate is not None:
            need += math.ceil(rule.at_least_rate * len(rows) - 1e-9)
    return need


# -- budget, credit tiers, exploration -----------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_realised_tier_rates_meet_the_rules_and_the_budget_is_exact(
    scored: pd.DataFrame, config: SelectionSettings, rate: float
) -> None:
    policy = SelectionPolicy(config, rate=rate)
    decisions = policy.decide(scored)
    k = budget_count(len(scored), rate)
    # The budget, unless the mandatory floors alone need more: then exactly what they need.
    expected = max(k, _floor_need(scored, config))
    assert decisions["selected"].sum() == expected
    assert policy.batch_.floor_excess == expected - k
    assert _violations(decisions["selected"], scored, config) == []
    assert policy.batch_.constraints_met
    assert policy.summarise(decisions, scored["credit_tier"]).constraints_met


@pytest.mark.parametrize("rate", RATES)
def test_tier_rules_hold_where_the_ranking_alone_would_break_them(
    stressed: pd.DataFrame, config: SelectionSettings, rate: float
) -> None:
    unconstrained = select_top(stressed["priority"].to_numpy(), rate)
    broken = _violations(unconstrained, stressed, config)
    assert any(b.startswith("advanced") for b in broken)
    assert any(b.startswith("dishonest") for b in broken)
    decisions = SelectionPolicy(config, rate=rate).decide(stressed)
    expected = max(budget_count(len(stressed), rate), _floor_need(stressed, config))
    assert decisions["selected"].sum() == expected
    assert _violations(decisions["selected"], stressed, config) == []
    # The floor is topped up with tier_floor selections, and the rest still goes by
    # priority: the regular tier's selections are its highest-priority rows.
    reasons = decisions["selection_reason"]
    floor = reasons == "tier_floor"
    assert floor.any() and stressed.loc[floor, "credit_tier"].isin(["dishonest"]).any()
    # Within the reference group (certified firms are regular ones under Order 251).
    held = held_to_rows(stressed, config)["tier"]
    regular = (held == "regular") & (reasons == "risk")
    unselected_regular = (held == "regular") & (decisions["selected"] == 0)
    if not regular.any():
        # At 2% the dishonest floor takes nearly the whole budget: what is left is drawn.
        left = budget_count(len(stressed), rate) - _floor_need(stressed, config)
        assert (reasons == "random").sum() >= left
        return
    assert (
        stressed.loc[regular, "priority"].min()
        >= stressed.loc[unselected_regular, "priority"].max()
    )


def test_dishonest_floors_are_absolute_and_beat_the_budget(config: SelectionSettings) -> None:
    """80% of the dishonest firms' own declarations, not 80% of the regular tier's rate.

    Mutation tried: reading ``at_least_rate`` as a multiple of the reference rate (the old
    meaning) selects 1 of the 10 dishonest rows here and fails every assertion below.
    """
    day = pd.Timestamp("2026-06-01")  # Order 282
    rows = [{"credit_tier": "regular", "priority": 0.5 + i / 1000} for i in range(100)]
    rows += [{"credit_tier": "dishonest", "priority": 0.01} for _ in range(10)]
    frame = scored_frame(rows).assign(declared_at=day)
    roomy = SelectionPolicy(config, rate=0.20, exploration_share=0.0)
    decisions = roomy.decide(frame)
    dishonest = (frame["credit_tier"] == "dishonest").to_numpy()
    assert decisions["selected"].sum() == budget_count(len(frame), 0.20) == 22
    assert decisions.loc[dishonest, "selected"].sum() == 8  # ceil(0.8 x 10)
    assert (
        decisions.loc[dishonest & (decisions["selected"] == 1).to_numpy(), "selection_reason"]
        == "tier_floor"
    ).all()
    assert roomy.batch_.floor_excess == 0
    # At 5% the budget is 6, the floor alone needs 8: 8 are selected and the run says so.
    tight = SelectionPolicy(config, rate=0.05, exploration_share=0.10)
    decisions = tight.decide(frame)
    assert decisions["selected"].sum() == 8
    assert decisions.loc[dishonest, "selected"].sum() == 8
    facts = tight.batch_
    assert (facts.budget, facts.floor_excess, facts.selected) == (6, 2, 8)
    assert "dishonest: 80% of 10 = 8" in facts.floor_message()
    assert "beyond the budget of 6" in facts.floor_message()
    assert tight.summarise(decisions, frame["credit_tier"]).constraints_met
    floor = decisions["selection_reason"] == "tier_floor"
    assert floor.sum() == 8
    note = "average inspection rate at least 80% (GACC Order 282 (2026))"
    assert decisions.loc[floor, "policy_note_en"].str.contains(note, regex=False).all()
    assert decisions.loc[floor, "policy_note_zh"].str.contains("平均查验率不低于80%").all()


def test_the_rule_set_follows_the_declaration_date(config: SelectionSettings) -> None:
    """Order 251 before 2026-04-01, Order 282 from it; each set on its own rows."""
    rows = []
    for day in ("2026-03-15", "2026-04-15"):
        rows += [
            {"credit_tier": "regular", "priority": 0.9 - i / 1000, "declared_at": day}
            for i in range(80)
        ]
        rows += [
            {"credit_tier": "certified", "priority": 0.95, "declared_at": day} for _ in range(10)
        ]
        rows += [
            {"credit_tier": "seriously_dishonest", "priority": 0.0, "declared_at": day}
            for _ in range(10)
        ]
    frame = scored_frame(rows)
    frame["declared_at"] = pd.to_datetime(frame["declared_at"])
    policy = SelectionPolicy(config, rate=0.30, exploration_share=0.0)
    decisions = policy.decide(frame)
    before = (frame["declared_at"] < "2026-04-01").to_numpy()
    version = policy.version
    assert (decisions.loc[before, "policy_version"] == f"{version}/gacc-order-251").all()
    assert (decisions.loc[~before, "policy_version"] == f"{version}/gacc-order-282").all()
    assert policy.batch_.rule_sets == {"gacc-order-251": 100, "gacc-order-282": 100}
    certified = (frame["credit_tier"] == "certified").to_numpy()
    # Order 251 knows no certified tier: held to the regular rule, ranked freely (all 10
    # outrank every regular row). Order 282 caps them below 50% of regular's rate.
    assert decisions.loc[before & certified, "selected"].sum() == 10
    regular_rate = decisions.loc[
        ~before & (frame["credit_tier"] == "regular").to_numpy(), "selected"
    ].mean()
    assert decisions.loc[~before & certified, "selected"].mean() < 0.5 * regular_rate
    # Seriously dishonest firms are held to the dishonest floor before 2026-04-01.
    serious = (frame["credit_tier"] == "seriously_dishonest").to_numpy()
    assert decisions.loc[before & serious, "selected"].sum() == 8
    assert decisions.loc[~before & serious, "selected"].sum() == 8
    chosen = (decisions["selected"] == 1).to_numpy()
    notes = decisions.loc[before & serious & chosen, "policy_note_en"]
    assert notes.str.contains("seriously_dishonest enterprises are held to this rule").all()
    assert (
        decisions.loc[~before & serious & chosen, "policy_note_en"]
        .str.contains("GACC Order 282")
        .all()
    )
    assert _violations(decisions["selected"], frame, config) == []
    summary = policy.summarise(decisions, frame["credit_tier"])
    assert set(summary.tiers["rule_set"]) == {"gacc-order-251", "gacc-order-282"}
    assert summary.constraints_met


@pytest.mark.parametrize("share", [0.10, 0.25])
def test_the_random_share_is_as_configured_and_not_the_top_of_the_ranking(
    scored: pd.DataFrame, config: SelectionSettings, share: float
) -> None:
    policy = SelectionPolicy(config, rate=0.05, exploration_share=share)
    decisions = policy.decide(scored)
    k = budget_count(len(scored), 0.05)
    random = decisions["selection_reason"] == "random"
    assert random.sum() == exploration_count(k, share) == round(share * k)
    assert decisions["selected"].sum() == k
    # Drawn across the whole ranking, not from its top: the mean percentile of the drawn
    # rows' priority is near one half (the top-k would sit near 1).
    percentile = scored["priority"].rank(pct=True)
    assert 0.3 < percentile[random].mean() < 0.7
    # An equal-probability sample: every tier gets within one of its proportional count.
    tiers = scored["credit_tier"]
    expected = tiers.value_counts() * random.sum() / len(scored)
    drawn = tiers[random].value_counts().reindex(expected.index, fill_value=0)
    # (Draws a capped tier has no room for move to other tiers, and the batch says so.)
    moved = policy.batch_.exploration_moved + policy.batch_.exploration_dropped
    assert (np.abs(drawn - expected) <= 1 + moved + 1e-9).all()
    assert np.abs(drawn - expected).sum() <= len(expected) + 2 * moved


def test_decisions_are_reproducible_with_a_seed_and_do_not_depend_on_row_order(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    first = SelectionPolicy(config, rate=0.05, random_state=3).decide(scored)
    again = SelectionPolicy(config, rate=0.05, random_state=3).decide(scored)
    pd.testing.assert_frame_equal(first, again)
    other = SelectionPolicy(config, rate=0.05, random_state=4).decide(scored)
    drawn = set(scored["declaration_id"][first["selection_reason"] == "random"])
    assert drawn != set(scored["declaration_id"][other["selection_reason"] == "random"])
    assert other["selected"].sum() == first["selected"].sum()
    shuffled = scored.sample(frac=1.0, random_state=0)
    reordered = SelectionPolicy(config, rate=0.05, random_state=3).decide(shuffled)
    by_id = reordered.set_index(shuffled["declaration_id"].to_numpy())["selection_reason"]
    expected = first.set_index(scored["declaration_id"].to_numpy())["selection_reason"]
    pd.testing.assert_series_equal(by_id.loc[expected.index], expected)


# -- rules -------------------------------------------------------------------------


def test_officer_rules_fire_count_in_the_budget_and_set_their_lane(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    pair = (scored["hs_code"].str[:4] + "|" + scored["origin_country"]).value_counts()
    hs4, origin = pair[(pair >= 10) & (pair <= 40)].index[0].split("|")
    rule = RuleSettings(name="R-TEST", hs_prefix=hs4, origin_country=origin, lane="yellow")
    policy = SelectionPolicy(config.model_copy(update={"rules": (rule,)}), rate=0.05)
    decisions = policy.decide(scored)
    hit = (scored["hs_code"].str.startswith(hs4) & (scored["origin_country"] == origin)).to_numpy()
    k = budget_count(len(scored), 0.05)
    assert (decisions.loc[hit, "selection_reason"] == "rule").all()
    assert (decisions.loc[hit, "lane"] == "yellow").all()
    assert (decisions["selection_reason"] == "rule").sum() == hit.sum() == policy.batch_.rule_hits
    assert decisions["selected"].sum() == k  # the rule hits are part of k, not on top
    assert decisions.loc[hit, "policy_note_en"].str.contains("R-TEST").all()
    assert decisions.loc[hit, "policy_note_zh"].str.contains("布控规则R-TEST").all()


def test_rules_beyond_the_budget_are_all_selected_and_reported(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    rule = RuleSettings(name="R-84", hs_prefix="84", lane="red")
    policy = SelectionPolicy(config.model_copy(update={"rules": (rule,)}), rate=0.02)
    decisions = policy.decide(scored)
    hits = int(scored["hs_code"].str.startswith("84").sum())
    assert hits > budget_count(len(scored), 0.02)
    # Every rule hit, plus what the dishonest floor needs beyond the hits in its tier.
    floor_rows = held_to_rows(scored, config)["tier"] == "dishonest"
    rule_rows = scored["hs_code"].str.startswith("84")
    floor_more = max(0, _floor_need(scored, config) - int((floor_rows & rule_rows).sum()))
    assert decisions.loc[rule_rows, "selected"].all()
    assert decisions["selected"].sum() == hits + floor_more == policy.batch_.selected
    assert policy.batch_.selected > policy.batch_.budget


def test_settings_reject_rules_and_tiers_that_make_no_sense(config: SelectionSettings) -> None:
    with pytest.raises(ValidationError, match="no condition"):
        RuleSettings(name="R-ALL", lane="red")
    with pytest.raises(ValidationError, match="not both"):
        TierRuleSettings(at_least=0.5, at_least_rate=0.8)
    data = config.model_dump()
    data["credit"]["rule_sets"][0]["tiers"]["regular"]["below"] = 0.5
    with pytest.raises(ValidationError, match="reference tier"):
        SelectionSettings.model_validate(data)
    data = config.model_dump()
    data["credit"]["rule_sets"] = list(reversed(data["credit"]["rule_sets"]))
    with pytest.raises(ValidationError, match="increasing valid_from"):
        SelectionSettings.model_validate(data)
    data = config.model_dump()
    data["credit"]["rule_sets"][1]["fallback"]["certified"] = "gold"
    with pytest.raises(ValidationError, match="fallback to tiers it does not list"):
        SelectionSettings.model_validate(data)


# -- notes ------------------------------------------------------------------------


def test_every_selection_carries_a_policy_note_in_both_languages(
    stressed: pd.DataFrame, config: SelectionSettings
) -> None:
    decisions = SelectionPolicy(config, rate=0.05).decide(stressed)
    assert list(decisions.columns) == list(DECISION_COLUMNS)
    chosen = decisions[decisions["selected"] == 1]
    assert (chosen["policy_note_en"].str.len() > 20).all()
    assert chosen["policy_note_zh"].str.contains(CJK).all()
    by_reason = chosen.groupby("selection_reason")
    notes = {reason: group["policy_note_en"].iloc[0] for reason, group in by_reason}
    assert "random exploration draw" in notes["random"]
    assert "average inspection rate at least 80%" in notes["tier_floor"]
    assert "selected by risk ranking" in notes["risk"]
    zh = {reason: group["policy_note_zh"].iloc[0] for reason, group in by_reason}
    assert "随机抽查" in zh["random"] and "失信企业" in zh["tier_floor"]
    advanced = chosen[stressed.loc[chosen.index, "credit_tier"] == "advanced"]
    assert advanced["policy_note_en"].str.contains("kept below 20%").all()
    assert (decisions.loc[decisions["selected"] == 0, "selection_reason"] == "").all()
    assert set(decisions["policy_version"]) == {f"{SelectionPolicy(config).version}/gacc-order-251"}


def test_degenerate_batches(config: SelectionSettings) -> None:
    empty = SelectionPolicy(config).decide(scored_frame([{}]).iloc[:0])
    assert len(empty) == 0
    everything = SelectionPolicy(config, rate=1.0).decide(
        scored_frame([{"credit_tier": t} for t in ("advanced", "regular", "dishonest")])
    )
    assert everything["selected"].tolist() == [1, 1, 1]  # inspect all means all


# -- evaluation --------------------------------------------------------------------


def test_policy_section_of_the_evaluation(scored: pd.DataFrame, config: SelectionSettings) -> None:
    labelled = ((scored["inspected"] == 1) & scored["illicit"].notna()).to_numpy()
    policy = SelectionPolicy(config, rate=0.10)
    section = policy_section(
        scored, scored["risk_score"], scored["priority"], policy, labelled=labelled
    )
    batch, replay = section["batch"], section["labelled"]
    assert batch["selected"] == budget_count(len(scored), 0.10) and batch["constraints_met"]
    assert batch["random_share"] == pytest.approx(0.1, abs=0.01)
    parts = replay["parts"]
    assert parts["risk"]["selected"] + parts["random"]["selected"] == parts["all"]["selected"]
    assert parts["risk"]["hits"] + parts["random"]["hits"] == parts["all"]["hits"]
    # The draw gives way to the floors only as far as they need (on the inspected rows the
    # dishonest floor is large: those firms were inspected often).
    k = budget_count(int(labelled.sum()), 0.10)
    floor_need = _floor_need(scored.loc[labelled], config)
    assert parts["all"]["selected"] == max(k, floor_need)
    assert parts["random"]["selected"] <= exploration_count(k, 0.10)
    if floor_need + exploration_count(k, 0.10) <= k:
        assert parts["random"]["selected"] == exploration_count(k, 0.10)
    low, high = replay["random_violation_rate_ci95"]
    assert low <= replay["random_violation_rate"] <= high
    # The comparison at the same budget, checked against an independent top-k.
    rows = scored.loc[labelled]
    y = rows["illicit"].to_numpy(dtype="float64")
    top = np.argsort(-rows["risk_score"].to_numpy(), kind="stable")[:k]
    by_name = {e["selection"]: e for e in section["comparison"]["selections"]}
    assert section["comparison"]["budget"] == k
    assert by_name["risk_only"]["hits"] == int(y[top].sum())
    assert by_name["policy"]["selected"] == parts["all"]["selected"]
    assert by_name["policy"]["hits"] == parts["all"]["hits"]
    json.dumps(section)


def test_portsift_evaluate_prints_the_policy_section(evaluate_run: EvaluateRun) -> None:
    assert evaluate_run.status == 0
    printed = evaluate_run.printed
    assert "selection policy policy-" in printed
    assert "violation rate from the random part alone" in printed
    section = evaluate_run.evaluation["policy"]
    assert {t["credit_tier"] for t in section["batch"]["tiers"]} >= {"advanced", "regular"}
    assert all(t["met"] for t in section["batch"]["tiers"])
