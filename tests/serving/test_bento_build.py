"""``bentoml build`` packs the scoring API into a bento that holds the request path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_bentoml_build_packs_the_service(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "portsift.serving.packaging", "--output", "tag"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    name, version = tag.split(":")
    bento = tmp_path / "bentoml" / "bentos" / name / version
    source = bento / "src"
    for module in (
        "portsift/settings.toml",
        "portsift/serving/service.py",
        "portsift/serving/app.py",
        "portsift/features/online.py",
        "portsift/models/policy.py",
        "portsift/store/audit.py",
        "portsift/serving/console/app.py",
        "portsift/serving/console/templates/queue.html.j2",
        "portsift/reports/templates/explanation.html.j2",
        "portsift/reports/officer.py",
        "portsift/monitoring/statistics.py",
    ):
        assert (source / module).is_file(), module
    for left_out in ("training", "synthetic", "cli.py", "commands"):
        assert not (source / "portsift" / left_out).exists(), left_out
    assert not (source / "tests").exists() and not (source / "demo").exists()
    manifest = (bento / "bento.yaml").read_text(encoding="utf-8")
    assert "portsift.serving.service:Portsift" in manifest
    requirements = (bento / "env" / "python" / "requirements.txt").read_text(encoding="utf-8")
    for package in ("lightgbm==", "pandas==", "sqlalchemy==", "argon2-cffi==", "jinja2=="):
        assert package in requirements, package


def test_the_service_module_imports_nothing_outside_the_bento() -> None:
    """The bento holds the settings, features, models, store, reports, monitoring, serving."""
    code = (
        "import sys, portsift.serving.service; "
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in ("
        "['portsift', 'training'], ['portsift', 'synthetic'], ['portsift', 'cli'], "
        "['portsift', 'commands'])); "
        "print(','.join(bad))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
