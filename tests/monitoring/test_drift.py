"""Drift monitoring: PSI arithmetic, binning, label drift and ``portsift monitor`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.cli import main
from portsift.commands.helpers import EXIT_BAD_INPUT, EXIT_DRIFT
from portsift.features import loading
from portsift.features.pipeline import Registers
from portsift.models.bundle import load_bundle
from portsift.monitoring.drift import Thresholds, compare
from portsift.monitoring.reference import MonitoringReference, reference_from_declarations
from portsift.synthetic.generator import generate_synthetic_with_truth
from tests.conftest import SESSION_ROWS, DataFiles

THRESHOLDS = Thresholds(psi_warn=0.1, psi_alert=0.25, share_floor=1e-4)


# ------------------------------------------------------------------------ arithmetic


def _frame(rng: np.random.Generator, n: int, start: str, shift: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "declared_at": pd.date_range(start, periods=n, freq="h"),
            "stable": rng.normal(size=n),
            "shifted": rng.normal(shift, 1.0, size=n),
            "code": rng.choice([0.0, 1.0, 2.0], size=n),
        }
    )


def test_a_shifted_feature_is_flagged_and_a_stable_one_is_not() -> None:
    from portsift.monitoring.reference import build_reference

    rng = np.random.default_rng(7)
    train = _frame(rng, 6000, "2024-01-01", 0.0)
    recent = _frame(rng, 3000, "2025-01-01", 1.0)
    reference = build_reference(
        train,
        rng.uniform(size=len(train)),
        feature_names=["stable", "shifted", "code"],
        categorical=["code"],
        bins=10,
    )
    result = compare(reference, recent, rng.uniform(size=len(recent)), thresholds=THRESHOLDS)
    status = dict(zip(result.psi["variable"], result.psi["status"], strict=True))
    assert status == {"shifted": "alert", "stable": "ok", "code": "ok", "risk_score": "ok"}
    assert result.alerts == [f"shifted: PSI {result.psi.iloc[0]['psi']:.3f} >= 0.25"]
    assert len(result.weekly) >= 2 and (result.weekly["shifted"] > 0.25).all()
    # A feature configured as not alerting is reported but raises no alert.
    quiet = Thresholds(0.1, 0.25, 1e-4, no_alert_features=("shifted",))
    assert compare(reference, recent, rng.uniform(size=len(recent)), thresholds=quiet).alerts == []
    # The reference survives its JSON round trip (it is stored in the bundle metadata).
    again = MonitoringReference.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert again == reference


# ------------------------------------------------------------------------ with a model


@pytest.fixture(scope="module")
def marked(data_files: DataFiles, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The session declarations as text, with the generator's random-inspection marker."""
    raw = pd.read_csv(data_files.declarations, dtype=str, keep_default_na=False)
    # The session data's truth.
    _, truth = generate_synthetic_with_truth(SESSION_ROWS, 11, "2024-01-01", 730)
    assert (truth["declaration_id"].to_numpy() == raw["declaration_id"].to_numpy()).all()
    raw["random_inspection"] = truth["random_inspection"].astype(int).astype(str).to_numpy()
    return raw


def _monitor(
    model_dir: Path, declarations: Path, data_files: DataFiles, out: Path, *extra: str
) -> int:
    return main(
        [
            "monitor",
            "--model-dir",
            str(model_dir),
            "--declarations",
            str(declarations),
            *data_files.register_args(),
            "--out",
            str(out),
            "--json",
            str(out.with_suffix(".json")),
            *extra,
        ]
    )


def test_stored_reference_equals_the_recomputed_one(
    trained_model_dir: Path, data_files: DataFiles
) -> None:
    # Old bundles (no stored reference) are monitored by recomputing: it must agree.
    bundle = load_bundle(trained_model_dir)
    stored = MonitoringReference.from_dict(bundle.metadata["monitoring_reference"])
    frame = loading.load_declarations(data_files.declarations).frame
    registers = Registers(
        loading.load_enterprises(data_files.enterprises).frame,
        loading.load_lab_results(data_files.lab_results).frame,
        loading.load_commodities(data_files.commodities).frame,
    )
    day = frame["declared_at"].dt.normalize()
    window = frame[day <= pd.Timestamp(bundle.metadata["trained_to"])]
    again = reference_from_declarations(
        bundle, window, registers, bins=stored.bins, point_in_time=stored.point_in_time
    )
    assert stored.point_in_time  # the settings name point-in-time features of this model
    assert again.features.keys() == stored.features.keys()
    for name, reference in stored.features.items():
        assert again.features[name].edges == pytest.approx(reference.edges), name
        assert again.features[name].shares == pytest.approx(reference.shares), name
    assert again.score.shares == pytest.approx(stored.score.shares, abs=1e-9)
    assert (again.inspected, again.violations) == (stored.inspected, stored.violations)


def test_no_drift_on_the_generated_data_exits_0(
    trained_model_dir: Path,
    data_files: DataFiles,
    marked: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    declarations = tmp_path / "declarations.csv"
    marked.to_csv(declarations, index=False)
    out = tmp_path / "monitor.html"
    assert _monitor(trained_model_dir, declarations, data_files, out) == 0
    summary = json.loads(out.with_suffix(".json").read_text("utf-8"))
    assert summary["alerts"] == []
    assert summary["reference"]["source"] == "bundle"
    assert summary["labels"]["sample"] == "random"
    assert summary["labels"]["recent"]["n"] >= 30 and not summary["labels"]["alert"]
    printed = capsys.readouterr()
    assert "drift alert" not in printed.err
    assert "risk_score" in printed.out


def test_drift_exits_3_naming_the_features_and_writes_the_dashboard(
    trained_model_dir: Path,
    data_files: DataFiles,
    marked: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mlflow_store: str,
) -> None:
    trained_to = pd.Timestamp(load_bundle(trained_model_dir).metadata["trained_to"])
    drifted = marked.copy()
    recent = pd.to_datetime(drifted["declared_at"]).dt.normalize() > trained_to
    # Recent goods declared at 30% of their value, and every random check finding a violation.
    value = pd.to_numeric(drifted["declared_value"])
    drifted.loc[recent, "declared_value"] = (value[recent] * 0.3).round(2).astype(str)
    random_checked = recent & (drifted["random_inspection"] == "1") & (drifted["inspected"] == "1")
    drifted.loc[random_checked, "illicit"] = "1"
    declarations = tmp_path / "drifted.csv"
    drifted.to_csv(declarations, index=False)
    out = tmp_path / "dashboard.html"

    assert _monitor(trained_model_dir, declarations, data_files, out) == EXIT_DRIFT
    err = capsys.readouterr().err
    alerts = [line for line in err.splitlines() if "drift alert" in line]
    named = {line.split("drift alert: ")[1].split(":")[0] for line in alerts}
    assert {"unit_value_ratio", "value_per_kg_ratio"} <= named, alerts
    assert any("label drift (random sample)" in line for line in alerts), alerts
    summary = json.loads(out.with_suffix(".json").read_text("utf-8"))
    by_name = {row["variable"]: row for row in summary["psi"]}
    assert by_name["unit_value_ratio"]["status"] == "alert"
    assert by_name["day_of_week"]["status"] == "ok"  # untouched by the perturbation

    html = out.read_text("utf-8")
    for chart in ("psi-bars", "score-distribution", "weekly-psi"):
        assert f'class="chart {chart}"' in html, chart
    assert "ALERT" in html and "unit_value_ratio" in html and "模型漂移监测" in html
    # Self-contained: no external resource.
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "src=" not in html and "<link" not in html

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store)
    experiment = client.get_experiment_by_name("portsift-monitoring")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    run = runs[0]
    assert run.data.tags["portsift.drift"] == "alert"
    assert run.data.metrics["psi.unit_value_ratio"] == pytest.approx(
        by_name["unit_value_ratio"]["psi"]
    )
    assert "psi.risk_score" in run.data.metrics
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
        "dashboard.html",
        "monitor.json",
    }


def test_without_a_marker_the_inspected_rows_are_used(
    trained_model_dir: Path, data_files: DataFiles, tmp_path: Path
) -> None:
    out = tmp_path / "monitor.html"
    status = _monitor(trained_model_dir, data_files.declarations, data_files, out, "--no-mlflow")
    assert status == 0
    summary = json.loads(out.with_suffix(".json").read_text("utf-8"))
    assert summary["labels"]["sample"] == "inspected"
    assert any("marks no random inspection" in note for note in summary["notes"])


def test_bad_input_exits_2_and_writes_nothing(
    trained_model_dir: Path,
    data_files: DataFiles,
    marked: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = marked.copy()
    bad.loc[[4, 9], "random_inspection"] = "yes"
    declarations = tmp_path / "bad.csv"
    bad.to_csv(declarations, index=False)
    out = tmp_path / "monitor.html"
    assert _monitor(trained_model_dir, declarations, data_files, out) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "bad.csv" in err and "random_inspection" in err and "rows 5, 10" in err
    assert (
        _monitor(trained_model_dir, data_files.declarations, data_files, out, "--since", "someday")
        == EXIT_BAD_INPUT
    )
    assert "--since" in capsys.readouterr().err
    # Nothing after the training window: refused, not an in-sample comparison.
    early = tmp_path / "early.csv"
    marked[marked["declared_at"] < "2024-06-01"].to_csv(early, index=False)
    assert _monitor(trained_model_dir, early, data_files, out) == EXIT_BAD_INPUT
    assert "nothing recent to monitor" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "early.csv"]
