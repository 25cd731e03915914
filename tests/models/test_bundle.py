"""Model bundle: round trip, checksum refusal, no pickles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from portsift.features.pipeline import Registers
from portsift.models.bundle import BundleError, load_bundle
from portsift.models.scoring import score_declarations
from portsift.synthetic.generator import SyntheticData


@pytest.fixture
def bundle_copy(trained_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(trained_model_dir, target)
    return target


def test_bundle_holds_only_text_models_and_json(trained_model_dir: Path) -> None:
    names = sorted(p.name for p in trained_model_dir.iterdir())
    assert set(names) <= {
        "manifest.json",
        "risk_model.txt",
        "revenue_model.txt",
        "model.json",
        "features.json",
        "registers.json",
        "metadata.json",
    }
    for path in trained_model_dir.iterdir():
        head = path.read_bytes()[:2]
        assert head != b"\x80\x04" and head[:1] != b"\x80", f"{path.name} looks like a pickle"
        if path.suffix == ".json":
            json.loads(path.read_text("utf-8"))
        else:
            assert path.read_text("utf-8").startswith("tree")


def test_loaded_bundle_scores_like_the_saved_one(
    trained_model_dir: Path, synthetic: SyntheticData, registers: Registers
) -> None:
    bundle = load_bundle(trained_model_dir)
    again = load_bundle(trained_model_dir)
    rows = synthetic.declarations.tail(500)
    first = score_declarations(bundle, rows, registers, rate=0.05)
    second = score_declarations(again, rows, registers, rate=0.05)
    np.testing.assert_array_equal(
        first.decisions["risk_score"].to_numpy(), second.decisions["risk_score"].to_numpy()
    )


def test_altered_file_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "risk_model.txt"
    text = model.read_text("utf-8")
    model.write_text(text.replace("shrinkage=", "shrinkage=9", 1), "utf-8")
    with pytest.raises(BundleError, match="checksum does not match"):
        load_bundle(bundle_copy)


def test_altered_json_is_refused(bundle_copy: Path) -> None:
    features = bundle_copy / "features.json"
    data = json.loads(features.read_text("utf-8"))
    data["params"]["smoothing"] = 1.0
    features.write_text(json.dumps(data), "utf-8")
    with pytest.raises(BundleError, match=r"features\.json: checksum"):
        load_bundle(bundle_copy)


def test_missing_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "model.json").unlink()
    with pytest.raises(BundleError, match=r"model\.json is missing"):
        load_bundle(bundle_copy)


def test_a_directory_without_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a portsift model bundle"):
        load_bundle(tmp_path)
