"""Import a portsift model bundle into the BentoML model store, and find it there.

The bundle's files (LightGBM text models and JSON, no pickle) are copied as they are, and
:func:`models.bundle.load_bundle` still verifies them against the bundle manifest when the
service loads them. The store's tag is ``portsift-risk:<model version>`` (lower case, as
BentoML tags are), so importing the same bundle twice reuses the first import. A bento
built with ``PORTSIFT_MODEL_TAG=portsift-risk:<version> bentoml build`` carries the model
(the service then names it as a ``bentoml.models.BentoModel`` class attribute).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Final

import bentoml
from bentoml.exceptions import NotFound

from models.bundle import MANIFEST, load_bundle

#: Name of the bundle in the BentoML model store (as in the MLflow registry).
MODEL_NAME: Final[str] = "portsift-risk"


def import_bundle(model_dir: str | os.PathLike[str], name: str = MODEL_NAME) -> str:
    """Copy a verified bundle into the BentoML model store; return its tag.

    Raises:
        BundleError: The directory is not an intact bundle.
    """
    source = Path(model_dir)
    bundle = load_bundle(source)  # verify before anything is stored
    tag = f"{name}:{bundle.model_version.lower()}"
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    files = [*json.loads((source / MANIFEST).read_text("utf-8"))["files"], MANIFEST]
    with bentoml.models.create(
        tag,
        labels={"project": "portsift", "framework": "lightgbm"},
        metadata={
            "model_version": bundle.model_version,
            "policy_version": str(bundle.metadata.get("policy_version", "")),
        },
    ) as model:
        for file in files:
            shutil.copy2(source / file, model.path_of(file))
    return str(model.tag)


def bundle_path(tag: str) -> Path:
    """The directory of a bundle imported under ``tag`` (``name:version`` or ``name:latest``)."""
    return Path(bentoml.models.get(tag).path)
