"""``--engine dask`` on partitioned input, against a real ``dask scheduler`` and two workers.

The scheduler and the workers are separate processes started with the ``dask scheduler``
and ``dask worker`` commands on 127.0.0.1 (free ports, one thread, a small memory
limit), as on a multi-machine cluster; every command here joins them with
``--scheduler tcp://127.0.0.1:PORT``.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from portsift.cli import main
from portsift.synthetic.generator import generate_synthetic, write_synthetic

ROWS = 8_000
PARTS = 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dask_command() -> str:
    return str(Path(sys.executable).with_name("dask"))


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``dask scheduler`` and two ``dask worker`` processes; yields the scheduler's address."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask-logs")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            [_dask_command(), "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            stdout=subprocess.DEVNULL,
            stderr=(logs / "scheduler.log").open("w"),
        )
    ]
    for number in range(2):
        processes.append(
            subprocess.Popen(
                [
                    _dask_command(),
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--memory-limit",
                    "1.5GiB",
                    "--name",
                    f"test-worker-{number}",
                    *common,
                ],
                stdout=subprocess.DEVNULL,
                stderr=(logs / f"worker-{number}.log").open("w"),
            )
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small data set: the registers as CSV, the declarations as CSV and Parquet parts."""
    root = tmp_path_factory.mktemp("dask-cli")
    paths = write_synthetic(generate_synthetic(ROWS, seed=5), root)
    declarations = pd.read_csv(paths["declarations"], dtype=str, keep_default_na=False)
    for suffix in ("csv", "parquet"):
        directory = root / f"{suffix}-parts"
        directory.mkdir()
        for number, rows in enumerate(np.array_split(np.arange(len(declarations)), PARTS)):
            part = declarations.iloc[rows]
            target = directory / f"part-{number:03d}.{suffix}"
            if suffix == "csv":
                part.to_csv(target, index=False)
            else:
                part.to_parquet(target, index=False)
        paths[f"{suffix}-parts"] = directory
    paths["config"] = root / "settings.toml"
    paths["config"].write_text(f'[training]\nregistered_model_name = "{MODEL_NAME}"\n', "utf-8")
    return paths


#: The registered model of this module's training runs: not the session's ``portsift-risk``,
#: whose champion other tests rely on.
MODEL_NAME = "portsift-dask-cli"


def _registers(files: dict[str, Path]) -> list[str]:
    return [
        "--enterprises",
        str(files["enterprises"]),
        "--lab-results",
        str(files["lab_results"]),
        "--commodities",
        str(files["commodities"]),
    ]


def _on_engine(
    command: str,
    engine: str,
    scheduler: str,
    declarations: str | Path,
    files: dict[str, Path],
    *options: str,
) -> list[str]:
    """The argv of ``command`` on ``engine`` (``--scheduler`` too) with the test registers."""
    return [
        command,
        *("--engine", engine, "--scheduler", scheduler),
        *("--declarations", str(declarations)),
        *_registers(files),
        *options,
    ]


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _with_bad_row(source: Path, target: Path) -> Path:
    """A copy of the parts in which row 3 of the third part has an invalid HS code."""
    target.mkdir()
    for part in sorted(source.iterdir()):
        copy = target / part.name
        if part.suffix == ".csv":
            table = pd.read_csv(part, dtype=str, keep_default_na=False)
        else:
            table = pd.read_parquet(part)
        if part.name.startswith("part-002"):
            table.loc[table.index[2], "hs_code"] = "61x9"
        if part.suffix == ".csv":
            table.to_csv(copy, index=False)
        else:
            table.to_parquet(copy, index=False)
    return target


@pytest.fixture(scope="module")
def dask_model(scheduler: str, files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """``portsift train --engine dask`` on the CSV parts, on the external cluster."""
    model_dir = tmp_path_factory.mktemp("dask-model") / "bundle"
    status, printed, _ = _run(
        _on_engine(
            "train",
            "dask",
            scheduler,
            files["csv-parts"],
            files,
            *("--model-dir", str(model_dir), "--config", str(files["config"])),
        )
    )
    assert status == 0
    return model_dir, printed


def test_training_on_separate_scheduler_and_workers(dask_model) -> None:
    model_dir, printed = dask_model
    assert (model_dir / "metadata.json").exists()
    assert "hold-out from" in printed
    # The client's and the workers' peak memory, measured by each process.
    line = next(x for x in printed.splitlines() if x.startswith("peak memory: client "))
    assert " GiB; 2 workers " in line


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_bad_row_in_one_part_exits_2_naming_the_part_and_writes_nothing(
    scheduler: str, files: dict[str, Path], dask_model, tmp_path: Path, suffix: str
) -> None:
    model_dir, _ = dask_model
    parts = _with_bad_row(files[f"{suffix}-parts"], tmp_path / "parts")
    out = tmp_path / "scores.csv"
    status, _, error = _run(
        _on_engine(
            "score",
            "dask",
            scheduler,
            parts,
            files,
            *("--model-dir", str(model_dir), "--out", str(out), "--quiet"),
        )
    )
    assert status == 2
    assert f"{parts / f'part-002.{suffix}'}: column 'hs_code': 1 row with an invalid code" in error
    assert "(row 3)" in error
    assert list(tmp_path.glob("scores*")) == []


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_skip_invalid_gives_the_decisions_of_pandas_on_the_valid_rows(
    scheduler: str, files: dict[str, Path], dask_model, tmp_path: Path, suffix: str
) -> None:
    model_dir, _ = dask_model
    parts = _with_bad_row(files[f"{suffix}-parts"], tmp_path / "parts")
    outputs = {}
    for engine in ("pandas", "dask"):
        out = tmp_path / f"{engine}.csv"
        status, _, _ = _run(
            _on_engine(
                "score",
                engine,
                scheduler,
                f"{parts}/part-*.{suffix}",
                files,
                *("--model-dir", str(model_dir), "--out", str(out), "--skip-invalid", "--quiet"),
            )
        )
        assert status == 0
        outputs[engine] = pd.read_csv(out, dtype=str, keep_default_na=False)
        rejected = pd.read_csv(f"{out}.rejected.csv", dtype=str, keep_default_na=False)
        assert rejected[["source_file", "row"]].values.tolist() == [
            [str(parts / f"part-002.{suffix}"), "3"]
        ]
    assert len(outputs["dask"]) == ROWS - 1
    assert (outputs["dask"]["selected"] == "1").sum() > 0
    pd.testing.assert_frame_equal(outputs["dask"], outputs["pandas"])


def test_an_id_repeated_across_parts_is_found_on_the_workers(
    scheduler: str, files: dict[str, Path], dask_model, tmp_path: Path
) -> None:
    model_dir, _ = dask_model
    parts = tmp_path / "parts"
    parts.mkdir()
    for part in sorted(files["csv-parts"].iterdir()):
        (parts / part.name).write_bytes(part.read_bytes())
    first = pd.read_csv(parts / "part-000.csv", dtype=str, keep_default_na=False)
    last = pd.read_csv(parts / "part-003.csv", dtype=str, keep_default_na=False)
    last.loc[last.index[6], "declaration_id"] = first["declaration_id"].iloc[0]
    last.to_csv(parts / "part-003.csv", index=False)
    argv = _on_engine(
        "score",
        "dask",
        scheduler,
        parts,
        files,
        *("--model-dir", str(model_dir), "--out", str(tmp_path / "scores.csv"), "--quiet"),
    )
    status, _, error = _run(argv)
    assert status == 2
    assert f"{parts / 'part-003.csv'}: column 'declaration_id': 1 row" in error
    assert "(row 7)" in error
    assert not (tmp_path / "scores.csv").exists()


def _run_id(printed: str) -> str:
    line = next(x for x in printed.splitlines() if x.startswith("MLflow run "))
    return line.split()[2].rstrip(":")


def test_dask_training_records_the_mlflow_run_pandas_records(
    files: dict[str, Path], dask_model, mlflow_store: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    _, dask_printed = dask_model
    status, pandas_printed, _ = _run(
        [
            "train",
            "--declarations",
            str(files["csv-parts"]),
            *_registers(files),
            "--model-dir",
            str(tmp_path / "pandas"),
            "--config",
            str(files["config"]),
        ]
    )
    assert status == 0
    client = MlflowClient(tracking_uri=mlflow_store, registry_uri=mlflow_store)
    runs = {
        engine: client.get_run(_run_id(printed))
        for engine, printed in (("dask", dask_printed), ("pandas", pandas_printed))
    }
    dask_run, pandas_run = runs["dask"], runs["pandas"]
    assert set(dask_run.data.metrics) == set(pandas_run.data.metrics)
    assert "holdout_auc" in dask_run.data.metrics
    assert set(dask_run.data.params) == set(pandas_run.data.params)
    assert {"feature_importance.csv", "shap_beeswarm.png", "evaluation.json"} <= {
        a.path for a in client.list_artifacts(dask_run.info.run_id)
    }
    # A registered version of the run, given the champion or challenger alias (the pandas
    # run trained after it may have taken the alias over since).
    (version,) = client.search_model_versions(f"run_id = '{dask_run.info.run_id}'")
    said = next(x for x in dask_printed.splitlines() if x.startswith("MLflow run "))
    assert f" v{version.version} -> " in said
    assert said.split(" -> ")[1].split()[0] in {"champion", "challenger"}


def test_feedback_merged_on_the_workers_equals_the_pandas_merge(
    scheduler: str, files: dict[str, Path]
) -> None:
    import dask
    import dask.dataframe as dd
    from distributed import Client

    from portsift.features.loading import load_declarations
    from portsift.training.dask_runs import merge_feedback_dask
    from portsift.training.feedback import count_feedback, merge_feedback

    declarations = load_declarations(files["declarations"]).frame
    ids = declarations["declaration_id"]
    # Outcomes for rows of several partitions, one changing nothing, one for no declaration.
    feedback = pd.DataFrame(
        {
            "declaration_id": [ids.iloc[3], ids.iloc[2_500], ids.iloc[7_000], "nowhere"],
            "inspected": [1.0, 1.0, 0.0, 1.0],
            "illicit": [1.0, 0.0, np.nan, 1.0],
            "revenue": [900.0, np.nan, np.nan, 5.0],
        }
    )
    feedback.loc[1, ["inspected", "illicit", "revenue"]] = declarations.loc[
        2_500, ["inspected", "illicit", "revenue"]
    ].to_numpy()
    with Client(scheduler) as client:
        # Partitions as the loader makes them (from_pandas would retype the text columns).
        pieces = np.array_split(np.arange(len(declarations)), PARTS)
        frame = dd.from_delayed(
            [dask.delayed(declarations.iloc[rows]) for rows in pieces],
            meta=declarations.iloc[:0],
            verify_meta=False,
        )
        merged, counts = merge_feedback_dask(frame, feedback, client)
        got = merged.compute()
    assert counts == count_feedback(declarations, feedback)
    assert counts.unmatched == 1 and counts.labels_from_feedback == 3
    pd.testing.assert_frame_equal(got, merge_feedback(declarations, feedback))


def test_evaluate_on_dask_writes_the_evaluation_of_pandas(
    scheduler: str, files: dict[str, Path], dask_model, tmp_path: Path
) -> None:
    import json

    model_dir, _ = dask_model
    evaluations = {}
    for engine in ("pandas", "dask"):
        out = tmp_path / f"{engine}.json"
        status, printed, _ = _run(
            _on_engine(
                "evaluate",
                engine,
                scheduler,
                f"{files['parquet-parts']}/*.parquet",
                files,
                *("--model-dir", str(model_dir), "--json", str(out)),
            )
        )
        assert status == 0
        evaluations[engine] = json.loads(out.read_text("utf-8"))
        assert ("peak memory: client " in printed) == (engine == "dask")
    assert evaluations["dask"]["facts"]["labelled_rows"] > 0
    # Scored on the workers, evaluated on the client from the columns that came back.
    assert evaluations["dask"] == evaluations["pandas"]


def test_retrain_on_dask_measures_models_as_pandas_retrain_does(
    scheduler: str, files: dict[str, Path], tmp_path: Path
) -> None:
    import json

    config = tmp_path / "settings.toml"
    config.write_text('[training]\nregistered_model_name = "portsift-dask-retrain"\n', "utf-8")
    comparisons = {}
    for engine in ("dask", "pandas"):
        out = tmp_path / f"{engine}.json"
        status, printed, _ = _run(
            _on_engine(
                "retrain",
                engine,
                scheduler,
                files["parquet-parts"],
                files,
                *("--holdout-days", "60", "--model-dir", str(tmp_path / f"{engine}-model")),
                *("--json", str(out), "--config", str(config)),
            )
        )
        assert status == 0, printed
        comparisons[engine] = json.loads(out.read_text("utf-8"))
    on_dask, on_pandas = comparisons["dask"], comparisons["pandas"]
    # No champion yet: the Dask challenger became it, and the pandas retrain measured that
    # same bundle on the same shared rows: the same results, computed by the other engine.
    assert on_dask["models"]["champion"] is None
    assert on_dask["decision"]["alias"] == "champion"
    dask_challenger = on_dask["models"]["challenger"]
    assert on_pandas["models"]["champion"]["model_version"] == dask_challenger["model_version"]
    assert on_pandas["models"]["champion"]["holdout"] == dask_challenger["holdout"]
    assert on_pandas["holdout"] == on_dask["holdout"]


def test_random_inspections_are_read_on_the_workers_as_on_the_client(
    scheduler: str, tmp_path: Path
) -> None:
    import argparse

    from distributed import Client

    from portsift.commands.monitor_impl import read_random_ids
    from portsift.commands.steps import read_inputs
    from tests.features.input_files import HEADER, good_rows, write

    directory = tmp_path / "parts"
    directory.mkdir()
    rows = [f"{r},{i % 3 == 0:d}" for i, r in enumerate(good_rows(12))]
    rows[6] = rows[6].replace("61091000", "bad")  # part 2, row 1 (marked): set aside
    for number, chunk in enumerate((rows[:4], rows[4:8], rows[8:])):
        text = "\n".join([HEADER + ",random_inspection", *chunk]) + "\n"
        write(directory, f"part-{number}.csv", text)
    args = argparse.Namespace(
        declarations=str(directory),
        schema=None,
        skip_invalid=True,
        config=None,
        enterprises=None,
        lab_results=None,
        commodities=None,
    )
    expected = ("random_inspection", [f"D{i + 1}" for i in range(12) if i % 3 == 0 and i != 6])
    assert read_random_ids(args, read_inputs(args), None) == expected
    with Client(scheduler) as client:
        inputs = read_inputs(args, client=client)
        assert read_random_ids(args, inputs, client) == expected


def test_monitor_on_dask_gives_the_dashboard_and_summary_of_pandas(
    scheduler: str, files: dict[str, Path], dask_model, tmp_path: Path
) -> None:
    import json

    model_dir, _ = dask_model
    # Every part marks its random inspections: the label drift of the random sample.
    parts = tmp_path / "parts"
    parts.mkdir()
    for number, part in enumerate(sorted(files["parquet-parts"].iterdir())):
        table = pd.read_parquet(part)
        table["random_inspection"] = ((np.arange(len(table)) + number) % 7 == 0).astype(int)
        table.to_parquet(parts / part.name, index=False)
    outputs = {}
    for engine in ("pandas", "dask"):
        out = tmp_path / f"{engine}.html"
        status, _, _ = _run(
            _on_engine(
                "monitor",
                engine,
                scheduler,
                parts,
                files,
                *("--model-dir", str(model_dir), "--out", str(out)),
                *("--json", str(tmp_path / f"{engine}.json"), "--no-mlflow", "--quiet"),
            )
        )
        outputs[engine] = (
            status,
            json.loads((tmp_path / f"{engine}.json").read_text("utf-8")),
            out.read_text("utf-8"),
        )
    assert outputs["dask"][0] in (0, 3)
    summary = outputs["dask"][1]
    assert summary["labels"]["sample"] == "random"
    assert summary["psi"] and summary["recent"]["rows"] > 0
    # Counted on the workers, added up on the client: the same figures and dashboard.
    assert outputs["dask"] == outputs["pandas"]
