"""Lab acceptance (采信), lanes, green channel and deadlines of the selection policy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.models.lanes import lab_acceptance
from portsift.models.policy import SelectionPolicy
from portsift.settings import RuleSettings, SelectionSettings
from tests.models.policy_cases import RATES, lab_report, scored_frame


def test_lab_acceptance_needs_an_accredited_pass_within_the_validity_window(
    config: SelectionSettings,
) -> None:
    frame = scored_frame(
        [
            lab_report(1, 1, 30),  # accepted
            lab_report(0, 1, 30),  # lab not accredited
            lab_report(1, 0, 30),  # fail
            lab_report(1, 1, 100, hs="2523290000"),  # cement: 90-day validity
            lab_report(1, 1, 80, hs="2523290000"),  # cement, within it
            lab_report(1, 1, 400),  # beyond the default year
            lab_report(1, 1, -3),  # dated after the declaration
            {"acceptance_listed": 1.0},  # catalogue goods without a report
            {**lab_report(1, 1, 30), "acceptance_listed": 0.0, "hs_code": "8471300000"},
        ]
    )
    policy = SelectionPolicy(config, rate=1.0, exploration_share=0.0)
    status = lab_acceptance(policy.settings, frame)["status"].tolist()
    assert status == [
        "accepted",
        "not_accredited",
        "failed",
        "out_of_validity",
        "accepted",
        "out_of_validity",
        "out_of_validity",
        "no_report",
        "not_listed",
    ]
    decisions = policy.decide(frame)
    assert decisions["selected"].all()
    lanes = decisions["lane"].tolist()
    assert [lanes[i] for i in (0, 4)] == ["yellow", "yellow"]  # accepted: never sampling
    assert all(lanes[i] == "red_sampling" for i in (1, 2, 3, 5, 6, 7))
    assert lanes[8] == "yellow"  # outside the catalogue, acceptance does not apply
    assert decisions["lab_accepted"].tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert decisions.loc[0, "policy_note_en"].count("accepted (采信)") == 1
    assert "采信第三方检验报告" in decisions.loc[0, "policy_note_zh"]
    assert "not in the acceptance directory" in decisions.loc[1, "policy_note_en"]
    assert "超过90天有效期" in decisions.loc[3, "policy_note_zh"]


def test_no_accepted_report_ends_in_red_sampling_but_a_non_accredited_one_can(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    # Send every catalogue good to sampling by rule: acceptance must still win.
    rules = tuple(
        RuleSettings(name=f"R-{p}", hs_prefix=p, lane="red_sampling")
        for p in ("2523", "61", "62", "6907", "9503")
    )
    policy = SelectionPolicy(config.model_copy(update={"rules": rules}), rate=0.10)
    decisions = policy.decide(scored)
    accepted = decisions["lab_accepted"] == 1
    listed = scored["acceptance_listed"] == 1
    assert (accepted & listed & (decisions["selected"] == 1)).sum() > 100
    assert not (accepted & (decisions["lane"] == "red_sampling")).any()
    assert (decisions.loc[accepted & listed, "lane"] == "red").all()  # the rule's lane, downgraded
    unaccredited_pass = listed & (scored["lab_accredited"] == 0) & (scored["lab_result_pass"] == 1)
    assert unaccredited_pass.sum() > 10
    assert (decisions.loc[unaccredited_pass, "lane"] == "red_sampling").all()
    # And under the plain policy too, on every budget.
    for rate in RATES:
        plain = SelectionPolicy(config, rate=rate).decide(scored)
        assert not ((plain["lab_accepted"] == 1) & (plain["lane"] == "red_sampling")).any()


def test_lanes_follow_the_documented_split(scored: pd.DataFrame, config: SelectionSettings) -> None:
    decisions = SelectionPolicy(config, rate=0.10).decide(scored)
    selected = decisions["selected"].to_numpy() == 1
    accepted = decisions["lab_accepted"].to_numpy() == 1
    listed = scored["acceptance_listed"].to_numpy() == 1
    ratio = scored["weight_per_unit_ratio"].to_numpy(dtype="float64")
    limit = config.lanes.physical_weight_ratio
    off = (ratio > limit) | (ratio < 1 / limit)
    physical = (
        (scored["perishable"].to_numpy() == 1)
        | off
        | (scored["declared_value"].to_numpy() >= config.lanes.red_min_value)
    )
    # Measure 8: a physical inspection of an eligible row is done by video.
    remote = config.remote_inspection
    prefixes = tuple(p for goods in remote.goods for p in goods.hs_prefixes)
    video = (
        scored["credit_tier"].isin(remote.credit_tiers).to_numpy()
        & scored["hs_code"].str.startswith(prefixes).to_numpy()
        & (scored["perishable"].to_numpy() != 1)
        & (ratio <= (remote.weight_ratio or limit))
        & (ratio >= 1 / (remote.weight_ratio or limit))
    )
    expected = np.where(
        ~selected,
        "green",
        np.where(
            listed & ~accepted,
            "red_sampling",
            np.where(physical, np.where(video, "red_remote", "red"), "yellow"),
        ),
    )
    assert (decisions["lane"].to_numpy() == expected).all()
    assert set(decisions.loc[selected, "lane"]) == {"yellow", "red", "red_sampling", "red_remote"}


def test_green_channel_and_sampling_deadlines(
    scored: pd.DataFrame, config: SelectionSettings
) -> None:
    decisions = SelectionPolicy(config, rate=0.10).decide(scored)
    selected = decisions["selected"] == 1
    perishable = scored["perishable"] == 1
    green = selected & perishable
    assert green.sum() > 10
    assert (decisions.loc[green, "priority_lane"] == 1).all()
    assert (decisions.loc[green, "inspection_deadline_hours"] == 4).all()
    assert (decisions.loc[green, "release_deadline_hours"] == 1).all()
    assert decisions.loc[green, "policy_note_zh"].str.contains("4小时内查验").all()
    remote = decisions["lane"] == "red_remote"
    assert remote.sum() > 0 and not (remote & green).any()
    assert (decisions.loc[remote, "inspection_deadline_hours"] == 8).all()
    assert decisions.loc[~green & ~remote, "inspection_deadline_hours"].isna().all()
    assert (decisions.loc[~green, "priority_lane"] == 0).all()
    sampling = decisions["lane"] == "red_sampling"
    assert (decisions.loc[sampling, "sampling_deadline_days"] == 2).all()
    assert decisions.loc[~sampling, "sampling_deadline_days"].isna().all()
    cement = sampling & scored["hs_code"].str.startswith("2523")
    assert cement.any() and (decisions.loc[cement, "lab_test_deadline_days"] == 3).all()
    garments = sampling & scored["hs_code"].str[:2].isin(["61", "62"])
    assert garments.any() and decisions.loc[garments, "lab_test_deadline_days"].isna().all()
    # The goods classes by HS prefix: grain and bulk 3 days, prepackaged food 1 day.
    frame = scored_frame(
        [
            {"hs_code": "1001990000", "acceptance_listed": 1.0},  # wheat
            {"hs_code": "2711110000", "acceptance_listed": 1.0},  # LNG
            {"hs_code": "1905310000", "acceptance_listed": 1.0},  # biscuits
            {"hs_code": "0303890000", "perishable": 1.0},  # frozen fish: green channel
        ]
    )
    small = SelectionPolicy(config, rate=1.0, exploration_share=0.0).decide(frame)
    assert small["lab_test_deadline_days"].tolist()[:3] == [3.0, 3.0, 1.0]
    assert small["lane"].tolist() == ["red_sampling"] * 3 + ["red"]
    assert small.loc[3, "priority_lane"] == 1 and small.loc[3, "inspection_deadline_hours"] == 4
