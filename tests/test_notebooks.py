"""Every notebook under notebooks/ is stored without outputs and runs top to bottom.

The notebooks run in a kernel of the interpreter running the tests (the project's venv):
a ``python3`` kernelspec pointing at ``sys.executable`` is written to a temporary
directory placed first on ``JUPYTER_PATH``, so that a user-level or system ``python3``
kernelspec of another interpreter cannot be picked up. A probe cell put before the
notebook's own cells checks which interpreter actually ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(
    path for path in NOTEBOOK_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts
)
KERNEL_NAME = "python3"
PROBE = "import json, sys\nprint(json.dumps({'executable': sys.executable, 'prefix': sys.prefix}))"


def _notebook_id(path: Path) -> str:
    return path.relative_to(NOTEBOOK_DIR).as_posix()


@pytest.fixture
def venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``python3`` kernelspec of this interpreter, found before any other."""
    jupyter_dir = tmp_path / "jupyter"
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (portsift venv)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_dir))
    # Connection files and IPython's history go to the test's temp dir, not $HOME.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    resolved = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert resolved.argv[0] == sys.executable, resolved.argv
    return KERNEL_NAME


def test_notebooks_are_found() -> None:
    assert NOTEBOOKS, f"no notebook under {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_notebook_id)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{_notebook_id(path)}: code cells {dirty} carry outputs or execution counts; "
        "clear all outputs (Jupyter: Edit > Clear Outputs of All Cells) before committing"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_notebook_id)
def test_notebook_runs_top_to_bottom(path: Path, venv_kernel: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name=venv_kernel,
        resources={"metadata": {"path": str(REPO_ROOT)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{_notebook_id(path)}: a cell failed\n{error}", pytrace=False)
    probe = "".join(
        output.get("text", "")
        for output in notebook.cells[0].outputs
        if output.output_type == "stream" and output.name == "stdout"
    )
    kernel = json.loads(probe)
    assert kernel == {"executable": sys.executable, "prefix": sys.prefix}, (
        f"the notebook ran in {kernel}, not in this interpreter ({sys.executable})"
    )
