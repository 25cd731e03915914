"""The import rules of pyproject.toml's [tool.importlinter] hold (import-linter, a real run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from portsift.serving.packaging import ALL_STAGES, package_dir, stage

PROJECT = Path(__file__).resolve().parents[1]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # import-linter walks the package's directories, so it is given the installed layout
    # (the repository maps top-level folders into portsift).
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("lint-imports")),
            "--config",
            str(PROJECT / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_layers_hold(tmp_path: Path) -> None:
    files = tuple(p.name for p in package_dir().glob("*.py"))
    # portsift.commands is a subpackage of portsift/ itself, not a mapped top-level stage.
    tree = stage(tmp_path / "tree", stages=(*ALL_STAGES, "commands"), package_files=files)
    done = _lint(tree)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_a_model_importing_training_breaks_them(tmp_path: Path) -> None:
    """The check can fail: a models module that imports training is reported."""
    files = tuple(p.name for p in package_dir().glob("*.py"))
    # portsift.commands is a subpackage of portsift/ itself, not a mapped top-level stage.
    tree = stage(tmp_path / "tree", stages=(*ALL_STAGES, "commands"), package_files=files)
    bad = tree / "portsift" / "models" / "bundle.py"
    bad.write_text(bad.read_text("utf-8") + "\nfrom portsift.training import train\n", "utf-8")
    done = _lint(tree)
    assert done.returncode != 0
    assert "portsift.models.bundle -> portsift.training.train" in done.stdout
    shutil.rmtree(tree)


def test_nothing_imports_the_folders_by_their_repository_names() -> None:
    """``features``, ``models``, ... exist only as ``portsift.features``, ``portsift.models``."""
    import ast

    folders = {"features", "models", "store", "reports", "monitoring", "synthetic"}
    folders |= {"training", "serving"}
    offenders = []
    for path in sorted(PROJECT.glob("**/*.py")):
        if ".venv" in path.parts or "build" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(PROJECT)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in folders
            ]
    assert offenders == []
