"""``portsift audit import``: a score output's decisions on record, so that outcomes count."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from portsift.cli import main
from portsift.commands.helpers import EXIT_BAD_INPUT
from portsift.serving.api_models import declaration_json
from portsift.serving.feedback import UnknownDeclarationError, record_outcome
from portsift.store.audit import AuditStore
from portsift.store.audit_records import input_hash

ROWS = 40


@pytest.fixture
def scored(data_files: Any, trained_model_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The first rows of the shared declarations and their ``portsift score`` output."""
    with data_files.declarations.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
        fields = reader.fieldnames
    declarations = tmp_path / "declarations.csv"
    with declarations.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields or []))
        writer.writeheader()
        writer.writerows(rows)
    scores = tmp_path / "scores.csv"
    command = ["score", "--model-dir", str(trained_model_dir), "--declarations"]
    assert main([*command, str(declarations), "--out", str(scores), "--quiet"]) == 0
    return declarations, scores


def _import(declarations: Path, scores: Path, model_dir: Path, url: str, *more: str) -> int:
    return main(
        [
            "audit",
            "import",
            "--scores",
            str(scores),
            "--declarations",
            str(declarations),
            "--model-dir",
            str(model_dir),
            "--audit-url",
            url,
            *more,
        ]
    )


def test_imported_decisions_take_outcomes(
    scored: tuple[Path, Path],
    trained_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    declarations, scores = scored
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditStore.from_url(url) as store, pytest.raises(UnknownDeclarationError):
        record_outcome(
            store,
            {"declaration_id": "D00000001", "inspected": 1},
            credential="console",
            max_revenue_to_declared_value=10.0,
        )
    assert _import(declarations, scores, trained_model_dir, url, "--credential", "batch-7") == 0
    assert f"imported {ROWS} decision(s)" in capsys.readouterr().out
    with declarations.open(encoding="utf-8", newline="") as handle:
        inputs = {row["declaration_id"]: row for row in csv.DictReader(handle)}
    with scores.open(encoding="utf-8", newline="") as handle:
        score_rows = list(csv.DictReader(handle))
    with AuditStore.from_url(url) as store:
        assert store.count_decisions() == ROWS
        on_record = store.latest_decisions(inputs)
        assert set(on_record) == set(inputs)
        first = score_rows[0]
        stored = on_record[first["declaration_id"]]
        # Hashed as the API hashes the same declaration sent as JSON.
        assert stored.input_sha256 == input_hash(declaration_json(inputs[first["declaration_id"]]))
        assert stored.credential == "batch-7"
        assert stored.declared_value == float(inputs[first["declaration_id"]]["declared_value"])
        assert stored.decision["selected"] == int(first["selected"])
        assert stored.decision["risk_score"] == float(first["risk_score"])
        assert stored.policy_version == first["policy_version"]
        receipt = record_outcome(
            store,
            {"declaration_id": first["declaration_id"], "inspected": 1, "illicit": 1},
            credential="console",
            max_revenue_to_declared_value=10.0,
        )
        assert receipt["kind"] == "new"
        assert store.verify().ok

    # Importing the same file again is harmless: every row is a repeat.
    assert _import(declarations, scores, trained_model_dir, url) == 0
    assert f"0 new, 0 amendment(s), {ROWS} repeat(s)" in capsys.readouterr().out
    with AuditStore.from_url(url) as store:
        assert store.count_decisions() == ROWS


def test_bad_imports_write_nothing(
    scored: tuple[Path, Path],
    trained_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    declarations, scores = scored
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    text = scores.read_text(encoding="utf-8").splitlines()
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("\n".join([text[0], "NOT-SCORED" + text[1][text[1].index(",") :]]) + "\n")
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join([text[0], text[1], text[1]]) + "\n")
    no_policy = tmp_path / "no_policy.csv"
    no_policy.write_text("declaration_id,risk_score\nD1,0.5\n")
    for bad, needle in (
        (stranger, "does not hold (line 2)"),
        (twice, "given twice (line 3)"),
        (no_policy, "no column 'expected_revenue'"),
    ):
        assert _import(declarations, bad, trained_model_dir, url) == EXIT_BAD_INPUT
        assert needle in capsys.readouterr().err
    assert not (tmp_path / "audit.db").exists(), "a refused import created the store"
