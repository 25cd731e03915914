"""The week-by-week replay of the selection loop (training/simulation.py, portsift simulate)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.cli import main
from portsift.features.pipeline import Registers
from portsift.models.risk_model import RiskModel, TrainingData
from portsift.settings import Settings, load_settings
from portsift.synthetic.generator import generate_synthetic_with_truth, write_synthetic
from portsift.training import simulation as sim
from portsift.training.simulation_metrics import WEEKLY_COLUMNS
from portsift.training.simulation_models import fit_pair, labelled_view, score_week

ROWS = 24_000
WEEKS = 6
STRATEGIES = ("exploit", "policy", "uncertainty", "bandit", "policy_ipw")


@dataclasses.dataclass(frozen=True)
class World:
    history: sim.LabelledHistory
    registers: Registers
    settings: Settings
    plan: sim.SimulationPlan


@pytest.fixture(scope="module")
def world() -> World:
    data, truth = generate_synthetic_with_truth(rows=ROWS, seed=5)
    history = sim.history_from_synthetic(data, truth)
    settings = load_settings()
    total = int(sim.week_numbers(history.declarations["declared_at"]).max()) + 1
    plan = sim.SimulationPlan.build(
        settings, total, weeks=WEEKS, retrain_every=2, strategies=STRATEGIES
    )
    registers = Registers(data.enterprises, data.lab_results, data.commodities)
    return World(history, registers, settings, plan)


@pytest.fixture(scope="module")
def result(world: World) -> sim.SimulationResult:
    return sim.simulate(world.history, world.registers, world.settings, world.plan)


def _poisoned(history: sim.LabelledHistory, revealed: np.ndarray) -> sim.LabelledHistory:
    """The history with every label a strategy never saw replaced by a poison value."""
    hidden = ~revealed
    return dataclasses.replace(
        history,
        illicit=np.where(hidden, 1.0 - history.illicit, history.illicit),
        revenue=np.where(hidden, 1e9, history.revenue),
    )


def test_unselected_labels_never_reach_a_model(world: World, result: sim.SimulationResult) -> None:
    compared = ("exploit", "policy_ipw", "uncertainty")
    h = world.history
    week = sim.week_numbers(h.declarations["declared_at"])
    # What any compared strategy may know: the warm-up's historic labels and its selections.
    revealed = h.historic & (week < world.plan.warmup_weeks)
    picked = result.selections[result.selections["strategy"].isin(compared)]
    revealed |= h.declarations["declaration_id"].isin(picked["declaration_id"]).to_numpy()
    poisoned = _poisoned(h, revealed)
    assert (poisoned.illicit != h.illicit).mean() > 0.8  # the poison is almost everywhere
    plan = dataclasses.replace(world.plan, strategies=compared)
    again = sim.simulate(poisoned, world.registers, world.settings, plan)
    for name in compared:
        before = result.selections[result.selections["strategy"] == name].reset_index(drop=True)
        after = again.selections[again.selections["strategy"] == name].reset_index(drop=True)
        pd.testing.assert_frame_equal(before, after)
        w0 = result.weekly[result.weekly["strategy"] == name]
        w1 = again.weekly[again.weekly["strategy"] == name]
        np.testing.assert_array_equal(w0["model_rows"], w1["model_rows"])
        np.testing.assert_allclose(w0["psi"], w1["psi"])
    # The control: had the poison been visible, the model would have changed.
    end = int(np.searchsorted(week, world.plan.warmup_weeks))
    clean = fit_pair(h, world.registers, world.settings, plan, end, revealed, None)
    leaked = fit_pair(poisoned, world.registers, world.settings, plan, end, ~revealed, None)
    lo, hi = end, int(np.searchsorted(week, world.plan.warmup_weeks + 1))
    a = score_week(clean, h, world.registers, lo, hi, world.settings)["risk_score"]
    b = score_week(leaked, h, world.registers, lo, hi, world.settings)["risk_score"]
    assert np.abs(a.to_numpy() - b.to_numpy()).max() > 0.05


def test_labelled_view_hides_what_was_not_revealed(world: World) -> None:
    h = world.history
    revealed = np.zeros(len(h.illicit), dtype=bool)
    revealed[::7] = True
    view = labelled_view(h, len(h.illicit), revealed)
    assert view["illicit"].notna().to_numpy().tolist() == revealed.tolist()
    assert (view["inspected"].to_numpy() == revealed).all()
    np.testing.assert_array_equal(view["illicit"].to_numpy()[revealed], h.illicit[revealed])


def test_every_strategy_spends_the_same_budget(world: World, result: sim.SimulationResult) -> None:
    weekly = result.weekly
    assert set(weekly["strategy"]) == set(STRATEGIES)
    assert len(weekly) == WEEKS * len(STRATEGIES)
    assert (weekly["selected"] == weekly["budget"]).all()
    per_week = weekly.pivot(index="sim_week", columns="strategy", values="selected")
    assert (per_week.nunique(axis=1) == 1).all()
    # The selections log holds exactly the budget, without duplicates within a week.
    counts = result.selections.groupby(["strategy", "sim_week"]).size()
    assert counts.groupby("sim_week").nunique().eq(1).all()
    assert not result.selections.duplicated(["strategy", "sim_week", "declaration_id"]).any()
    # The strategies really differ in how they explore.
    reasons = result.selections.groupby("strategy")["reason"].agg(set)
    assert "random" not in reasons["exploit"] and "uncertainty" not in reasons["exploit"]
    assert "random" in reasons["policy"]
    assert "uncertainty" in reasons["uncertainty"]
    assert set(weekly.loc[weekly["strategy"] == "bandit", "exploration_share"]) <= set(
        world.plan.config.bandit_shares
    )


def test_weekly_metrics_are_against_the_whole_week(
    world: World, result: sim.SimulationResult
) -> None:
    h = world.history
    week = sim.week_numbers(h.declarations["declared_at"])
    row = result.weekly[(result.weekly["strategy"] == "policy")].iloc[2]
    in_week = week == row["week"]
    assert row["rows"] == in_week.sum()
    assert row["true_rate"] == pytest.approx(h.illicit[in_week].mean())
    picked = result.selections[
        (result.selections["strategy"] == "policy") & (result.selections["sim_week"] == 3)
    ]
    hits = h.illicit[h.declarations["declaration_id"].isin(picked["declaration_id"]).to_numpy()]
    assert row["hits"] == hits.sum()
    assert row["recall"] == pytest.approx(hits.sum() / h.illicit[in_week].sum())
    assert 0 <= row["revenue_share"] <= 1
    assert np.isfinite(result.weekly["psi"]).all() and (result.weekly["psi"] >= 0).all()


def test_exploring_strategies_find_the_planted_fraud_ring(
    world: World, result: sim.SimulationResult
) -> None:
    """The planted ring is found, and the reported week and recall are the truth's.

    Everything expected is counted here from the generator's ring marker and the
    selections log, not through ``ring_found_week`` or the weekly table, so a replay
    that miscounts ring rows or ring selections fails. Mutations tried (each made this
    test fail, then restored): ``simulation_metrics.week_record`` counting ``ring_selected`` as
    ``int(ring.sum())`` (every ring row "selected"; fails on week 2's count);
    ``ring_found_week`` testing ``ring_rows > min_rows`` instead of ``>=`` (the found week
    becomes None); ``history_from_synthetic`` dropping the ring marker (``ring=None``).
    """
    h = world.history
    assert h.ring is not None and h.ring.any()
    week = sim.week_numbers(h.declarations["declared_at"])
    ring_ids = set(h.declarations["declaration_id"][h.ring])
    summary = result.summary.set_index("strategy")
    c = world.plan.config
    for name in STRATEGIES:
        weekly = result.weekly[result.weekly["strategy"] == name].set_index("sim_week")
        picked = result.selections[result.selections["strategy"] == name]
        found, ring_total, ring_hit = None, 0, 0
        for sim_week, row in weekly.iterrows():
            ring_rows = int((h.ring & (week == row["week"])).sum())
            in_week = picked[picked["sim_week"] == sim_week]
            ring_selected = int(in_week["declaration_id"].isin(ring_ids).sum())
            assert (row["ring_rows"], row["ring_selected"]) == (ring_rows, ring_selected)
            ring_total += ring_rows
            ring_hit += ring_selected
            enough = ring_rows >= c.ring_min_rows
            if found is None and enough and ring_selected >= c.ring_found_share * ring_rows:
                found = sim_week
        assert ring_total > 0  # the replay covers the ring's weeks
        assert summary.loc[name, "ring_found_week"] == found, name
        assert summary.loc[name, "ring_recall"] == pytest.approx(ring_hit / ring_total)
    # The strategies that explore (random, uncertainty and bandit draws) still find the
    # ring, and select most of its declarations.
    for name in ("policy", "uncertainty", "bandit", "policy_ipw"):
        assert not pd.isna(summary.loc[name, "ring_found_week"]), name
        assert summary.loc[name, "ring_recall"] > 0.5, name
    text = sim.format_summary(result)
    assert "ring found" in text and "ring recall" in text
    for name in STRATEGIES:
        assert name in text


def test_risk_model_sample_weight(world: World) -> None:
    h = world.history
    end = len(h.illicit) // 2
    view = labelled_view(h, end, h.historic)
    from portsift.features.pipeline import MONOTONE_DECREASING, FeaturePipeline

    pipeline = FeaturePipeline()
    features = pipeline.fit_transform(view, world.registers)
    data = TrainingData(features, view["declared_at"], view["inspected"], view["illicit"], None)

    def fitted(weight: np.ndarray | None = None, *, pass_none: bool = False) -> np.ndarray:
        model = RiskModel(
            pipeline.risk_features_,
            pipeline.revenue_features_,
            pipeline.categorical_features_,
            MONOTONE_DECREASING,
            n_estimators=40,
            n_jobs=1,
        )
        if weight is None and not pass_none:
            model.fit(data)
        else:
            model.fit(data, sample_weight=weight)
        x = features[model.risk_features].to_numpy(dtype="float64")
        return model.calibrate(model.raw_score(x))

    default = fitted()
    np.testing.assert_array_equal(default, fitted(None, pass_none=True))
    weight = np.where(np.arange(end) % 3 == 0, 20.0, 1.0)
    assert np.abs(fitted(weight) - default).max() > 1e-3
    with pytest.raises(ValueError, match="sample_weight"):
        fitted(np.ones(end - 1))
    with pytest.raises(ValueError, match="sample_weight"):
        fitted(np.zeros(end))


def test_plan_rejects_weeks_beyond_the_data(world: World) -> None:
    with pytest.raises(sim.SimulationError, match="weeks"):
        sim.SimulationPlan.build(world.settings, 10, weeks=8, warmup_weeks=5)
    with pytest.raises(sim.SimulationError, match="strategies"):
        sim.SimulationPlan.build(world.settings, 10, weeks=2, strategies=["greedy"])


def test_history_needs_every_label() -> None:
    frame = pd.DataFrame(
        {
            "declaration_id": ["A", "B"],
            "declared_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "illicit": [1.0, np.nan],
        }
    )
    with pytest.raises(sim.SimulationError, match="no 'illicit' value"):
        sim.history_from_frame(frame)


# -- the command line ----------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("labelled")
    data, truth = generate_synthetic_with_truth(rows=20_000, seed=8)
    write_synthetic(data, directory)
    table = sim.labelled_table(sim.history_from_synthetic(data, truth))
    table.to_csv(directory / "labelled.csv", index=False)
    return directory


def _registers(directory: Path) -> list[str]:
    return [
        "--enterprises",
        str(directory / "enterprises.csv"),
        "--lab-results",
        str(directory / "lab_results.csv"),
        "--commodities",
        str(directory / "commodities.csv"),
    ]


def test_cli_writes_csv_png_and_summary(
    labelled_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim"
    status = main(
        [
            "simulate",
            "--declarations",
            str(labelled_files / "labelled.csv"),
            *_registers(labelled_files),
            "--weeks",
            "4",
            "--retrain-every",
            "2",
            "--strategies",
            "exploit,policy",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    printed = capsys.readouterr()
    assert "ring found" in printed.out and "exploit" in printed.out
    assert "columns not used" not in printed.err
    weekly = pd.read_csv(out / "weekly.csv")
    assert list(weekly.columns) == list(WEEKLY_COLUMNS)
    assert len(weekly) == 8 and set(weekly["strategy"]) == {"exploit", "policy"}
    assert (out / "simulation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "summary.csv").is_file() and (out / "selections.csv").is_file()
    assert "ring found" in (out / "summary.txt").read_text()
    assert not list(out.glob(".*.tmp*"))


def test_cli_synthetic_source(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    args = ["simulate", "--synthetic", "6000", "--weeks", "2", "--strategies", "exploit"]
    assert main([*args, "--quiet", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "weekly.csv")) == 2


@pytest.mark.parametrize(
    "extra",
    [
        ["--weeks", "500"],
        ["--strategies", "exploit,greedy"],
        ["--rate", "1.5"],
        ["--retrain-every", "0"],
    ],
)
def test_cli_bad_options_exit_2(
    labelled_files: Path, tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad"
    args = ["simulate", "--declarations", str(labelled_files / "labelled.csv"), "--out", str(out)]
    assert main([*args, *extra]) == 2
    assert "portsift simulate: error:" in capsys.readouterr().err
    assert not out.exists()


def test_cli_file_without_full_labels_exits_2(
    labelled_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad"
    # The generated declarations carry labels for inspected rows only.
    args = ["simulate", "--declarations", str(labelled_files / "declarations.csv")]
    assert main([*args, "--out", str(out)]) == 2
    assert "true outcome of every declaration" in capsys.readouterr().err
    assert not out.exists()


def test_cli_bad_marker_exits_2(
    labelled_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pd.read_csv(labelled_files / "labelled.csv", dtype=str)
    table.loc[4, "drift_ring"] = "maybe"
    path = tmp_path / "bad_marker.csv"
    table.to_csv(path, index=False)
    assert main(["simulate", "--declarations", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "drift_ring" in err and "row 5" in err
