"""Pack the scoring API into a bento: the request path of ``portsift``, in its import layout.

The repository keeps each stage in a top-level folder that the installed package maps
into ``portsift`` (``features/`` is ``portsift.features``), so ``bentoml build`` cannot
copy the folders as they are. This stages the request path in the installed layout,
``portsift/{features,models,store,reports,monitoring,serving}`` (their modules, the
``serving.console`` package, and the Jinja templates of the reports and of the officer
console, which the service serves at ``/console``) with ``portsift/settings.py`` and
``portsift/settings.toml``, next to a copy of the repository's ``bentofile.yaml``, and
builds the bento from there. Training, the generator and the CLI stay out of it. Run it
with ``make bento`` or::

    python -m portsift.serving.packaging [--output tag]
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The stages the service imports (``portsift.<name>``), copied into the bento; the
#: officer console renders with the reports' templates and the monitoring statistics.
REQUEST_PATH = ("features", "models", "store", "reports", "monitoring", "serving")
#: What of a stage's folder is copied: its modules and subpackages, and templates.
STAGED_FILES = ("**/*.py", "**/templates/*.j2")
#: Files of the ``portsift`` package itself that the request path needs.
PACKAGE_FILES = ("__init__.py", "settings.py", "settings.toml")
#: Every stage of the package (the import-layer check stages them all).
ALL_STAGES = (*REQUEST_PATH, "synthetic", "training")


def package_dir(name: str = "") -> Path:
    """The directory of ``portsift`` or of one of its stages (source or installed)."""
    module = importlib.import_module("portsift" + (f".{name}" if name else ""))
    assert module.__file__ is not None
    return Path(module.__file__).resolve().parent


def stage(
    target: Path,
    bentofile: Path | None = None,
    *,
    stages: tuple[str, ...] = REQUEST_PATH,
    package_files: tuple[str, ...] = PACKAGE_FILES,
) -> Path:
    """Copy stages of ``portsift``, in the installed layout, and the bentofile into ``target``.

    Args:
        target: An empty or missing directory.
        bentofile: The ``bentofile.yaml`` to build with; None for none.
        stages: The stages to copy (default: the request path).
        package_files: Files of ``portsift`` itself to copy.

    Returns:
        ``target``.
    """
    root = target / "portsift"
    root.mkdir(parents=True, exist_ok=True)
    for name in package_files:
        shutil.copy2(package_dir() / name, root / name)
    for stage_name in stages:
        source_dir = package_dir(stage_name)
        destination = root / stage_name
        destination.mkdir(exist_ok=True)
        for pattern in STAGED_FILES:
            for source in sorted(source_dir.glob(pattern)):
                relative = source.relative_to(source_dir)
                if "__pycache__" in relative.parts:
                    continue
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination / relative)
    if bentofile is not None:
        shutil.copy2(bentofile, target / "bentofile.yaml")
    return target


def main(argv: list[str] | None = None) -> int:
    """Stage the request path and run ``bentoml build`` on it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bentofile",
        type=Path,
        default=Path("bentofile.yaml"),
        help="the bentofile (default: bentofile.yaml of the current directory)",
    )
    parser.add_argument("--output", choices=["tag", "default"], default="default")
    args = parser.parse_args(argv)
    args.bentofile = args.bentofile.resolve()
    if not args.bentofile.is_file():
        print(f"packaging: {args.bentofile}: no such bentofile", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="portsift-bento-") as scratch:
        context = stage(Path(scratch) / "context", args.bentofile)
        # BentoML reads only files below its working directory.
        command = [sys.executable, "-m", "bentoml", "build", ".", "--output", args.output]
        return subprocess.run(command, cwd=context, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
