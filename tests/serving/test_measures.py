"""Measures 22 (voluntary disclosure) and 12 (advance rulings) through the API's request path.

In process, through :class:`portsift.serving.app.DecisionService` (what a BentoML worker
holds; ``tests/serving/test_service.py`` covers the HTTP layer on a real server): the
answers for disclosed and ruled declarations equal the library's scoring of the same
declarations, the registers given to ``serve`` are read again when their files change,
and a bad register file is refused at start (exit 2 naming file, column and row) and on
reload (the registers in force stay).
"""

from __future__ import annotations

import csv
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from portsift.cli import main
from portsift.features.loading import declarations_from_records
from portsift.features.pipeline import Registers
from portsift.features.validation import InputError
from portsift.models.policy import SelectionPolicy
from portsift.models.scoring import score_declarations
from portsift.serving.api_models import Decision, declaration_json
from portsift.serving.app import DecisionService
from portsift.serving.measures import MEASURE_FIELDS
from portsift.synthetic.generator import SyntheticData
from portsift.synthetic.layouts import for_csv, write_csv
from tests.measure_registers import measure_registers

#: Declarations sent to the service: the last ones of the shared data set.
SAMPLE = 420


def _write(frame: pd.DataFrame, path: Path) -> Path:
    """A register as ``portsift generate`` writes it, swapped in atomically."""
    write_csv(for_csv(frame), path)
    return path


@pytest.fixture(scope="module")
def records(data_files: Any) -> list[dict[str, Any]]:
    """The last declarations of the shared file as the JSON the API takes."""
    with data_files.declarations.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [declaration_json(row) for row in rows[-SAMPLE:]]


@pytest.fixture(scope="module")
def frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The same declarations as the loader reads them."""
    return declarations_from_records(records).frame


@pytest.fixture(scope="module")
def measures(synthetic: SyntheticData, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Disclosures and rulings (valid, expiring, expired) meeting the sample."""
    return measure_registers(synthetic, frame)


def _service(model_dir: Path, tmp_path: Path, **files: Path) -> DecisionService:
    return DecisionService.load(
        model_dir,
        audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        **{kind: str(path) for kind, path in files.items()},
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_answers_for_disclosed_and_ruled_declarations_equal_the_batch_scoring(
    trained_model_dir: Path,
    tmp_path: Path,
    records: list[dict[str, Any]],
    frame: pd.DataFrame,
    measures: tuple[pd.DataFrame, pd.DataFrame],
    lang: str,
) -> None:
    disclosures, rulings = measures
    service = _service(
        trained_model_dir,
        tmp_path,
        disclosures=_write(disclosures, tmp_path / "disclosures.csv"),
        rulings=_write(rulings, tmp_path / "rulings.csv"),
    )
    assert service.online is not None  # the compiled per-request path, not pandas
    answers = service.score(records, lang)
    for answer in answers[:20]:
        Decision.model_validate(answer)
    got = pd.DataFrame(answers)
    registers = Registers(disclosures=disclosures, rulings=rulings)
    # The real-time decision of the library on the same declarations and registers.
    online = score_declarations(
        service.bundle,
        frame,
        registers,
        rate=service.policy.rate_,
        policy=service.policy,
        lang=lang,
    ).decisions
    columns = ["declaration_id", "selected", "lane", "selection_reason", "reasons"]
    columns += ["disclosure_id", "ruling_ids", "ruling_kinds", "ruling_expiring"]
    # Measures 8 and 14 too: the lane (red_remote) and the release condition.
    columns += ["release_condition"]
    for column in columns:
        assert got[column].tolist() == online[column].tolist(), column
    for column in ("risk_score", "ruling_risk_score", "inspection_deadline_hours"):
        np.testing.assert_allclose(got[column], online[column], rtol=1e-12, err_msg=column)
    # Measure 22 as in the batch: covered declarations go to document review, outside
    # the budget, with the reason of the measure; the same disclosure as portsift score.
    batch = score_declarations(
        service.bundle,
        frame,
        registers,
        rate=0.05,
        policy=SelectionPolicy(service.policy.settings, rate=0.05),
        lang=lang,
        explain_rows=False,
    ).decisions
    disclosed = got["selection_reason"] == "disclosure"
    assert disclosed.sum() >= 40
    assert (disclosed == (batch["selection_reason"] == "disclosure")).all()
    assert (got.loc[disclosed, "lane"] == "yellow").all()
    assert (got.loc[disclosed, "selected"] == 1).all()
    assert got["disclosure_id"].tolist() == batch["disclosure_id"].tolist()
    note = "原则上不予行政处罚" if lang == "zh" else "minor: in principle no penalty"
    minor = got["disclosure_minor"] == 1
    assert got.loc[disclosed & minor, "reasons"].str.contains(note).all()
    assert not got.loc[disclosed & ~minor, "reasons"].str.contains(note).any()
    named = disclosures.set_index("disclosure_id")
    for _, row in got[disclosed].iterrows():
        entry = named.loc[row["disclosure_id"]]
        assert row["disclosed_at"] == str(entry["disclosed_at"].date())
        assert row["disclosure_minor"] == int(entry["minor"])
    assert got.loc[~disclosed, "disclosed_at"].isna().all()
    # Measure 12 as in the batch: the same rulings, kinds, expiry flags and covered risk.
    for column in ("ruling_ids", "ruling_kinds", "ruling_expiring"):
        assert got[column].tolist() == batch[column].tolist(), column
    ruled = got["ruling_ids"] != ""
    assert ruled.sum() >= 25 and got["ruling_expiring"].sum() >= 5
    kinds = got.loc[ruled, "ruling_kinds"].str.split(";")
    ends = got.loc[ruled, "ruling_valid_to"].str.split(";")
    assert (kinds.str.len() == ends.str.len()).all()
    covered = "风险已由预裁定" if lang == "zh" else "risk covered by advance ruling"
    assert got.loc[ruled, "reasons"].str.contains(covered).all()
    assert not got.loc[~ruled, "reasons"].str.contains(covered).any()


def test_without_the_registers_the_fields_are_null(
    trained_model_dir: Path, tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    answers = _service(trained_model_dir, tmp_path).score(records[:3])
    assert all(answer[name] is None for answer in answers for name in MEASURE_FIELDS)


def test_a_changed_register_file_is_put_in_force(
    trained_model_dir: Path,
    tmp_path: Path,
    synthetic: SyntheticData,
    records: list[dict[str, Any]],
    frame: pd.DataFrame,
    measures: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    assert synthetic.disclosures is not None and synthetic.rulings is not None
    disclosures_file = _write(synthetic.disclosures, tmp_path / "disclosures.csv")
    rulings_file = _write(synthetic.rulings, tmp_path / "rulings.csv")
    service = _service(
        trained_model_dir, tmp_path, disclosures=disclosures_file, rulings=rulings_file
    )
    before = pd.DataFrame(service.score(records[:100]))
    assert (before["selection_reason"] != "disclosure").all()
    assert not before["ruling_ids"].str.startswith("TR").any()
    # New files renamed over the old ones; the next batch after the check interval
    # decides with them. The declarations are sent again under new ids (a repeat of an
    # id is answered as on record).
    renamed = [{**r, "declaration_id": f"R-{r['declaration_id']}"} for r in records[:100]]
    disclosures, rulings = measures
    disclosures = disclosures.assign(declaration_id="R-" + disclosures["declaration_id"])
    _write(disclosures, disclosures_file)
    _write(rulings, rulings_file)
    assert service.register_files is not None
    service.register_files.check_seconds = 0.0
    after = pd.DataFrame(service.score(renamed))
    assert service.online is not None
    assert (after["selection_reason"] == "disclosure").sum() >= 10
    assert after["ruling_ids"].str.startswith("TR").sum() >= 5
    expected = score_declarations(
        service.bundle,
        declarations_from_records(renamed).frame,
        Registers(disclosures=disclosures, rulings=rulings),
        rate=service.policy.rate_,
        policy=service.policy,
    ).decisions
    for column in ("selected", "lane", "selection_reason", "disclosure_id", "ruling_ids"):
        assert after[column].tolist() == expected[column].tolist(), column
    # Unchanged files are not read again.
    assert not service.reload_registers()


def test_a_bad_register_file_is_refused_on_reload(
    trained_model_dir: Path,
    tmp_path: Path,
    records: list[dict[str, Any]],
    measures: tuple[pd.DataFrame, pd.DataFrame],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, rulings = measures
    rulings_file = _write(rulings, tmp_path / "rulings.csv")
    service = _service(trained_model_dir, tmp_path, rulings=rulings_file)
    assert service.register_files is not None
    in_force = service.registers.rulings
    bad = rulings.astype({"kind": "object"})
    bad.loc[3, "kind"] = "tariff"
    _write(bad, rulings_file)
    service.register_files.check_seconds = 0.0
    with caplog.at_level(logging.ERROR, logger="portsift.serving"):
        assert not service.reload_registers()
    assert service.registers.rulings is in_force
    message = caplog.text
    assert str(rulings_file) in message and "column 'kind'" in message and "row 4" in message
    # The service goes on deciding with the register it had.
    answers = service.score(records[:50])
    assert any(a["ruling_ids"].startswith("TR") for a in answers)
    # Once fixed, the file is read again.
    _write(rulings.head(len(rulings) - 1), rulings_file)
    assert service.reload_registers()
    assert len(service.registers.rulings) == len(rulings) - 1


def test_a_bad_register_file_is_refused_at_start(
    trained_model_dir: Path,
    tmp_path: Path,
    measures: tuple[pd.DataFrame, pd.DataFrame],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disclosures, _ = measures
    bad = disclosures.astype({"disclosed_at": "object"})
    bad.loc[2, "disclosed_at"] = "yesterday"
    path = _write(bad, tmp_path / "disclosures.csv")
    with pytest.raises(InputError) as refused:
        _service(trained_model_dir, tmp_path, disclosures=path)
    assert refused.value.column == "disclosed_at" and refused.value.rows == [3]

    def no_server(*args: object) -> None:  # a bad register must stop before the exec
        raise AssertionError("portsift serve started a server with a bad register")

    monkeypatch.setattr(os, "execve", no_server)
    monkeypatch.setenv("PORTSIFT_API_TOKENS", "tests score 0123456789abcdef0123456789")
    argv = ["serve", "--model-dir", str(trained_model_dir), "--disclosures", str(path)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "column 'disclosed_at'" in error and "row 3" in error


def test_serve_passes_the_register_files_to_its_workers(
    trained_model_dir: Path,
    tmp_path: Path,
    measures: tuple[pd.DataFrame, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from portsift.cli import build_parser
    from portsift.commands.serve_impl import serve_command

    disclosures, rulings = measures
    files = {
        "disclosures": _write(disclosures, tmp_path / "disclosures.csv"),
        "rulings": _write(rulings, tmp_path / "rulings.csv"),
    }
    monkeypatch.setenv("PORTSIFT_API_TOKENS", "tests score 0123456789abcdef0123456789")
    monkeypatch.setenv("PORTSIFT_ENTERPRISES", "/left/over/from/elsewhere.csv")
    argv = ["serve", "--model-dir", str(trained_model_dir), "--quiet"]
    argv += ["--disclosures", str(files["disclosures"]), "--rulings", str(files["rulings"])]
    _, env = serve_command(build_parser().parse_args(argv))
    assert env["PORTSIFT_DISCLOSURES"] == str(files["disclosures"].resolve())
    assert env["PORTSIFT_RULINGS"] == str(files["rulings"].resolve())
    assert "PORTSIFT_ENTERPRISES" not in env  # only the files of this command line
    # A worker started with that environment reads them.
    monkeypatch.setenv("PORTSIFT_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    for name in ("PORTSIFT_DISCLOSURES", "PORTSIFT_RULINGS"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("PORTSIFT_ENTERPRISES")
    service = DecisionService.from_env(trained_model_dir)
    assert service.register_files is not None
    assert sorted(service.register_files.paths) == ["disclosures", "rulings"]
    assert len(service.registers.rulings) == len(rulings)


def test_a_real_server_decides_with_the_registers_and_reloads_them(
    trained_model_dir: Path,
    tmp_path: Path,
    synthetic: SyntheticData,
    records: list[dict[str, Any]],
    measures: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    from tests.serving.conftest import start_server

    assert synthetic.rulings is not None
    disclosures, rulings = measures
    disclosures_file = _write(disclosures, tmp_path / "disclosures.csv")
    rulings_file = _write(synthetic.rulings, tmp_path / "rulings.csv")
    args = ("--disclosures", str(disclosures_file), "--rulings", str(rulings_file))
    (tmp_path / "serve").mkdir()
    server = start_server(trained_model_dir, tmp_path / "serve", args=args)
    try:
        sent = records[:120]
        answer = server.post("/score_batch", {"declarations": sent})
        assert answer.status_code == 200, answer.text
        before = pd.DataFrame(answer.json())
        assert (before["selection_reason"] == "disclosure").sum() >= 10
        assert not before["ruling_ids"].str.startswith("TR").any()
        # A new rulings file renamed over the old one: in force within the check interval.
        _write(rulings, rulings_file)
        renamed = [{**r, "declaration_id": f"S-{r['declaration_id']}"} for r in sent]
        deadline = time.monotonic() + 30
        while True:
            after = pd.DataFrame(server.post("/score_batch", {"declarations": renamed}).json())
            if after["ruling_ids"].str.startswith("TR").any() or time.monotonic() > deadline:
                break
            renamed = [{**r, "declaration_id": "S" + r["declaration_id"]} for r in renamed]
            time.sleep(0.5)
        assert after["ruling_ids"].str.startswith("TR").sum() >= 5
        assert "rulings register reloaded from" in server.log.read_text(errors="replace")
    finally:
        server.stop()
