"""Shared fixtures: one synthetic data set, one MLflow store and one trained bundle per session."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from portsift.features.pipeline import Registers
from portsift.synthetic.generator import SyntheticData, generate_synthetic, write_synthetic

SESSION_ROWS = 30_000


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Point every MLflow use of the session at a temporary SQLite store."""
    directory = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield uri
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


@pytest.fixture(scope="session")
def synthetic() -> SyntheticData:
    """A generated data set shared by the session (do not modify it in place)."""
    return generate_synthetic(rows=SESSION_ROWS, seed=11)


@pytest.fixture(scope="session")
def registers(synthetic: SyntheticData) -> Registers:
    """The registers of the shared data set."""
    return Registers(synthetic.enterprises, synthetic.lab_results, synthetic.commodities)


@dataclass(frozen=True)
class DataFiles:
    """Paths of the shared data set written as CSV."""

    directory: Path
    declarations: Path
    enterprises: Path
    lab_results: Path
    commodities: Path
    disclosures: Path
    rulings: Path

    def measure_args(self) -> list[str]:
        """CLI arguments naming the registers of measures 22 and 12."""
        return ["--disclosures", str(self.disclosures), "--rulings", str(self.rulings)]

    def register_args(self) -> list[str]:
        """CLI arguments naming the three registers."""
        return [
            "--enterprises",
            str(self.enterprises),
            "--lab-results",
            str(self.lab_results),
            "--commodities",
            str(self.commodities),
        ]


@pytest.fixture(scope="session")
def data_files(synthetic: SyntheticData, tmp_path_factory: pytest.TempPathFactory) -> DataFiles:
    """The shared data set as the four CSV files of ``portsift generate``."""
    directory = tmp_path_factory.mktemp("data")
    paths = write_synthetic(synthetic, directory)
    return DataFiles(
        directory=directory,
        declarations=paths["declarations"],
        enterprises=paths["enterprises"],
        lab_results=paths["lab_results"],
        commodities=paths["commodities"],
        disclosures=paths["disclosures"],
        rulings=paths["rulings"],
    )


@pytest.fixture(scope="session")
def trained_model_dir(data_files: DataFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle trained once by the CLI on the shared data set (recorded in MLflow)."""
    from portsift.cli import main

    model_dir = tmp_path_factory.mktemp("model") / "bundle"
    status = main(
        [
            "train",
            "--declarations",
            str(data_files.declarations),
            *data_files.register_args(),
            "--model-dir",
            str(model_dir),
            "--quiet",
        ]
    )
    assert status == 0
    return model_dir


@dataclass(frozen=True)
class EvaluateRun:
    """One ``portsift evaluate --json`` of the shared bundle on the shared data."""

    status: int
    printed: str
    evaluation: dict


@pytest.fixture(scope="session")
def evaluate_run(
    trained_model_dir: Path, data_files: DataFiles, tmp_path_factory: pytest.TempPathFactory
) -> EvaluateRun:
    """``portsift evaluate`` run once for every test that reads its table or policy section."""
    from portsift.cli import main

    out = tmp_path_factory.mktemp("evaluate") / "evaluation.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(
            [
                "evaluate",
                "--model-dir",
                str(trained_model_dir),
                "--declarations",
                str(data_files.declarations),
                *data_files.register_args(),
                "--json",
                str(out),
            ]
        )
    evaluation = json.loads(out.read_text("utf-8")) if status == 0 else {}
    return EvaluateRun(status=status, printed=printed.getvalue(), evaluation=evaluation)
