"""Inspection feedback from the audit store as training labels (``train --feedback-from``).

The merge itself is tested on small hand-made tables. The round trip goes through the
real code paths: decisions and feedback are written by :class:`portsift.serving.app.DecisionService`
(the API's validation) into a SQLite file or a real PostgreSQL server, then ``portsift
train --feedback-from URL`` trains on a file whose labels for those declarations were
blanked or changed, and the trained bundle's fitted importer statistics are compared with
a training on the same file without feedback.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from portsift.cli import main
from portsift.serving.app import DecisionService
from portsift.serving.feedback import FeedbackError
from portsift.store.audit import AuditStore
from portsift.synthetic.generator import generate_synthetic, write_synthetic
from portsift.training.feedback import (
    FeedbackCounts,
    FeedbackSourceError,
    count_feedback,
    merge_feedback,
    read_feedback,
)

NAN = float("nan")
MODEL_NAME = "portsift-risk-feedback-test"
REVENUE = 5000.0


# ------------------------------------------------------------------------ the merge


def _declarations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "declaration_id": ["A", "B", "C", "D"],
            "declared_value": [10.0, 20.0, 30.0, 40.0],
            "inspected": [1.0, 0.0, 1.0, 1.0],
            "illicit": [0.0, NAN, 1.0, 1.0],
            "revenue": [0.0, NAN, 700.0, 50.0],
        },
        index=[10, 11, 12, 13],
    )


def _feedback(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["declaration_id", "inspected", "illicit", "revenue"])


def test_feedback_overrides_the_labels_of_the_declarations_it_names() -> None:
    declarations = _declarations()
    before = declarations.copy()
    feedback = _feedback([("B", 1, 1, 900.0), ("C", 1, 0, 0.0), ("Z", 1, 1, 5.0)])
    merged = merge_feedback(declarations, feedback)

    pd.testing.assert_frame_equal(declarations, before)  # the input is not modified
    assert list(merged.index) == [10, 11, 12, 13]  # no row added (Z), order kept
    assert merged.loc[11, ["inspected", "illicit", "revenue"]].tolist() == [1.0, 1.0, 900.0]
    assert merged.loc[12, ["inspected", "illicit", "revenue"]].tolist() == [1.0, 0.0, 0.0]
    pd.testing.assert_frame_equal(merged.loc[[10, 13]], before.loc[[10, 13]])
    assert merged["declared_value"].tolist() == before["declared_value"].tolist()


def test_merged_rows_follow_the_label_rules_of_the_contract() -> None:
    feedback = _feedback(
        [
            ("A", 0, NAN, NAN),  # not inspected after all: the outcome is unknown
            ("C", 1, 0, NAN),  # clean inspection, revenue not sent: it raised none
            ("D", 1, 1, NAN),  # violation found, revenue not known yet: stays unknown
        ]
    )
    merged = merge_feedback(_declarations(), feedback).set_index("declaration_id")
    assert merged.loc["A", "inspected"] == 0.0
    assert np.isnan(merged.loc["A", "illicit"]) and np.isnan(merged.loc["A", "revenue"])
    assert merged.loc["C", ["illicit", "revenue"]].tolist() == [0.0, 0.0]
    assert merged.loc["D", "illicit"] == 1.0 and np.isnan(merged.loc["D", "revenue"])


def test_counts_of_labels_taken_changed_and_unmatched() -> None:
    feedback = _feedback(
        [
            ("A", 1, 0, 0.0),  # the same as the file: taken, not changed
            ("B", 1, 1, 10.0),  # changed
            ("X", 1, 1, 1.0),  # not in the file
            ("Y", 0, NAN, NAN),  # not in the file
        ]
    )
    counts = count_feedback(_declarations(), feedback)
    assert counts == FeedbackCounts(feedback_rows=4, labels_from_feedback=2, changed=1, unmatched=2)
    assert counts.to_dict()["unmatched"] == 2


def test_no_match_changes_nothing() -> None:
    declarations = _declarations()
    merged = merge_feedback(declarations, _feedback([("Q", 1, 1, 1.0)]))
    pd.testing.assert_frame_equal(merged, declarations)
    empty = _feedback([]).astype({"inspected": "float64", "illicit": "float64"})
    assert count_feedback(declarations, empty) == FeedbackCounts(0, 0, 0, 0)


def test_a_file_without_labels_gets_label_columns_from_the_feedback() -> None:
    declarations = _declarations().drop(columns=["inspected", "illicit", "revenue"])
    merged = merge_feedback(declarations, _feedback([("B", 1, 1, NAN)]))
    # `inspected` everywhere (0: no label), `illicit` where known, no empty `revenue`.
    assert merged["inspected"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert merged["illicit"].isna().tolist() == [True, False, True, True]
    assert "revenue" not in merged
    with_revenue = merge_feedback(declarations, _feedback([("B", 1, 1, 30.0)]))
    assert with_revenue["revenue"].fillna(-1).tolist() == [-1.0, 30.0, -1.0, -1.0]


def test_ids_are_compared_as_text() -> None:
    declarations = _declarations().assign(declaration_id=[1, 2, 3, 4])
    merged = merge_feedback(declarations, _feedback([("2", 1, 1, 4.0)]))
    assert merged.loc[11, "illicit"] == 1.0


@pytest.mark.parametrize(
    ("feedback", "message"),
    [
        (_feedback([("A", 1, 1, 1.0), ("A", 1, 0, 0.0)]), "more than once"),
        (_feedback([("A", 2, 1, 1.0)]), "'inspected' must be 0, 1"),
        (_feedback([("A", 1, 0.5, 1.0)]), "'illicit' must be 0, 1"),
        (_feedback([("A", 1, 1, -1.0)]), "'revenue' must be >= 0"),
        (pd.DataFrame({"declaration_id": ["A"], "illicit": [1.0]}), "inspected, revenue"),
    ],
)
def test_malformed_feedback_is_refused(feedback: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        merge_feedback(_declarations(), feedback)


# ------------------------------------------------------------------ reading the store


def test_unreadable_stores_are_refused_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "audit.db"
    with pytest.raises(FeedbackSourceError, match="no such SQLite file"):
        read_feedback(f"sqlite:///{missing}")
    assert not missing.parent.exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(FeedbackSourceError, match="not a portsift audit store"):
        read_feedback(f"sqlite:///{other}")
    with sqlite3.connect(other) as conn:  # no audit tables were added to a foreign file
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"t"}
    with pytest.raises(FeedbackSourceError, match="not a SQLAlchemy URL"):
        read_feedback("audit.db")
    with pytest.raises(FeedbackSourceError, match="unsupported database"):
        read_feedback("mysql://user@localhost/audit")


# ------------------------------------------------------------------------ round trip


@dataclass(frozen=True)
class Scenario:
    """The data of the round trip and the ids whose labels the feedback gives."""

    directory: Path
    registers: list[str]
    original_file: Path
    original: pd.DataFrame
    altered_file: Path
    importer: str
    blanked: list[str]
    changed: list[str]
    control_dir: Path

    @property
    def fed_back(self) -> list[str]:
        """Every declaration that gets an outcome through the feedback."""
        return [*self.blanked, *self.changed]


def _state(model_dir: Path, importer: str) -> dict[str, float]:
    """The fitted outcome totals of one importer in a bundle's feature state."""
    columns = json.loads((model_dir / "features.json").read_text("utf-8"))["state"][
        "outcome:importer"
    ]["columns"]
    table = pd.DataFrame(columns).set_index("importer_id")
    if importer not in table.index:
        return {"inspected": 0.0, "illicit": 0.0, "revenue": 0.0}
    return table.loc[importer, ["inspected", "illicit", "revenue"]].astype(float).to_dict()


def _train(args: list[str]) -> int:
    return main(["train", *args])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Generated data; one importer's labels blanked or changed in a copy of the file."""
    directory = tmp_path_factory.mktemp("feedback")
    data = generate_synthetic(rows=8000, seed=3)
    paths = write_synthetic(data, directory / "data")
    registers = [
        "--enterprises",
        str(paths["enterprises"]),
        "--lab-results",
        str(paths["lab_results"]),
        "--commodities",
        str(paths["commodities"]),
    ]
    text = {"hs_code": str, "trade_mode": str, "transport_mode": str}
    original = pd.read_csv(paths["declarations"], dtype=text)
    original["declared_at"] = pd.to_datetime(original["declared_at"])
    # Well inside the training history (the first half), so that every outcome is in
    # the fitted state whatever the hold-out and label-delay settings.
    early = original[original["declared_at"] < original["declared_at"].quantile(0.5)]
    importer = str(early["importer_id"].value_counts().index[0])
    rows = early[early["importer_id"] == importer]
    # Blanked: 4 inspected rows lose their labels, 4 uninspected stay without; changed:
    # 4 uninspected rows that the file now calls clean inspections.
    uninspected = rows[rows["inspected"] == 0]["declaration_id"]
    blanked = rows[rows["inspected"] == 1]["declaration_id"].head(4).tolist()
    blanked += uninspected.head(4).tolist()
    changed = uninspected.iloc[4:8].tolist()
    assert len(blanked) == 8 and len(changed) == 4
    altered = original.copy()
    in_blanked = altered["declaration_id"].isin(blanked)
    altered.loc[in_blanked, ["inspected", "illicit", "revenue"]] = [0, np.nan, np.nan]
    in_changed = altered["declaration_id"].isin(changed)
    altered.loc[in_changed, ["inspected", "illicit", "revenue"]] = [1, 0, 0.0]
    altered_file = directory / "declarations_altered.csv"
    altered.assign(declared_at=altered["declared_at"].dt.strftime("%Y-%m-%d")).to_csv(
        altered_file, index=False
    )
    control_dir = directory / "control"
    argv = ["--declarations", str(altered_file), *registers, "--model-dir", str(control_dir)]
    assert _train([*argv, "--no-mlflow", "--quiet"]) == 0
    return Scenario(
        directory=directory,
        registers=registers,
        original_file=paths["declarations"],
        original=original,
        altered_file=altered_file,
        importer=importer,
        blanked=blanked,
        changed=changed,
        control_dir=control_dir,
    )


@pytest.fixture(scope="module")
def serving_bundle(scenario: Scenario) -> Path:
    """A bundle for the DecisionService that records the decisions (trained on the original)."""
    model_dir = scenario.directory / "serving-model"
    source = str(scenario.original_file)
    argv = ["--declarations", source, *scenario.registers, "--model-dir", str(model_dir)]
    assert _train([*argv, "--no-mlflow", "--quiet"]) == 0
    return model_dir


#: Declarations the API decided that the training file does not hold.
UNMATCHED = ("FB-NOT-IN-FILE-1", "FB-NOT-IN-FILE-2")


def _record_through_the_api(scenario: Scenario, model_dir: Path, audit_url: str) -> None:
    """Decisions, then feedback (with one correction) through ``DecisionService``."""
    service = DecisionService.load(model_dir, audit_url=audit_url)
    try:
        rows = scenario.original[scenario.original["declaration_id"].isin(scenario.fed_back)]
        records = [
            {k: v for k, v in record.items() if pd.notna(v) and k not in {"inspected", "illicit"}}
            for record in rows.drop(columns="revenue")
            .assign(declared_at=rows["declared_at"].dt.strftime("%Y-%m-%d"))
            .to_dict("records")
        ]
        # Two more declarations the API decides but the training file does not hold: their
        # outcomes match no row of the file.
        strangers = [{**records[0], "declaration_id": u} for u in UNMATCHED]
        decisions = service.score(records + strangers)
        assert [d["declaration_id"] for d in decisions] == [
            *rows["declaration_id"].tolist(),
            *UNMATCHED,
        ]
        first = scenario.fed_back[0]
        # A first report from a field office that the console later corrects: the later
        # outcome must win.
        service.feedback(
            {"declaration_id": first, "inspected": 1, "illicit": 0, "revenue": 0},
            credential="field-office",
        )
        for declaration_id in scenario.fed_back:
            outcome = {"declaration_id": declaration_id, "inspected": 1, "illicit": 1}
            service.feedback({**outcome, "revenue": REVENUE}, credential="console")
        for unknown in UNMATCHED:
            service.feedback(
                {"declaration_id": unknown, "inspected": 0, "illicit": None}, credential="console"
            )
        # The API's validation is what guards the store: these are refused.
        with pytest.raises(FeedbackError):
            service.feedback(
                {"declaration_id": first, "inspected": 0, "illicit": 1}, credential="console"
            )
        with pytest.raises(FeedbackError, match="no decision"):
            service.feedback({"declaration_id": "NEVER-DECIDED", "inspected": 0}, credential="x")
        assert service.audit.count_decisions() == len(records) + len(UNMATCHED)
    finally:
        service.close()


def _check_training_saw_the_feedback(
    scenario: Scenario, model_dir: Path, printed: str, audit_url: str
) -> dict:
    k_blanked, k_all = len(scenario.blanked), len(scenario.fed_back)
    assert (
        f"labels of {k_all} declarations taken from it ({k_all} differ from the file); "
        f"2 of its {k_all + 2} outcomes matched no declaration"
    ) in printed
    metadata = json.loads((model_dir / "metadata.json").read_text("utf-8"))
    assert metadata["feedback"] == {
        "source": audit_url,
        "feedback_rows": k_all + 2,
        "labels_from_feedback": k_all,
        "changed": k_all,
        "unmatched": 2,
    }
    control = json.loads((scenario.control_dir / "metadata.json").read_text("utf-8"))
    assert metadata["fingerprint"]["rows"] == control["fingerprint"]["rows"]  # no row added
    assert (
        metadata["fingerprint"]["labelled_rows"]
        == control["fingerprint"]["labelled_rows"] + k_blanked
    )
    assert metadata["fingerprint"]["sha256"] != control["fingerprint"]["sha256"]
    # The model learnt from the feedback: the importer's fitted outcome totals moved by
    # exactly the feedback's outcomes against the same training without it.
    with_feedback = _state(model_dir, scenario.importer)
    without = _state(scenario.control_dir, scenario.importer)
    assert with_feedback["inspected"] - without["inspected"] == pytest.approx(k_blanked)
    assert with_feedback["illicit"] - without["illicit"] == pytest.approx(k_all)
    assert with_feedback["revenue"] - without["revenue"] == pytest.approx(k_all * REVENUE)
    return metadata


def test_train_takes_labels_from_the_feedback_of_a_sqlite_store(
    scenario: Scenario,
    serving_bundle: Path,
    mlflow_store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow import MlflowClient

    audit_url = f"sqlite:///{tmp_path / 'audit.db'}"
    _record_through_the_api(scenario, serving_bundle, audit_url)
    config = tmp_path / "settings.toml"
    config.write_text(f'[training]\nregistered_model_name = "{MODEL_NAME}"\n', "utf-8")
    model_dir = tmp_path / "model"
    capsys.readouterr()
    status = _train(
        [
            "--declarations",
            str(scenario.altered_file),
            *scenario.registers,
            "--model-dir",
            str(model_dir),
            "--feedback-from",
            audit_url,
            "--config",
            str(config),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    metadata = _check_training_saw_the_feedback(scenario, model_dir, printed, audit_url)

    client = MlflowClient(tracking_uri=mlflow_store, registry_uri=mlflow_store)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("portsift").experiment_id],
        filter_string=f"tags.`portsift.model_version` = '{metadata['model_version']}'",
    )
    assert run.data.params["feedback.labels_from_feedback"] == str(len(scenario.fed_back))
    assert run.data.params["feedback.unmatched"] == "2"
    assert run.data.params["feedback.source"] == audit_url
    assert run.data.metrics["feedback_labels"] == len(scenario.fed_back)
    assert run.data.metrics["feedback_unmatched"] == 2

    # Only the outcomes one credential sent: the field office's single, superseded one.
    office = read_feedback(audit_url, sources=["field-office"])
    assert office["declaration_id"].tolist() == [scenario.fed_back[0]]
    assert office["illicit"].tolist() == [0.0]
    both = read_feedback(audit_url, sources=["field-office", "console"])
    assert len(both) == len(read_feedback(audit_url)) == len(scenario.fed_back) + 2
    capsys.readouterr()
    refused = _train(
        [
            "--declarations",
            str(scenario.altered_file),
            "--model-dir",
            str(tmp_path / "m2"),
            "--feedback-sources",
            "console",
        ]
    )
    assert refused == 2 and "--feedback-sources needs --feedback-from" in capsys.readouterr().err


@pytest.fixture
def postgres_audit_url(postgres_url: str) -> Iterator[str]:
    """An audit-store URL on the real PostgreSQL server, in a schema dropped afterwards.

    The schema is chosen with libpq's ``options=-csearch_path=...`` in the URL, so that
    the API and ``--feedback-from`` use it through the URL alone. The server is the
    audit-store tests' (``postgres_url``: skips with the reason when none answers,
    unless ``PORTSIFT_REQUIRE_POSTGRES=1``).
    """
    schema = f"portsift_test_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(postgres_url, connect_args={"connect_timeout": 5})
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def test_train_takes_labels_from_the_feedback_of_a_postgresql_store(
    scenario: Scenario,
    serving_bundle: Path,
    postgres_audit_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _record_through_the_api(scenario, serving_bundle, postgres_audit_url)
    with AuditStore.from_url(postgres_audit_url) as store:
        assert store.dialect == "postgresql"
        assert len(store.feedback_frame()) == len(scenario.fed_back) + 2
    model_dir = tmp_path / "model"
    capsys.readouterr()
    status = _train(
        [
            "--declarations",
            str(scenario.altered_file),
            *scenario.registers,
            "--model-dir",
            str(model_dir),
            "--feedback-from",
            postgres_audit_url,
            "--no-mlflow",
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    _check_training_saw_the_feedback(scenario, model_dir, printed, postgres_audit_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///{tmp}/missing.db", "no such SQLite file"),
        ("not a url", "not a SQLAlchemy URL"),
        ("postgresql+psycopg://nobody:s3cret@127.0.0.1:1/none", "cannot read feedback from"),
    ],
)
def test_a_bad_feedback_store_exits_2_and_writes_nothing(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    model_dir = tmp_path / "model"
    status = _train(
        [
            "--declarations",
            str(scenario.altered_file),
            "--model-dir",
            str(model_dir),
            "--feedback-from",
            url.format(tmp=tmp_path),
            "--no-mlflow",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "portsift train: error: --feedback-from:" in err and message in err
    assert "s3cret" not in err  # the password is never printed
    assert not model_dir.exists() and not (tmp_path / "missing.db").exists()
