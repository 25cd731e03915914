"""The report lines of measures 22, 12, 8 and 14, in the officer and the batch report.

Measures 22 (voluntary disclosure) and 12 (advance rulings) are decided by the policy
from their registers: the reports are built on generated data with disclosures and
rulings added on the day's declarations. Measures 8 (lane ``red_remote``) and 14
(``release_condition``) are decided by the policy of another change; the reports must
show them whenever the scored frame carries them, so the tests set them on the scored
frame (a wrapper around the scoring the reports call) and on hand-made decisions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from portsift.features import loading
from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle, load_bundle
from portsift.models.scoring import ScoredBatch, score_declarations
from portsift.reports import batch as batch_report
from portsift.reports import officer
from portsift.reports.batch import build_batch_report, render_batch_html
from portsift.reports.measures import batch_measures, declaration_measures
from portsift.reports.officer import build_report, render_html
from portsift.settings import load_settings
from portsift.synthetic.generator import SyntheticData
from tests.conftest import DataFiles
from tests.measure_registers import measure_registers

CJK = re.compile(r"[\u4e00-\u9fff]")
DAY = pd.Timestamp("2026-03-02")
RULINGS = load_settings().selection.rulings


# -- the blocks of one decision, on hand-made rows ----------------------------------------


def _features(**values: Any) -> pd.Series:
    base: dict[str, Any] = {
        "declared_at": DAY,
        "named_disclosure_id": None,
        "named_disclosed_at": pd.NaT,
        "named_disclosure_minor": np.nan,
        "enterprise_disclosure_id": None,
        "enterprise_disclosed_at": pd.NaT,
        "enterprise_disclosure_minor": np.nan,
    }
    for kind in ("classification", "valuation", "origin"):
        base[f"ruling_{kind}_id"] = None
        base[f"ruling_{kind}_valid_to"] = pd.NaT
    return pd.Series({**base, **values})


def _decision(**values: Any) -> dict[str, Any]:
    return {"lane": "green", "selected": 0, "selection_reason": "", **values}


def test_a_disclosure_block_says_when_minor_and_what_was_decided() -> None:
    named = _features(
        named_disclosure_id="DS9",
        named_disclosed_at=DAY - pd.Timedelta(days=3),
        named_disclosure_minor=1.0,
    )
    reviewed = _decision(
        lane="yellow", selected=1, selection_reason="disclosure", disclosure_id="DS9"
    )
    (block,) = declaration_measures(reviewed, named, RULINGS, "en")
    assert (block.measure, block.title) == ("22", "Voluntary disclosure (measure 22)")
    assert block.lines == [
        "Disclosure DS9, lodged on 2026-02-27 by the enterprise.",
        "Minor: in principle no penalty.",
        "Not a detection target: document review, outside the inspection budget.",
    ]
    (zh,) = declaration_measures(reviewed, named, RULINGS, "zh")
    assert zh.lines[:2] == ["企业于2026-02-27主动披露（DS9）。", "情节轻微：原则上不予行政处罚。"]
    # The importer's disclosure naming no declaration, not minor, under an officer rule.
    general = _features(
        enterprise_disclosure_id="DS10",
        enterprise_disclosed_at=DAY + pd.Timedelta(days=1),
        enterprise_disclosure_minor=0.0,
    )
    ruled = _decision(lane="red", selected=1, selection_reason="rule", disclosure_id="DS10")
    (block,) = declaration_measures(ruled, general, RULINGS, "en")
    assert block.lines == [
        "Disclosure DS10, lodged on 2026-03-03 by the enterprise.",
        "Not minor: the penalty may be lightened or mitigated.",
        "An officer rule selects the declaration all the same.",
    ]


def test_a_ruling_block_names_each_kind_its_end_and_the_expiry() -> None:
    low, high = RULINGS.expiry_warning_days
    features = _features(
        ruling_classification_id="YC1",
        ruling_classification_valid_to=DAY + pd.Timedelta(days=200),
        ruling_origin_id="YC2",
        ruling_origin_valid_to=DAY + pd.Timedelta(days=low),
    )
    (block,) = declaration_measures(_decision(ruling_ids="YC1;YC2"), features, RULINGS, "en")
    assert block.measure == "12" and block.warning
    assert block.lines == [
        "Classification risk covered by advance ruling YC1, valid until 2026-09-18.",
        "Origin risk covered by advance ruling YC2, valid until "
        f"{(DAY + pd.Timedelta(days=low)).date()}.",
        f"Ends in {low} days: the enterprise may apply for its extension before it ends.",
    ]
    (zh,) = declaration_measures(_decision(), features, RULINGS, "zh")
    assert zh.lines[0] == "商品归类风险已由预裁定YC1覆盖，有效期至2026-09-18。"
    assert zh.lines[2] == f"剩余{low}天到期：企业可在到期前申请延期。"
    # Past the warning window: no flag. All three kinds: no document review for them.
    later = features.copy()
    later["ruling_origin_valid_to"] = DAY + pd.Timedelta(days=high + 1)
    later["ruling_valuation_id"] = "YC3"
    later["ruling_valuation_valid_to"] = DAY + pd.Timedelta(days=300)
    (block,) = declaration_measures(_decision(), later, RULINGS, "en")
    assert not block.warning and not any("extension" in line for line in block.lines)
    assert block.lines[-1].startswith("Classification, valuation and origin are all covered")


def test_remote_video_inspection_and_release_conditions_get_their_blocks() -> None:
    remote = _decision(lane="red_remote", selected=1, inspection_deadline_hours=24.0)
    (block,) = declaration_measures(remote, _features(), RULINGS, "en")
    assert (block.measure, block.lines) == (
        "8",
        ["The physical check is done by remote video inspection.", "Video inspection within 24 h."],
    )
    own = {**remote, "remote_inspection_deadline_hours": 8.0}
    (block,) = declaration_measures(own, _features(), RULINGS, "zh")
    assert block.lines == ["以远程视频方式实施查验。", "8小时内完成视频查验。"]
    early = _decision(lane="red_sampling", release_condition="conditional_early_release")
    (block,) = declaration_measures(early, _features(), RULINGS, "en")
    assert block.measure == "14" and block.lines[0].startswith("Conditional early release")
    duty_free = _decision(release_condition="conditional_release")
    (block,) = declaration_measures(duty_free, _features(), RULINGS, "zh")
    assert block.lines == ["离岛免税食品、化妆品附条件放行。"]
    # Nothing applies: no block (an empty condition is no condition).
    assert declaration_measures(_decision(release_condition=""), _features(), RULINGS, "en") == []


def test_batch_counts_of_every_measure() -> None:
    decisions = pd.DataFrame(
        {
            "selected": [1, 1, 1, 1, 1, 0, 0, 1],
            "lane": [
                "yellow",
                "red",
                "red_remote",
                "red_remote",
                "red_sampling",
                "green",
                "green",
                "red",
            ],
            "selection_reason": ["disclosure", "rule", "risk", "risk", "risk", "", "", "risk"],
            "disclosure_id": ["DS1", "DS2", "", "", "", "", "", ""],
            "ruling_kinds": ["", "classification;origin", "valuation", "", "", "origin", "", ""],
            "ruling_expiring": [0, 1, 0, 0, 0, 1, 0, 0],
            "release_condition": [
                "",
                "",
                "",
                "",
                "conditional_early_release",
                "conditional_release",
                "",
                "",
            ],
        }
    )
    outcomes = pd.DataFrame(
        {
            "inspected": [1, 1, 1, 1, 1, 0, 1, 1],
            "illicit": [1, 1, 0, 1, np.nan, np.nan, 1, 1],
        }
    )
    counts = {
        name: (count, indented)
        for name, count, indented in batch_measures(decisions, outcomes, "en")
    }
    assert counts["Covered by a voluntary disclosure (measure 22)"] == (2, False)
    assert counts["of which sent to document review outside the budget"] == (1, True)
    # Disclosed violations are not hits: rows 0 and 1 are disclosed, 3 and 7 are hits
    # (row 6 is a violation but was not selected).
    assert counts["Disclosed violations (outcome known; not hits)"] == (2, False)
    assert counts["Violations detected among the selections (hits)"] == (2, False)
    assert counts["Covered by advance rulings (measure 12)"] == (3, False)
    assert counts["of which Origin"] == (2, True) and counts["of which Valuation"] == (1, True)
    assert counts["Rulings nearing their end (extension possible)"] == (2, False)
    assert counts["Remote video inspections (measure 8, lane red_remote)"] == (2, False)
    assert counts["Physical inspections on site (lane red)"] == (2, False)
    assert counts["Release condition: conditional early release (measure 14)"] == (1, False)
    assert counts["Release condition: conditional release (offshore duty-free) (measure 14)"] == (
        1,
        False,
    )
    zh = batch_measures(decisions, outcomes, "zh")
    assert ("远程视频查验（措施第8条，red_remote通道）", 2, False) in zh
    assert all(CJK.search(name) for name, _, _ in zh)
    # Without the measures' columns (no registers, a policy without measures 8 and 14)
    # there is nothing to count.
    bare = decisions[["selected", "lane", "selection_reason"]].replace("red_remote", "red")
    assert batch_measures(bare, outcomes, "en") == []


# -- the reports on generated data -----------------------------------------------------------


@pytest.fixture(scope="module")
def day_data(
    trained_model_dir: Path, data_files: DataFiles, synthetic: SyntheticData
) -> tuple[Bundle, pd.DataFrame, Registers, str]:
    """The bundle, the declarations, registers with measures on the busiest day, the day."""
    bundle = load_bundle(trained_model_dir)
    declarations = loading.load_declarations(data_files.declarations).frame
    day = declarations["declared_at"].dt.normalize().value_counts().idxmax()
    on_day = declarations[declarations["declared_at"].dt.normalize() == day]
    disclosures, rulings = measure_registers(synthetic, on_day, every=5)
    registers = Registers(
        loading.load_enterprises(data_files.enterprises).frame,
        loading.load_lab_results(data_files.lab_results).frame,
        loading.load_commodities(data_files.commodities).frame,
        disclosures=disclosures,
        rulings=rulings,
    )
    return bundle, declarations, registers, str(day.date())


def _setting(
    monkeypatch: pytest.MonkeyPatch, module: Any, change: Callable[[pd.DataFrame], None]
) -> None:
    """Score as the reports do, then set measure 8 and 14 columns on the decisions."""

    def scored(*args: Any, **kwargs: Any) -> ScoredBatch:
        result = score_declarations(*args, **kwargs)
        decisions = result.decisions.copy()
        change(decisions)
        return dataclasses.replace(result, decisions=decisions)

    monkeypatch.setattr(module, "score_declarations", scored)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_officer_report_shows_the_measures_of_the_declaration(
    day_data: tuple[Bundle, pd.DataFrame, Registers, str],
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
) -> None:
    bundle, declarations, registers, day = day_data
    batch = declarations[declarations["declared_at"].dt.normalize() == pd.Timestamp(day)]
    decided = score_declarations(bundle, batch, registers, rate=0.05, explain_rows=False).decisions
    disclosed = decided.loc[decided["selection_reason"] == "disclosure", "declaration_id"]
    expiring = decided.loc[decided["ruling_expiring"] == 1, "declaration_id"]
    assert len(disclosed) and len(expiring)
    report = build_report(
        bundle, batch, registers, declaration_id=disclosed.iloc[0], lang=lang, rate=0.05
    )
    html = render_html(report)
    assert [b.measure for b in report.measures][:1] == ["22"]
    assert 'data-measure="22"' in html
    assert ("适用的改革措施（海口海关2024年）" if lang == "zh" else "Measures that apply") in html
    assert (
        "主动披露（措施第22条）" if lang == "zh" else "Voluntary disclosure (measure 22)"
    ) in html
    report = build_report(
        bundle, batch, registers, declaration_id=expiring.iloc[0], lang=lang, rate=0.05
    )
    (ruling,) = [b for b in report.measures if b.measure == "12"]
    assert ruling.warning
    html = render_html(report)
    assert 'class="measure warning" data-measure="12"' in html
    assert ("企业可在到期前申请延期" if lang == "zh" else "may apply for its extension") in html
    # Measures 8 and 14 when the scored frame carries them.
    target = str(decided.loc[decided["selected"] == 1, "declaration_id"].iloc[0])

    def remote(decisions: pd.DataFrame) -> None:
        mine = decisions["declaration_id"] == target
        decisions.loc[mine, "lane"] = "red_remote"
        decisions["release_condition"] = np.where(mine, "conditional_early_release", "")

    _setting(monkeypatch, officer, remote)
    report = build_report(bundle, batch, registers, declaration_id=target, lang=lang, rate=0.05)
    html = render_html(report)
    assert [b.measure for b in report.measures][-2:] == ["8", "14"]
    assert 'class="badge lane-red_remote"' in html
    assert ("红色 · 远程视频查验" if lang == "zh" else "RED · remote video inspection") in html
    assert ("附条件先行提离" if lang == "zh" else "Conditional early release") in html
    assert "release condition" not in html  # shown in its block, not as a raw column


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_batch_report_counts_the_measures(
    day_data: tuple[Bundle, pd.DataFrame, Registers, str],
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
) -> None:
    bundle, declarations, registers, day = day_data

    def remote(decisions: pd.DataFrame) -> None:
        # Half of the physical inspections by video, and one risk selection from review.
        red = np.flatnonzero((decisions["lane"] == "red").to_numpy())
        decisions.loc[red[1::2], "lane"] = "red_remote"
        review = (decisions["lane"] == "yellow") & (decisions["selection_reason"] == "risk")
        decisions.loc[np.flatnonzero(review.to_numpy())[:1], "lane"] = "red_remote"
        conditions = np.full(len(decisions), "", dtype=object)
        chosen = np.flatnonzero(decisions["selected"].to_numpy() == 1)
        conditions[chosen[:3]] = "conditional_early_release"
        conditions[chosen[3:5]] = "conditional_release"
        decisions["release_condition"] = conditions

    _setting(monkeypatch, batch_report, remote)
    report = build_batch_report(bundle, declarations, registers, date=day, lang=lang, rate=0.05)
    html = render_batch_html(report)
    counts = {name: count for name, count, _, _ in report.measures}
    words = {
        "en": (
            "Covered by a voluntary disclosure (measure 22)",
            "Covered by advance rulings (measure 12)",
            "Remote video inspections (measure 8, lane red_remote)",
            "Release condition: conditional early release (measure 14)",
        ),
        "zh": (
            "主动披露覆盖（措施第22条）",
            "预裁定覆盖（措施第12条）",
            "远程视频查验（措施第8条，red_remote通道）",
            "放行条件：附条件先行提离（措施第14条）",
        ),
    }[lang]
    # Every disclosure added names a declaration of the day, lodged on its day: it covers.
    on_day = declarations[declarations["declared_at"].dt.normalize() == pd.Timestamp(day)]
    assert counts[words[0]] >= len(on_day.iloc[::5]) >= 10 and counts[words[1]] >= 5
    assert counts[words[2]] >= 1 and counts[words[3]] == 3
    lanes = dict(report.lanes)
    assert "red_remote" in lanes  # a column of the lane table of its own
    on_site = (
        "现场实货查验（red通道）" if lang == "zh" else "Physical inspections on site (lane red)"
    )
    day_total = next(row for row in report.lane_tier if row["total"])
    codes = [code for code, _ in report.lanes]
    assert day_total["lanes"][codes.index("red_remote")] == counts[words[2]]
    if "red" in lanes:
        assert day_total["lanes"][codes.index("red")] == counts[on_site]
    assert '<section id="measures">' in html
    for name in words:
        assert name in html
    assert f'lane-red_remote">{lanes["red_remote"]}' in html
