"""Import a portsift model bundle into the BentoML model store, and find it there.

The bundle's files (LightGBM text models and JSON, no pickle) are copied as they are, and
:func:`portsift.models.bundle.load_bundle` still verifies them against the bundle manifest when the
service loads them. The store's tag is ``portsift-risk:<model version>`` (lower case, as
BentoML tags are), so importing the same bundle twice reuses the first import. A bento
built with ``PORTSIFT_MODEL_TAG=portsift-risk:<version> bentoml build`` carries the model
(the service then names it as a ``bentoml.models.BentoModel`` class attribute).

:func:`resolve_model_uri` serves a bundle registered in MLflow instead of a directory
(``portsift serve --model-uri models:/portsift-risk@champion``): it looks the version up
in the registry (``MLFLOW_TRACKING_URI``), downloads its bundle once into a local cache
(``PORTSIFT_MODEL_CACHE``, else ``~/.cache/portsift/models``; one directory per registry
version and run, so a moved alias fetches the new version), verifies it and returns that
directory, which is then served exactly as ``--model-dir``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import bentoml
from bentoml.exceptions import NotFound

from portsift.models.bundle import MANIFEST, Bundle, BundleError, load_bundle

if TYPE_CHECKING:
    # Imported where used: a bento carries serving/ but not training/ (bentofile.yaml).
    from portsift.store.tracking import RegisteredBundle

#: Name of the bundle in the BentoML model store (as in the MLflow registry).
MODEL_NAME: Final[str] = "portsift-risk"
#: Environment variable naming the cache directory of bundles fetched from MLflow.
MODEL_CACHE_ENV: Final[str] = "PORTSIFT_MODEL_CACHE"

_MODEL_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>[0-9]+))/?")


class ModelUriError(Exception):
    """A ``models:/`` URI that names nothing servable (bad form, unknown model or alias)."""


@dataclass(frozen=True)
class ResolvedModel:
    """A registered bundle resolved to a verified local directory.

    Attributes:
        uri: The ``models:/`` URI as given.
        model_name: Registered model name.
        registry_version: The registry's version number it resolved to.
        model_version: The bundle's own version (as in every decision's ``model_version``).
        path: The verified bundle directory in the cache.
        downloaded: Whether it was fetched now (False: the cached copy was used).
    """

    uri: str
    model_name: str
    registry_version: str
    model_version: str
    path: Path
    downloaded: bool


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


def default_cache_dir() -> Path:
    """Where bundles fetched from MLflow are kept.

    Returns:
        ``PORTSIFT_MODEL_CACHE`` if set, else ``$XDG_CACHE_HOME/portsift/models`` (by
        default ``~/.cache/portsift/models``).
    """
    if os.environ.get(MODEL_CACHE_ENV):
        return Path(os.environ[MODEL_CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "portsift" / "models"


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """Split ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    Args:
        uri: The model URI.

    Returns:
        ``(name, alias, version)``, exactly one of ``alias`` and ``version`` set.

    Raises:
        ModelUriError: If the URI has neither form.
    """
    match = _MODEL_URI.fullmatch(uri.strip())
    if match is None:
        raise ModelUriError(
            f"{uri!r} is not a registered model URI: use models:/NAME@ALIAS "
            "(e.g. models:/portsift-risk@champion) or models:/NAME/VERSION"
        )
    return match["name"], match["alias"], match["version"]


def _verified(path: Path, registered: RegisteredBundle, uri: str) -> Bundle:
    """Load and verify a fetched bundle and check it is the one the registry names.

    Raises:
        BundleError: A missing or altered file (the manifest check of ``load_bundle``).
        ModelUriError: The bundle is intact but another model than the registered run's.
    """
    bundle = load_bundle(path)
    expected = registered.model_version
    if expected is not None and bundle.model_version != expected:
        raise ModelUriError(
            f"{uri}: version {registered.version} holds model {bundle.model_version}, but its "
            f"run recorded model {expected}; the registry's artefacts were replaced"
        )
    return bundle


def resolve_model_uri(
    uri: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    tracking_uri: str | None = None,
) -> ResolvedModel:
    """Resolve a registered model to a verified bundle directory in the local cache.

    The registry is asked every time (an alias may have moved); the bundle is downloaded
    only when the cache has no intact copy of that version. A copy is used only after
    :func:`portsift.models.bundle.load_bundle` has verified every file against the manifest and
    its ``model_version`` matches the one its training run recorded; a damaged cached
    copy is fetched again.

    Args:
        uri: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
        cache_dir: Cache root; defaults to :func:`default_cache_dir`.
        tracking_uri: MLflow tracking and registry URI; defaults to
            :func:`portsift.store.tracking.tracking_uri` (``MLFLOW_TRACKING_URI``).

    Returns:
        The resolved model.

    Raises:
        ModelUriError: A malformed URI, no such store, model, alias or version, a
            registry that cannot be read, or a registered bundle that fails verification.
    """
    from mlflow.exceptions import MlflowException

    from portsift.store import tracking

    name, alias, version = parse_model_uri(uri)
    if not tracking.store_exists(tracking_uri):
        store = tracking_uri or tracking.tracking_uri()
        raise ModelUriError(
            f"{uri}: no MLflow store at {store}; set MLFLOW_TRACKING_URI to the store "
            "`portsift train` recorded its runs in"
        )
    try:
        registered = tracking.find_registered_bundle(
            name, alias=alias, version=version, uri=tracking_uri
        )
    except LookupError as exc:
        raise ModelUriError(f"{uri}: {exc}") from exc
    except MlflowException as exc:
        raise ModelUriError(f"{uri}: the MLflow registry cannot be read: {exc}") from exc
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    # Keyed by the run as well: another MLflow store may have the same name and number.
    key = f"v{registered.version}-{registered.run_id or 'no-run'}"
    folder = root / re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    target = folder / key

    def resolved(bundle: Bundle, downloaded: bool) -> ResolvedModel:
        return ResolvedModel(
            uri=uri,
            model_name=name,
            registry_version=registered.version,
            model_version=bundle.model_version,
            path=target,
            downloaded=downloaded,
        )

    if target.is_dir():
        try:
            return resolved(_verified(target, registered, uri), downloaded=False)
        except (BundleError, ModelUriError):
            shutil.rmtree(target)  # our own cache entry, damaged: fetch it again
    folder.mkdir(parents=True, exist_ok=True)
    # Downloaded beside its place and renamed in, so that no half-fetched copy is cached.
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder))
    try:
        try:
            fetched = tracking.fetch_registered_bundle(registered, staging, uri=tracking_uri)
            bundle = _verified(fetched, registered, uri)
        except BundleError as exc:
            raise ModelUriError(
                f"{uri}: the bundle of version {registered.version} fails verification: {exc}"
            ) from exc
        except MlflowException as exc:
            raise ModelUriError(f"{uri}: the bundle cannot be downloaded: {exc}") from exc
        try:
            fetched.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # Another process cached the same version meanwhile: check and use its copy.
            bundle = _verified(target, registered, uri)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return resolved(bundle, downloaded=True)
