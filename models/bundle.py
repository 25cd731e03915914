"""The model bundle: a self-contained directory of LightGBM text models and JSON.

Layout of a bundle directory::

    manifest.json      format version and the SHA-256 of every other file
    risk_model.txt     LightGBM classifier (text format)
    revenue_model.txt  LightGBM revenue regressor (absent without a revenue label)
    model.json         feature lists, calibration, training facts
    features.json      the fitted feature pipeline state
    registers.json     snapshot of the enterprise register and commodity catalogue (and of
                       the disclosures and rulings registers when training was given them)
    metadata.json      model version, training window, settings, evaluation

No pickle is written or read. Loading verifies the manifest first and refuses a
bundle whose files do not match it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd

from portsift.features.pipeline import FeaturePipeline, table_from_dict, table_to_dict
from portsift.features.writing import atomic_directory
from portsift.models.risk_model import RiskModel

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
RISK_MODEL = "risk_model.txt"
REVENUE_MODEL = "revenue_model.txt"


class BundleError(Exception):
    """A bundle that is missing, incomplete or altered."""


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified model bundle."""

    path: Path
    pipeline: FeaturePipeline
    model: RiskModel
    enterprises: pd.DataFrame | None
    commodities: pd.DataFrame | None
    metadata: dict[str, Any]
    disclosures: pd.DataFrame | None = None
    rulings: pd.DataFrame | None = None

    @property
    def model_version(self) -> str:
        """The version string recorded at training."""
        return str(self.metadata["model_version"])


def save_bundle(
    directory: str | Path,
    *,
    pipeline: FeaturePipeline,
    model: RiskModel,
    enterprises: pd.DataFrame | None,
    commodities: pd.DataFrame | None,
    metadata: dict[str, Any],
    disclosures: pd.DataFrame | None = None,
    rulings: pd.DataFrame | None = None,
) -> str:
    """Write a bundle atomically: into a sibling temp directory, then renamed into place.

    Args:
        directory: Target directory (replaced if it holds a bundle already).
        pipeline: The fitted feature pipeline.
        model: The fitted risk model.
        enterprises: Register snapshot to serve with, or None.
        commodities: Catalogue snapshot to serve with, or None.
        metadata: Facts to record; ``model_version`` is added.
        disclosures: Voluntary disclosures snapshot, or None (then not written, so that
            a bundle trained without them is the same as before they existed).
        rulings: Advance rulings snapshot, or None (likewise).

    Returns:
        The model version (training time plus a digest of the bundle content).
    """
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise BundleError(f"{target}: exists and is not a directory")
    files: dict[str, bytes] = {
        RISK_MODEL: model.classifier_.model_to_string().encode("utf-8"),
        "model.json": _json_bytes(model.metadata()),
        "features.json": _json_bytes(pipeline.to_dict()),
        "registers.json": _json_bytes(
            {
                "enterprises": _optional_table(enterprises),
                "commodities": _optional_table(commodities),
                **{
                    name: table_to_dict(table)
                    for name, table in (("disclosures", disclosures), ("rulings", rulings))
                    if table is not None
                },
            }
        ),
    }
    if model.regressor_ is not None:
        files[REVENUE_MODEL] = model.regressor_.model_to_string().encode("utf-8")
    content_digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()
    created = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    version = f"{created}-{content_digest[:8]}"
    files["metadata.json"] = _json_bytes({**metadata, "model_version": version})
    manifest = {
        "format": BUNDLE_FORMAT,
        "files": {name: hashlib.sha256(payload).hexdigest() for name, payload in files.items()},
    }
    with atomic_directory(target) as staging:
        for name, payload in files.items():
            (staging / name).write_bytes(payload)
        (staging / MANIFEST).write_bytes(_json_bytes(manifest))
    return version


def load_bundle(directory: str | Path) -> Bundle:
    """Load and verify a bundle.

    Args:
        directory: A directory written by :func:`save_bundle`.

    Returns:
        The verified bundle.

    Raises:
        BundleError: If the directory, the manifest or a file is missing, or a file's
            checksum does not match the manifest.
    """
    path = Path(directory)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path}: not a portsift model bundle (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        expected: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{manifest_path}: unreadable manifest: {exc}") from exc
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{manifest_path}: bundle format {manifest.get('format')!r} unsupported")
    payloads: dict[str, bytes] = {}
    for name, digest in expected.items():
        file = path / name
        if Path(name).name != name or not file.is_file():
            raise BundleError(f"{path}: bundle file {name} is missing")
        payload = file.read_bytes()
        if hashlib.sha256(payload).hexdigest() != digest:
            raise BundleError(
                f"{file}: checksum does not match the bundle manifest; the bundle was altered "
                "or damaged and is refused"
            )
        payloads[name] = payload
    for required in (RISK_MODEL, "model.json", "features.json", "registers.json", "metadata.json"):
        if required not in payloads:
            raise BundleError(f"{path}: bundle manifest lacks {required}")
    classifier = lgb.Booster(model_str=payloads[RISK_MODEL].decode("utf-8"))
    regressor = (
        lgb.Booster(model_str=payloads[REVENUE_MODEL].decode("utf-8"))
        if REVENUE_MODEL in payloads
        else None
    )
    registers = json.loads(payloads["registers.json"])
    return Bundle(
        path=path,
        pipeline=FeaturePipeline.from_dict(json.loads(payloads["features.json"])),
        model=RiskModel.from_parts(json.loads(payloads["model.json"]), classifier, regressor),
        enterprises=_restore_table(registers["enterprises"]),
        commodities=_restore_table(registers["commodities"]),
        metadata=json.loads(payloads["metadata.json"]),
        disclosures=_restore_table(registers.get("disclosures")),
        rulings=_restore_table(registers.get("rulings")),
    )


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def _optional_table(frame: pd.DataFrame | None) -> dict[str, Any] | None:
    return None if frame is None else table_to_dict(frame)


def _restore_table(data: dict[str, Any] | None) -> pd.DataFrame | None:
    return None if data is None else table_from_dict(data)
