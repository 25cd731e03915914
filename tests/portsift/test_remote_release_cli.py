"""Measures 8 and 14 end to end: ``generate --duty-free-share`` and ``score``'s output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from portsift.cli import main
from portsift.models.scoring import POLICY_OUTPUT_COLUMNS, SCORE_COLUMNS


@pytest.fixture(scope="module")
def duty_free_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated world with offshore duty-free operators."""
    out = tmp_path_factory.mktemp("duty_free")
    args = ["generate", "--out", str(out), "--rows", "3000", "--seed", "23"]
    assert main([*args, "--duty-free-share", "0.6", "--quiet"]) == 0
    return out


def test_generate_declares_duty_free_food_and_cosmetics_under_1741(duty_free_world: Path) -> None:
    declarations = pd.read_csv(duty_free_world / "declarations.csv", dtype=str)
    duty_free = declarations[declarations["trade_mode"] == "1741"]
    assert len(duty_free) > 30
    headings = {"1901", "2106", "2203", "2204", "2208", "3303", "3304", "3305"}
    assert set(duty_free["hs_code"].str[:4]) <= headings
    # The same goods of the other importers stay general trade.
    same_goods = declarations["hs_code"].str[:4].isin(headings)
    assert (declarations.loc[same_goods, "trade_mode"] == "0110").sum() > 0


def test_generate_refuses_a_share_outside_zero_to_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "g"
    status = main(["generate", "--out", str(out), "--rows", "200", "--duty-free-share", "1.5"])
    assert status == 2
    assert "--duty-free-share must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert not out.exists()


def test_score_writes_release_condition_and_counts_the_measures(
    trained_model_dir: Path,
    duty_free_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "scores.csv"
    registers = [
        f"--{name.replace('_', '-')}={duty_free_world / f'{name}.csv'}"
        for name in ("enterprises", "lab_results", "commodities")
    ]
    status = main(
        [
            "score",
            "--model-dir",
            str(trained_model_dir),
            "--declarations",
            str(duty_free_world / "declarations.csv"),
            *registers,
            "--rate",
            "0.3",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    console = capsys.readouterr().out
    scores = pd.read_csv(out, dtype=str, keep_default_na=False)
    # Always present, the last of the columns every run writes.
    assert list(scores.columns) == [*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS]
    assert list(scores.columns)[-1] == "release_condition"
    counts = scores["release_condition"].value_counts().to_dict()
    assert set(counts) == {"", "conditional_early_release", "conditional_release"}
    released = scores[scores["release_condition"] == "conditional_release"]
    declarations = pd.read_csv(duty_free_world / "declarations.csv", dtype=str)
    trade_mode = declarations.set_index("declaration_id")["trade_mode"]
    assert (trade_mode.loc[released["declaration_id"]] == "1741").all()
    assert released["reasons"].str.contains("conditional release").all()
    remote = scores["lane"] == "red_remote"
    assert remote.sum() > 0 and (scores.loc[remote, "selected"] == "1").all()
    assert (scores.loc[remote, "inspection_deadline_hours"] == "8.0").all()
    # The console counts both; the selection count is the budget, remote ones included.
    assert f"{int(remote.sum()):,} of the selected by remote video inspection" in console
    assert f"'conditional_release': {counts['conditional_release']}" in console
    assert (scores["selected"] == "1").sum() == round(0.3 * len(scores))


@pytest.mark.parametrize(
    ("section", "field"),
    [
        (
            '[selection.remote_inspection]\nenabled = true\ncredit_tiers = ["regular"]\n'
            'inspection_hours = 8\nsource = "s"\nsource_zh = "s"\n'
            '[[selection.remote_inspection.goods]]\nname = "m"\nname_zh = "m"\n'
            'hs_prefixes = ["8x"]\n',
            "selection.remote_inspection.goods.0.hs_prefixes",
        ),
        (
            '[selection.release]\nenabled = true\nsource = "s"\nsource_zh = "s"\n'
            '[selection.release.early]\nlanes = ["green"]\nhs_prefixes = ["61"]\n'
            '[selection.release.duty_free]\nlanes = ["red"]\nhs_prefixes = ["3304"]\n',
            "selection.release.early.lanes.0",
        ),
    ],
)
def test_score_refuses_bad_measure_settings(
    trained_model_dir: Path,
    duty_free_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    field: str,
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(section, encoding="utf-8")
    out = tmp_path / "scores.csv"
    status = main(
        [
            "score",
            "--config",
            str(config),
            "--model-dir",
            str(trained_model_dir),
            "--declarations",
            str(duty_free_world / "declarations.csv"),
            "--out",
            str(out),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert f"{config}: invalid settings" in err and field in err
    assert not out.exists()
