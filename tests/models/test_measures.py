"""Measures 22 (voluntary disclosure) and 12 (advance rulings) in the selection policy."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.features import disclosure as disclosure_features
from portsift.features import ruling as ruling_features
from portsift.features.pipeline import Registers
from portsift.models.budget import budget_count
from portsift.models.bundle import Bundle, load_bundle
from portsift.models.policy import DECISION_COLUMNS, MEASURE_COLUMNS, SelectionPolicy
from portsift.models.scoring import score_declarations
from portsift.settings import SelectionSettings, load_settings
from portsift.synthetic.generator import SyntheticData
from portsift.training.evaluate import evaluate
from portsift.training.train import split_by_time
from tests.models.policy_cases import RATES, held_to_rows, scored_frame

CJK = re.compile(r"[\u4e00-\u9fff]")
DAY = pd.Timestamp("2026-05-04")


def _with_disclosures(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A hand-made scored frame carrying the disclosure candidates (none by default)."""
    base: dict[str, object] = {
        "declared_at": DAY,
        "named_disclosure_id": None,
        "named_disclosed_at": pd.NaT,
        "named_disclosure_minor": np.nan,
        "enterprise_disclosure_id": None,
        "enterprise_disclosed_at": pd.NaT,
        "enterprise_disclosure_minor": np.nan,
    }
    return scored_frame([{**base, **row} for row in rows])


def _named(days: int, minor: float = 1.0, ident: str = "DS1") -> dict[str, object]:
    return {
        "named_disclosure_id": ident,
        "named_disclosed_at": DAY + pd.Timedelta(days=days),
        "named_disclosure_minor": minor,
    }


def _with_disclosure_settings(config: SelectionSettings, **changes: object) -> SelectionSettings:
    return config.model_copy(update={"disclosure": config.disclosure.model_copy(update=changes)})


# -- measure 22: which disclosure covers ----------------------------------------------


def test_a_covered_declaration_goes_to_document_review_outside_the_budget(
    config: SelectionSettings,
) -> None:
    # The covered row has the highest priority: without the measure it is risk-selected.
    rows = [{**_named(0), "priority": 0.99, "risk_score": 0.99}]
    rows += [{"priority": 0.5 - i / 100} for i in range(19)]
    frame = _with_disclosures(rows)
    policy = SelectionPolicy(config, rate=0.10, exploration_share=0.0)
    decisions = policy.decide(frame)
    first = decisions.iloc[0]
    assert (first["selected"], first["lane"], first["selection_reason"]) == (
        1,
        "yellow",
        "disclosure",
    )
    assert first["disclosure_id"] == "DS1"
    # The budget of round(rate x N) = 2 goes to the next two by priority, none to it.
    assert decisions["selection_reason"].tolist()[1:3] == ["risk", "risk"]
    assert (decisions["selected"].sum(), policy.batch_.selected, policy.batch_.disclosed) == (
        3,
        2,
        1,
    )
    assert policy.batch_.budget == budget_count(20, 0.10)
    note_en, note_zh = first["policy_note_en"], first["policy_note_zh"]
    assert note_en.startswith(
        "voluntary disclosure DS1 on 2026-05-04, minor: in principle no penalty"
    )
    assert "Haikou Customs 2024 measure 22" in note_en and "risk ranking" not in note_en
    assert note_zh.startswith("企业于2026-05-04主动披露（DS1），情节轻微：原则上不予行政处罚")
    assert "海口海关2024年措施第22条" in note_zh
    # Without the candidates (no register) nothing of the measure shows.
    plain = SelectionPolicy(config, rate=0.10, exploration_share=0.0).decide(
        frame.drop(columns=list(disclosure_features.CONTEXT_COLUMNS))
    )
    assert list(plain.columns) == list(DECISION_COLUMNS)
    assert plain["selection_reason"].tolist()[:2] == ["risk", "risk"]


def test_which_disclosures_cover(config: SelectionSettings) -> None:
    general = {
        "enterprise_disclosure_id": "DS9",
        "enterprise_disclosed_at": DAY + pd.Timedelta(days=2),
        "enterprise_disclosure_minor": 1.0,
    }
    frame = _with_disclosures(
        [
            _named(-10),  # before the declaration's day: covers
            _named(0),  # on its day: covers
            _named(1),  # after the decision: history only
            _named(0, minor=0.0),  # not minor: covers (cover_not_minor)
            general,  # names no declaration: out of scope by default
            {},
        ]
    )
    policy = SelectionPolicy(config, rate=1.0, exploration_share=0.0)
    reasons = policy.decide(frame)["selection_reason"].tolist()
    assert reasons == ["disclosure", "disclosure", "risk", "disclosure", "risk", "risk"]
    notes = policy.decide(frame)["policy_note_en"].tolist()
    assert "not minor: the penalty may be lightened" in notes[3]
    strict = _with_disclosure_settings(
        config,
        cover_not_minor=False,
        decision_days=1,
        enterprise_scope=True,
        enterprise_scope_days=2,
    )
    reasons = SelectionPolicy(strict, rate=1.0, exploration_share=0.0).decide(frame)
    # A day's delay of the decision reaches the disclosure of the next day; the general
    # one lodged two days on is within the scope but after the decision.
    assert reasons["selection_reason"].tolist() == [
        "disclosure",
        "disclosure",
        "disclosure",
        "risk",
        "risk",
        "risk",
    ]
    later = _with_disclosure_settings(strict, decision_days=3)
    decided = SelectionPolicy(later, rate=1.0, exploration_share=0.0).decide(frame)
    assert decided["selection_reason"].tolist()[4] == "disclosure"
    assert decided["disclosure_id"].tolist()[4] == "DS9"


def test_an_officer_rule_outranks_the_disclosure(config: SelectionSettings) -> None:
    from portsift.settings import RuleSettings

    rule = RuleSettings(name="R-8471", lane="red", hs_prefix="8471", source="test")
    ruled = config.model_copy(update={"rules": (rule,)})
    decisions = SelectionPolicy(ruled, rate=0.5).decide(_with_disclosures([_named(0), {}]))
    first = decisions.iloc[0]
    assert (first["selection_reason"], first["lane"], first["disclosure_id"]) == (
        "rule",
        "red",
        "DS1",
    )
    assert "the officer rule still applies" in first["policy_note_en"]
    assert "布控规则仍然适用" in first["policy_note_zh"]


def test_real_time_decides_a_covered_declaration_the_same_way(config: SelectionSettings) -> None:
    policy = SelectionPolicy(config, rate=0.5, exploration_share=0.0)
    recent = np.linspace(0, 1, 200)
    policy.fit_thresholds(recent, credit_tier=np.full(200, "regular"))
    frame = _with_disclosures([{**_named(0), "priority": 0.99}, {"priority": 0.99}])
    online = policy.decide_online(frame)
    assert online["selection_reason"].tolist() == ["disclosure", "risk"]
    assert online["lane"].tolist()[0] == "yellow"
    assert online["disclosure_id"].tolist() == ["DS1", ""]


def test_policy_version_keeps_the_packaged_measures_out_of_its_digest(
    config: SelectionSettings,
) -> None:
    packaged = SelectionPolicy(config).version
    # Measures 22 and 12 leave it the version of decisions before they existed; measures
    # 8 and 14 change the packaged decisions, so they count (docs/policy.md).
    assert packaged == "policy-c23b7cbeb034"
    changes = {}
    for section in ("remote_inspection", "release"):
        changes[section] = getattr(config, section).model_copy(update={"enabled": False})
        one_off = SelectionPolicy(config.model_copy(update={section: changes[section]}))
        assert one_off.version != packaged
    # Both disabled: the decisions and the version of before measures 8 and 14.
    before = SelectionPolicy(config.model_copy(update=changes)).version
    assert before == "policy-9fedb50de9df"
    changed = _with_disclosure_settings(config, decision_days=2)
    assert SelectionPolicy(changed).version != packaged
    rulings = config.model_copy(
        update={"rulings": config.rulings.model_copy(update={"expiry_warning_days": (10, 60)})}
    )
    assert SelectionPolicy(rulings).version not in (packaged, SelectionPolicy(changed).version)


# -- measure 22 on generated data ------------------------------------------------------


@pytest.fixture(scope="module")
def holdout(synthetic: SyntheticData) -> pd.DataFrame:
    ordered = synthetic.declarations.sort_values("declared_at", kind="stable")
    return split_by_time(ordered, load_settings().training.holdout_fraction)[1]


@pytest.fixture(scope="module")
def bundle(trained_model_dir: Path) -> Bundle:
    return load_bundle(trained_model_dir)


@pytest.fixture(scope="module")
def disclosed_registers(
    synthetic: SyntheticData, registers: Registers, holdout: pd.DataFrame, bundle: Bundle
) -> Registers:
    """The generated disclosures, and one more on the day of each of the 60 riskiest
    hold-out declarations (so that the measure meets the top of the ranking)."""
    plain = score_declarations(bundle, holdout, registers, rate=0.05, explain_rows=False)
    top = plain.decisions.nlargest(60, "priority")["declaration_id"]
    chosen = holdout[holdout["declaration_id"].isin(top)]
    added = pd.DataFrame(
        {
            "disclosure_id": [f"T{i:03d}" for i in range(len(chosen))],
            "enterprise_id": chosen["importer_id"].to_numpy(),
            "declaration_id": chosen["declaration_id"].to_numpy(),
            "disclosed_at": chosen["declared_at"].dt.normalize().to_numpy(),
            "kind": "valuation",
            "minor": np.resize([1.0, 1.0, 0.0], len(chosen)),
        }
    ).astype({"declaration_id": "str"})
    disclosures = pd.concat([synthetic.disclosures, added], ignore_index=True)
    return dataclasses.replace(registers, disclosures=disclosures)


@pytest.mark.parametrize("rate", RATES)
def test_a_disclosed_declaration_is_never_risk_selected_and_the_tier_rules_hold(
    bundle: Bundle, holdout: pd.DataFrame, disclosed_registers: Registers, rate: float
) -> None:
    config = load_settings().selection
    policy = SelectionPolicy(config, rate=rate)
    batch = score_declarations(
        bundle, holdout, disclosed_registers, rate=rate, policy=policy, explain_rows=False
    )
    decisions = batch.decisions
    covered = decisions["disclosure_id"] != ""
    assert covered.sum() >= 60
    assert (decisions.loc[covered, "selection_reason"].isin(["disclosure", "rule"])).all()
    assert (
        decisions.loc[covered & (decisions["selection_reason"] == "disclosure"), "lane"] == "yellow"
    ).all()
    # The budget goes to the rest, whole: round(rate x N) (or what the floors need).
    detection = decisions["selection_reason"].isin(["risk", "random", "tier_floor", "rule"])
    facts = batch.policy_facts
    assert facts is not None and facts.disclosed == int(covered.sum())
    assert detection.sum() == facts.selected >= budget_count(len(decisions), rate)
    # The credit-tier rules hold on the detection targets, worked out independently.
    features = batch.features.reset_index(drop=True)
    held = held_to_rows(features.loc[~covered.to_numpy()], config)
    chosen = decisions.loc[~covered, "selected"].to_numpy()
    rates = pd.Series(chosen, index=held.index).groupby([held["rule_set"], held["tier"]]).mean()
    for (name, tier), value in rates.items():
        rule = config.credit.rule_set(str(name)).tiers.get(str(tier))
        if rule is not None and rule.at_least_rate is not None:
            assert value >= rule.at_least_rate - 1e-9, (name, tier)
    summary = policy.summarise(decisions, decisions["credit_tier"], features["declared_at"])
    assert summary.constraints_met
    assert summary.by_reason["disclosure"] == int(
        (decisions["selection_reason"] == "disclosure").sum()
    )


def test_a_disclosed_violation_is_never_counted_as_a_hit(
    bundle: Bundle, holdout: pd.DataFrame, disclosed_registers: Registers
) -> None:
    config = load_settings().selection
    batch = score_declarations(bundle, holdout, disclosed_registers, rate=0.05, explain_rows=False)
    features = batch.features.reset_index(drop=True)
    decisions = batch.decisions
    covered = (decisions["disclosure_id"] != "").to_numpy()
    # Make every covered declaration an inspected violation at the top of the ranking: a
    # ranking that counted them would gain hits from them.
    features.loc[covered, ["inspected", "illicit", "revenue"]] = [1.0, 1.0, 1000.0]
    priority = decisions["priority"].to_numpy().copy()
    priority[covered] = 10.0
    risk = decisions["risk_score"].to_numpy()
    args = dict(baseline=None, percents=(1, 5), random_draws=2, policy=SelectionPolicy(config))
    result = evaluate(features, risk, decisions["expected_revenue"].to_numpy(), priority, **args)
    assert result.facts["disclosed_rows"] == int(covered.sum())
    assert result.facts["disclosed_violations"] == int(covered.sum())
    keep = ~covered
    without = evaluate(
        features.loc[keep].drop(columns=list(disclosure_features.CONTEXT_COLUMNS)),
        risk[keep],
        decisions["expected_revenue"].to_numpy()[keep],
        priority[keep],
        **args,
    )
    pd.testing.assert_frame_equal(result.table, without.table)
    assert result.facts["violations"] == without.facts["violations"]
    replay = result.policy["labelled"]["parts"]
    assert replay == without.policy["labelled"]["parts"]
    assert result.policy["disclosed"]["disclosed_violations"] == int(covered.sum())


# -- measure 12 on generated data ------------------------------------------------------


def _rulings_for(
    rows: pd.DataFrame, kinds: tuple[str, ...], days_to_end: int, ends: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Rulings of ``kinds`` for each row's importer and code, ending ``days_to_end`` after
    the row's day (or all on ``ends``), each valid 400 days before that."""
    day = rows["declared_at"].dt.normalize().to_numpy()
    end = day + np.timedelta64(days_to_end, "D") if ends is None else np.full(len(rows), ends)
    end = np.asarray(end, dtype="datetime64[ns]")
    parts = [
        pd.DataFrame(
            {
                "enterprise_id": rows["importer_id"].to_numpy(),
                "hs_code": rows["hs_code"].to_numpy(),
                "kind": kind,
                "valid_from": end - np.timedelta64(400, "D"),
                "valid_to": end,
            }
        )
        for kind in kinds
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.drop_duplicates(["enterprise_id", "hs_code", "kind"]).reset_index(drop=True)
    frame.insert(0, "ruling_id", [f"YT{i:04d}" for i in range(len(frame))])
    return frame.astype({"ruling_id": "str", "enterprise_id": "str", "hs_code": "str"})


@pytest.fixture(scope="module")
def plain_batch(bundle: Bundle, holdout: pd.DataFrame, registers: Registers) -> pd.DataFrame:
    batch = score_declarations(bundle, holdout, registers, rate=0.05, explain_rows=False)
    return batch.decisions.assign(
        importer_id=holdout["importer_id"].to_numpy(),
        hs_code=holdout["hs_code"].to_numpy(),
        declared_at=holdout["declared_at"].to_numpy(),
    )


def test_a_valid_ruling_covers_its_kind_and_an_expired_one_does_nothing(
    bundle: Bundle, holdout: pd.DataFrame, registers: Registers, plain_batch: pd.DataFrame
) -> None:
    yellow = plain_batch[
        (plain_batch["selection_reason"] == "risk") & (plain_batch["lane"] == "yellow")
    ]
    assert len(yellow) > 20
    target = yellow.head(40)
    kinds = ("classification", "valuation", "origin")
    valid = dataclasses.replace(registers, rulings=_rulings_for(target, kinds, 200))
    covered = score_declarations(bundle, holdout, valid, rate=0.05, explain_rows=False).decisions
    plain = plain_batch
    ruled = covered["ruling_ids"] != ""
    assert ruled.sum() >= len(target)
    # Covered risk does not count in the ranking; the model's risk_score is unchanged.
    np.testing.assert_array_equal(covered["risk_score"], plain["risk_score"])
    assert (covered["ruling_risk_score"] <= covered["risk_score"] + 1e-12).all()
    assert (covered.loc[~ruled, "ruling_risk_score"] == covered.loc[~ruled, "risk_score"]).all()
    assert (covered.loc[ruled, "ruling_risk_score"] < covered.loc[ruled, "risk_score"]).mean() > 0.5
    # Every documentary kind covered: never document review; some leave the selection.
    ids = set(target["declaration_id"])
    mine = covered["declaration_id"].isin(ids)
    assert not (covered.loc[mine, "lane"] == "yellow").any()
    assert (covered.loc[mine, "selected"] == 0).any()
    moved = covered[mine & (covered["selected"] == 1)]
    assert moved["policy_note_en"].str.contains("no document review, physical inspection").all()
    notes = covered.loc[ruled, "policy_note_en"]
    assert notes.str.contains(r"classification risk covered by advance ruling YT\d{4}").all()
    assert notes.str.contains("Haikou Customs 2024 measure 12").all()
    assert covered.loc[ruled, "policy_note_zh"].str.contains("商品归类风险已由预裁定YT").all()
    # Rulings that expired before these declarations change nothing: the same decisions
    # as without any.
    before = holdout["declared_at"].min().normalize() - pd.Timedelta(days=1)
    expired = dataclasses.replace(registers, rulings=_rulings_for(target, kinds, 0, ends=before))
    after = score_declarations(bundle, holdout, expired, rate=0.05, explain_rows=False).decisions
    assert (after["ruling_ids"] == "").all() and (after["ruling_expiring"] == 0).all()
    for column in ("selected", "lane", "selection_reason", "priority", "policy_note_en"):
        pd.testing.assert_series_equal(after[column], plain[column], check_names=False)


def test_one_kind_covered_keeps_document_review_for_the_others(
    bundle: Bundle, holdout: pd.DataFrame, registers: Registers, plain_batch: pd.DataFrame
) -> None:
    target = plain_batch[plain_batch["lane"] == "yellow"].head(30)
    valid = dataclasses.replace(registers, rulings=_rulings_for(target, ("classification",), 200))
    decisions = score_declarations(bundle, holdout, valid, rate=0.05, explain_rows=True).decisions
    mine = decisions["declaration_id"].isin(set(target["declaration_id"]))
    still = decisions[mine & (decisions["selected"] == 1)]
    assert len(still) and (still["lane"] != "red").any()
    assert (decisions.loc[mine, "ruling_kinds"] == "classification").all()
    # The explanation marks the covered features' reasons.
    assert decisions.loc[mine, "reasons"].str.contains(r"\(covered by advance ruling YT").any()
    zh = score_declarations(
        bundle, holdout, valid, rate=0.05, explain_rows=True, lang="zh"
    ).decisions
    assert zh.loc[mine, "reasons"].str.contains("已由预裁定YT").any()


@pytest.mark.parametrize(
    ("days", "flagged"), [(20, 0), (29, 0), (30, 1), (45, 1), (90, 1), (91, 0), (200, 0)]
)
def test_a_ruling_near_its_end_is_flagged(
    bundle: Bundle,
    holdout: pd.DataFrame,
    registers: Registers,
    plain_batch: pd.DataFrame,
    days: int,
    flagged: int,
) -> None:
    target = plain_batch.drop_duplicates(["importer_id", "hs_code"]).head(10)
    valid = dataclasses.replace(registers, rulings=_rulings_for(target, ("classification",), days))
    rows = holdout["declaration_id"].isin(set(target["declaration_id"])).to_numpy()
    decisions = score_declarations(
        bundle, holdout[rows], valid, rate=0.05, explain_rows=False
    ).decisions
    assert (decisions["ruling_expiring"] == flagged).all()
    extension = decisions["policy_note_en"].str.contains("may apply for its extension")
    assert (extension == bool(flagged)).all()
    if flagged:
        assert decisions["policy_note_zh"].str.contains("企业可在到期前申请延期").all()
        assert decisions["policy_note_en"].str.contains(f"in {days} days").all()


def test_measure_columns_follow_the_contract_columns_only_with_their_registers(
    bundle: Bundle, holdout: pd.DataFrame, registers: Registers, synthetic: SyntheticData
) -> None:
    plain = score_declarations(bundle, holdout, registers, rate=0.05, explain_rows=False)
    assert not set(MEASURE_COLUMNS) & set(plain.decisions.columns)
    both = dataclasses.replace(
        registers, disclosures=synthetic.disclosures, rulings=synthetic.rulings
    )
    full = score_declarations(bundle, holdout, both, rate=0.05, explain_rows=False).decisions
    assert set(MEASURE_COLUMNS) <= set(full.columns)
    assert set(ruling_features.CONTEXT_COLUMNS).isdisjoint(full.columns)
    assert full["ruling_expiring"].isin([0, 1]).all()
    assert CJK.search(" ".join(full.loc[full["ruling_ids"] != "", "policy_note_zh"]))
