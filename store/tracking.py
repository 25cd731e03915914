"""MLflow, wrapped: record a training run and register its bundle as champion or challenger.

Every training becomes one MLflow run (parameters, data fingerprint, metrics, artefacts)
and one version of a registered model. The bundle directory is logged as plain run
artefacts under ``bundle/`` and the model version points at that location, so no MLflow
model flavor (and no pickle) is involved. A new version gets the alias ``champion`` when
it strictly beats the current champion on the primary metric (or when there is no
comparable champion), otherwise ``challenger``; the reason is recorded as a run tag and
as the model version description. The rule itself is :mod:`portsift.store.promotion`.

MLflow is imported inside the functions, so importing this module is cheap. The first
call lowers MLflow's table-creation logger to WARNING and, unless already set, sets
``MLFLOW_DISABLE_TELEMETRY=true`` and ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import posixpath
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote

from portsift.store.promotion import (
    CHAMPION,
    SharedComparison,
    decide_alias,
    decide_shared,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
BUNDLE_ARTIFACT_PATH = "bundle"
FINGERPRINT_ARTIFACT = "data_fingerprint.json"
ALIAS_TAG = "portsift.registration.alias"
REASON_TAG = "portsift.registration.reason"
VERSION_TAG = "portsift.registration.version"
PRIMARY_METRIC_TAG = "portsift.primary_metric"
#: Run tag holding the bundle's ``model_version`` (set by ``portsift.training.train``).
MODEL_VERSION_TAG = "portsift.model_version"

# mlflow.utils.validation.MAX_PARAM_VAL_LENGTH and MAX_TAG_VAL_LENGTH in MLflow 3.17.
_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000
_TRUNCATED = "...[truncated]"
# MLflow 3.17 already keeps alembic at WARNING; this one logs table creation at INFO.
_QUIET_LOGGERS = ("mlflow.store.db.utils", "alembic")
_QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


@dataclass(frozen=True)
class Registration:
    """Outcome of registering one training run.

    Attributes:
        run_id: MLflow run that recorded the training.
        model_name: Registered model name.
        version: The new model version.
        alias: ``"champion"`` or ``"challenger"``.
        reason: Why the version got that alias, in words.
        champion_version_before: Champion version before this registration, if any.
        champion_metric_before: Its primary metric, or None if there was none to compare.
    """

    run_id: str
    model_name: str
    version: str
    alias: str
    reason: str
    champion_version_before: str | None
    champion_metric_before: float | None


def tracking_uri() -> str:
    """Return the tracking URI: ``MLFLOW_TRACKING_URI`` if set, else the local SQLite store.

    Returns:
        The tracking (and registry) URI to use.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _sqlite_path(uri: str) -> Path | None:
    """Return the absolute database path of a file-backed ``sqlite:///`` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    if raw in ("", ":memory:"):
        return None
    return Path(raw).absolute()


def _resolve(uri: str | None) -> str:
    """Return the URI to use, with a relative SQLite path made absolute against the cwd."""
    uri = uri or tracking_uri()
    db = _sqlite_path(uri)
    if db is None:
        return uri
    query = uri.partition("?")[2]
    return f"sqlite:///{db.as_posix()}" + (f"?{query}" if query else "")


def _client(uri: str) -> MlflowClient:
    """Return a quiet MlflowClient whose tracking store and registry are both ``uri``."""
    # No usage telemetry and no tqdm download bars, unless the user set these explicitly.
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    from mlflow import MlflowClient

    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    db = _sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _is_missing(exc: Exception) -> bool:
    """Tell whether an MlflowException means that the resource does not exist."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def _experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    """Return the id of experiment ``name``, creating it next to a SQLite store if missing."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # Without an artifact_location MLflow would use ./mlruns of the cwd at store creation.
    db = _sqlite_path(uri)
    location = None
    if db is not None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
        location = (db.parent / "mlartifacts" / slug).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        experiment = client.get_experiment_by_name(name)  # created concurrently
        if experiment is None:
            raise
        return experiment.experiment_id


def _clip(value: str, limit: int) -> str:
    """Truncate ``value`` to ``limit`` characters, marking the cut."""
    return value if len(value) <= limit else value[: limit - len(_TRUNCATED)] + _TRUNCATED


def _param_value(value: object) -> str:
    """Render a parameter value as an MLflow param string within the length limit."""
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    return _clip(text, _MAX_PARAM_VALUE)


def _champion_state(
    client: MlflowClient, model_name: str, metric: str
) -> tuple[str | None, float | None]:
    """Return the champion version and its finite ``metric`` (each None if unavailable)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(model_name)
    except MlflowException as exc:
        if _is_missing(exc):
            return None, None
        raise
    version = model.aliases.get(CHAMPION)
    if version is None:
        return None, None
    run_id = client.get_model_version(model_name, str(version)).run_id
    value = None
    if run_id:
        try:
            value = client.get_run(run_id).data.metrics.get(metric)
        except MlflowException as exc:
            if not _is_missing(exc):
                raise
    if value is not None and not math.isfinite(value):
        value = None
    return str(version), value


def _stage_artifacts(
    staging: Path, artifacts: dict[str, Path], fingerprint: dict[str, object]
) -> None:
    """Copy the artefacts to their run-relative paths under ``staging``, plus the fingerprint."""
    for dest, src in artifacts.items():
        rel = PurePosixPath(dest)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"artifact path {dest!r} must be relative, without '..'")
        if rel.parts[0] == BUNDLE_ARTIFACT_PATH or str(rel) == FINGERPRINT_ARTIFACT:
            raise ValueError(f"artifact path {dest!r} is reserved")
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(src).is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copyfile(src, target)  # raises FileNotFoundError for a missing file
    (staging / FINGERPRINT_ARTIFACT).write_text(
        json.dumps(fingerprint, indent=2, sort_keys=True, default=str), encoding="utf-8"
    )


def record_training_run(
    *,
    experiment_name: str,
    model_name: str,
    params: dict[str, object],
    fingerprint: dict[str, object],
    metrics: dict[str, float],
    artifacts: dict[str, Path],
    bundle_dir: Path,
    primary_metric: str = "holdout_precision_at_5",
    tags: dict[str, str] | None = None,
    uri: str | None = None,
    comparison: SharedComparison | None = None,
) -> Registration:
    """Record one training as an MLflow run and register its bundle.

    Args:
        experiment_name: Experiment to record the run in; created if missing (next to
            the database for a ``sqlite:///`` store).
        model_name: Registered model name, created if missing.
        params: Training parameters; non-string values are rendered with ``str`` (JSON
            for dicts, lists and tuples) and truncated to MLflow's length limit.
        fingerprint: Data fingerprint (rows, date range, label rate, hash...), logged as
            ``data.<key>`` params and in full as ``data_fingerprint.json``.
        metrics: Evaluation metrics; must contain ``primary_metric``.
        artifacts: Run-relative destination path (e.g. ``"plots/shap_beeswarm.png"``)
            to a local file or directory.
        bundle_dir: The model bundle directory, logged as-is under ``bundle/``.
        primary_metric: Metric that decides champion or challenger (higher is better).
        tags: Extra run tags.
        uri: Tracking and registry URI; defaults to :func:`tracking_uri`.
        comparison: The new version and the champion measured on the same rows; when
            given it decides the alias (see :class:`~portsift.store.promotion.SharedComparison`) and
            ``champion_metric_before`` is the champion's value on those rows.

    Returns:
        The registration: run id, new version, its alias and the reason.

    Raises:
        ValueError: If ``primary_metric`` is missing, a fingerprint param would clash
            with a training param, or an artefact path is invalid or reserved.
        NotADirectoryError: If ``bundle_dir`` is not a directory.
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    if primary_metric not in metrics:
        raise ValueError(f"metrics lack the primary metric {primary_metric!r}")
    if not Path(bundle_dir).is_dir():
        raise NotADirectoryError(f"bundle directory {bundle_dir} does not exist")
    all_params = {key: _param_value(value) for key, value in params.items()}
    for key, value in fingerprint.items():
        name = f"data.{key}"
        if name in all_params:
            raise ValueError(f"param {name!r} clashes with the data fingerprint")
        all_params[name] = _param_value(value)

    uri = _resolve(uri)
    client = _client(uri)
    run = client.create_run(_experiment_id(client, experiment_name, uri))
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in all_params.items()],
            tags=[RunTag(k, _clip(str(v), _MAX_TAG_VALUE)) for k, v in (tags or {}).items()],
        )
        with tempfile.TemporaryDirectory(prefix="portsift-artifacts-") as staging:
            _stage_artifacts(Path(staging), artifacts, fingerprint)
            client.log_artifacts(run_id, staging)
        client.log_artifacts(run_id, str(bundle_dir), BUNDLE_ARTIFACT_PATH)

        new_value = float(metrics[primary_metric])
        before_version, before_value = _champion_state(client, model_name, primary_metric)
        if comparison is None:
            alias, reason = decide_alias(primary_metric, new_value, before_version, before_value)
        else:
            alias, reason = decide_shared(comparison, before_version)
            before_value = comparison.champion
        try:
            client.create_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = client.create_model_version(
            model_name,
            source=posixpath.join(run.info.artifact_uri, BUNDLE_ARTIFACT_PATH),
            run_id=run_id,
            tags={PRIMARY_METRIC_TAG: primary_metric},
            description=reason,
        ).version
        client.set_registered_model_alias(model_name, alias, str(version))
        for key, value in ((ALIAS_TAG, alias), (REASON_TAG, reason), (VERSION_TAG, version)):
            client.set_tag(run_id, key, _clip(str(value), _MAX_TAG_VALUE))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return Registration(
        run_id=run_id,
        model_name=model_name,
        version=str(version),
        alias=alias,
        reason=reason,
        champion_version_before=before_version,
        champion_metric_before=before_value,
    )


def log_json_artifact(run_id: str, name: str, payload: object, uri: str | None = None) -> None:
    """Log a JSON document as an artefact of an existing run.

    For results known only after :func:`record_training_run` returned (the registration
    outcome that ``portsift retrain`` records in ``comparison.json``).

    Args:
        run_id: The run.
        name: File name of the artefact, e.g. ``"comparison.json"``.
        payload: JSON-serialisable content (other values are rendered with ``str``).
        uri: Tracking URI; defaults to :func:`tracking_uri`.
    """
    client = _client(_resolve(uri))
    with tempfile.TemporaryDirectory(prefix="portsift-json-") as staging:
        path = Path(staging) / name
        path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        client.log_artifact(run_id, str(path))


@dataclass(frozen=True)
class RegisteredBundle:
    """One registered model version and where its bundle is stored.

    Attributes:
        model_name: Registered model name.
        version: Registry version number, as text.
        run_id: The MLflow run that recorded it (None if the version has none).
        source: Artifact URI of the bundle directory.
        model_version: The bundle's own ``model_version`` as tagged on the run, or None
            when the run carries no such tag.
    """

    model_name: str
    version: str
    run_id: str | None
    source: str
    model_version: str | None


def store_exists(uri: str | None = None) -> bool:
    """Tell whether the tracking store may exist: False only for a missing SQLite file.

    MLflow creates a SQLite store on first use, so a reader that only wants to look
    something up asks first instead of leaving an empty ``mlflow.db`` behind.

    Args:
        uri: Tracking URI; defaults to :func:`tracking_uri`.

    Returns:
        False when ``uri`` is a file-backed ``sqlite:///`` URI whose file is missing.
    """
    db = _sqlite_path(_resolve(uri))
    return db is None or db.is_file()


def find_registered_bundle(
    model_name: str,
    *,
    alias: str | None = None,
    version: str | None = None,
    uri: str | None = None,
) -> RegisteredBundle:
    """Look up ``models:/<model_name>@<alias>`` or ``models:/<model_name>/<version>``.

    Exactly one of ``alias`` and ``version`` is given. The lookup uses a client bound
    to ``uri``: MLflow 3.17 resolves ``models:/`` URIs against the process-wide registry
    URI, ignoring the one passed.

    Args:
        model_name: Registered model name.
        alias: Alias, e.g. ``"champion"``.
        version: Version number.
        uri: Tracking and registry URI; defaults to :func:`tracking_uri`.

    Returns:
        The version and the location of its bundle.

    Raises:
        ValueError: If not exactly one of ``alias`` and ``version`` is given.
        LookupError: If the model, the alias or the version does not exist.
    """
    from mlflow.exceptions import MlflowException

    if (alias is None) == (version is None):
        raise ValueError("give exactly one of alias and version")
    uri = _resolve(uri)
    client = _client(uri)
    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException as exc:
        if not _is_missing(exc):
            raise
        raise LookupError(f"no registered model {model_name!r} in {uri}") from exc
    if alias is not None:
        version = aliases.get(alias)
        if version is None:
            known = ", ".join(sorted(aliases)) or "none"
            raise LookupError(
                f"registered model {model_name!r} has no alias {alias!r} (aliases: {known})"
            )
    try:
        entry = client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        if not _is_missing(exc):
            raise
        raise LookupError(f"registered model {model_name!r} has no version {version}") from exc
    model_version = None
    if entry.run_id:
        try:
            model_version = client.get_run(entry.run_id).data.tags.get(MODEL_VERSION_TAG)
        except MlflowException as exc:
            if not _is_missing(exc):
                raise
    return RegisteredBundle(
        model_name=model_name,
        version=str(entry.version),
        run_id=entry.run_id or None,
        source=client.get_model_version_download_uri(model_name, str(entry.version)),
        model_version=model_version,
    )


def fetch_registered_bundle(
    registered: RegisteredBundle, dst: Path, uri: str | None = None
) -> Path:
    """Download the bundle directory of a registered version into ``dst``.

    Args:
        registered: The version, from :func:`find_registered_bundle`.
        dst: Directory to download into; created if missing.
        uri: Tracking and registry URI; defaults to :func:`tracking_uri`.

    Returns:
        Path of the downloaded bundle directory inside ``dst``.

    Raises:
        FileExistsError: If ``dst`` already holds a directory of the bundle's name.
    """
    from mlflow.artifacts import download_artifacts

    uri = _resolve(uri)
    _client(uri)  # the quiet settings, before MLflow downloads anything
    target = Path(dst) / posixpath.basename(registered.source.rstrip("/"))
    if target.exists():
        raise FileExistsError(f"{target} already exists; download into an empty directory")
    return Path(
        download_artifacts(artifact_uri=registered.source, dst_path=str(dst), tracking_uri=uri)
    )


def record_monitoring_run(
    *,
    experiment_name: str,
    params: dict[str, object],
    metrics: dict[str, float],
    artifacts: dict[str, Path],
    tags: dict[str, str] | None = None,
    uri: str | None = None,
) -> str:
    """Record one drift-monitoring run (``portsift monitor``) as an MLflow run.

    No model is registered: the run holds the PSI values as metrics and the dashboard
    and its JSON summary as artefacts, tagged with the model version monitored.

    Args:
        experiment_name: Experiment to record the run in; created if missing.
        params: Run parameters (windows, thresholds); rendered as in training runs.
        metrics: Metric name to value; non-finite values are left out (MLflow refuses
            NaN in some stores and a missing PSI is better absent than 0).
        artifacts: Run-relative destination path to a local file.
        tags: Extra run tags.
        uri: Tracking URI; defaults to :func:`tracking_uri`.

    Returns:
        The run id.
    """
    from mlflow.entities import Metric, Param, RunTag

    uri = _resolve(uri)
    client = _client(uri)
    run_id = client.create_run(_experiment_id(client, experiment_name, uri)).info.run_id
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[
                Metric(k, float(v), now, 0) for k, v in metrics.items() if math.isfinite(float(v))
            ],
            params=[Param(k, _param_value(v)) for k, v in params.items()],
            tags=[RunTag(k, _clip(str(v), _MAX_TAG_VALUE)) for k, v in (tags or {}).items()],
        )
        for dest, src in artifacts.items():
            rel = PurePosixPath(dest)
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise ValueError(f"artifact path {dest!r} must be relative, without '..'")
            folder = str(rel.parent) if str(rel.parent) != "." else None
            with tempfile.TemporaryDirectory(prefix="portsift-monitor-") as staging:
                # log_artifact keeps the source's file name; stage under the wanted name.
                staged = Path(staging) / rel.name
                shutil.copyfile(src, staged)
                client.log_artifact(run_id, str(staged), folder)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id
