"""``portsift audit verify``: what it prints, writes and exits with, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from portsift.cli import main
from portsift.commands.helpers import EXIT_BAD_INPUT, EXIT_TAMPERED
from tests.store import tamper
from tests.store.audit_rows import record

if TYPE_CHECKING:
    from tests.store.conftest import Backend


def cli_url(backend: Backend) -> str:
    """The store's URL as a user would give it: on PostgreSQL the schema via search_path."""
    if backend.schema is None:
        return backend.url
    url = sa.make_url(backend.url).update_query_dict(
        {"options": f"-c search_path={backend.schema}"}
    )
    return url.render_as_string(hide_password=False)


def filled(backend: Backend) -> None:
    store = backend.open()
    store.record_decisions([record(f"r-{n}", n) for n in range(5)])
    store.record_decisions([record("r-9", 9)])
    store.record_feedback("D000001", inspected=True, illicit=True, revenue=5.0, credential="api")


def test_an_intact_store_exits_0_and_prints_the_heads(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled(backend)
    report = tmp_path / "verify.json"
    status = main(["audit", "verify", "--audit-url", cli_url(backend), "--json", str(report)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "decisions: 6 checked, head decisions=6:" in out
    assert "feedback: 1 checked, head feedback=1:" in out
    assert out.count(": OK") == 2
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["ok"] is True
    assert [t["table"] for t in document["tables"]] == ["decisions", "feedback"]
    heads = [f"{t['table']}={t['head']}" for t in document["tables"]]
    assert f"--head {heads[0]} --head {heads[1]}" in out

    # The printed heads are accepted back; and --quiet prints nothing.
    arguments = ["audit", "verify", "--audit-url", cli_url(backend), "--quiet"]
    assert main([*arguments, "--head", heads[0], "--head", heads[1]]) == 0
    assert main([*arguments, "--head", heads[0].removeprefix("decisions=")]) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("how", ["edited", "deleted", "swapped", "truncated"])
def test_a_tampered_store_exits_4_and_names_the_row(
    backend: Backend, how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled(backend)
    prefix = backend.table_prefix
    arguments = ["audit", "verify", "--audit-url", cli_url(backend)]
    assert main([*arguments, "--json", str(tmp_path / "before.json")]) == 0
    before = json.loads((tmp_path / "before.json").read_text(encoding="utf-8"))
    head = before["tables"][0]["head"]
    capsys.readouterr()
    if how == "edited":
        tamper.run(backend, f"UPDATE {prefix}decisions SET model_version = 'm-0' WHERE id = 3")
        expected = "edited at id 3"
    elif how == "deleted":
        tamper.run(backend, f"DELETE FROM {prefix}decisions WHERE id = 2")
        expected = "missing at id 3"
    elif how == "swapped":
        tamper.swap_rows(backend, "decisions", 4, 5)
        expected = "reordered at id 4"
    else:
        tamper.run(backend, f"DELETE FROM {prefix}decisions WHERE id = 6")
        arguments += ["--head", head]
        expected = "truncated at id 6"

    report = tmp_path / "after.json"
    status = main([*arguments, "--json", str(report), "--quiet"])
    out, err = capsys.readouterr()
    assert status == EXIT_TAMPERED == 4
    assert out == ""  # --quiet: no summary, but the finding is on stderr
    assert f"tampered: decisions: {expected}" in err
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["ok"] is False
    problem = document["tables"][0]["problem"]
    assert f"{problem['kind']} at id {problem['id']}" == expected
    assert document["tables"][1]["ok"] is True

    assert main(arguments) == 4
    out, _ = capsys.readouterr()
    assert "decisions: 5 checked" in out or "decisions: 6 checked" in out
    assert f"BROKEN: {expected}" in out


def test_bad_urls_heads_and_stores_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.db"
    for arguments, message in (
        (["--audit-url", "not a url"], "does not parse"),
        (["--audit-url", "mysql+pymysql://root@127.0.0.1/test"], "unsupported"),
        (["--audit-url", f"sqlite:///{missing}"], "does not exist"),
        (
            ["--audit-url", "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"],
            "cannot open",
        ),
        (["--audit-url", f"sqlite:///{missing}", "--head", "12"], "--head"),
        (["--audit-url", f"sqlite:///{missing}", "--head", f"other=1:{'a' * 64}"], "no table"),
    ):
        assert main(["audit", "verify", *arguments]) == EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert "portsift audit: error:" in err and message in err, (arguments, err)
    assert not missing.exists(), "verify must not create a store"

    # A file that is not an audit store, and a store of the previous version, are refused
    # without being changed.
    other = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE something (x INTEGER)"))
    engine.dispose()
    assert main(["audit", "verify", "--audit-url", f"sqlite:///{other}"]) == EXIT_BAD_INPUT
    assert "no table decisions" in capsys.readouterr().err


def test_a_store_of_the_previous_version_is_refused_unchanged(
    sqlite_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.store.test_audit_upgrade import build_old_store, columns_of

    build_old_store(sqlite_backend)
    before = columns_of(sqlite_backend)
    assert main(["audit", "verify", "--audit-url", sqlite_backend.url]) == EXIT_BAD_INPUT
    assert "earlier version" in capsys.readouterr().err
    assert columns_of(sqlite_backend) == before


def test_the_command_runs_as_a_program(sqlite_backend: Backend, tmp_path: Path) -> None:
    filled(sqlite_backend)
    done = subprocess.run(
        [sys.executable, "-m", "portsift.cli", "audit", "verify"],
        env={"PORTSIFT_AUDIT_URL": sqlite_backend.url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "decisions: 6 checked" in done.stdout
    tamper.run(sqlite_backend, "UPDATE feedback SET revenue = 0.0")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "portsift.cli",
            "audit",
            "verify",
            "--audit-url",
            sqlite_backend.url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 4, done.stderr
    assert "tampered: feedback: edited at id 1" in done.stderr
