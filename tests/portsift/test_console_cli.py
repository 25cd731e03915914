"""``portsift console``: officers for /console; ``portsift serve`` checks the officers file."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from portsift.cli import build_parser, main
from portsift.commands.serve_impl import serve_command
from portsift.serving.console.officers import OFFICERS_ENV, check_password, load_officers
from portsift.serving.console.sessions import SECRET_ENV


def _add(path: Path, officer_id: str, *extra: str) -> int:
    return main(["console", "add-officer", "--officers", str(path), "--id", officer_id,
                 "--name", "王芳", *extra])  # fmt: skip


def test_add_officer_makes_a_password_printed_once_that_signs_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "officers.toml"
    assert _add(path, "hk-1", "--role", "supervisor") == 0
    printed = capsys.readouterr().out
    password = re.search(r"password of hk-1 \(shown once, not kept\): (\S+)", printed)
    assert password is not None
    assert password.group(1) not in path.read_text("utf-8")  # only its hash is kept
    [officer] = load_officers(path).values()
    assert (officer.officer_id, officer.name, officer.role) == ("hk-1", "王芳", "supervisor")
    assert check_password(officer, password.group(1))
    assert _add(path, "hk-2") == 0
    assert list(load_officers(path)) == ["hk-1", "hk-2"]


def test_add_officer_refuses_an_id_already_there_and_leaves_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "officers.toml"
    assert _add(path, "hk-1") == 0
    before = path.read_bytes()
    assert _add(path, "hk-1") == 2
    assert "officer 'hk-1' is already in the file" in capsys.readouterr().err
    assert _add(path, "bad id") == 2
    assert "field 'id'" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_add_officer_with_a_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "officers.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("a chosen passphrase\n"))
    assert _add(path, "hk-3", "--password-stdin") == 0
    assert "password of" not in capsys.readouterr().out
    [officer] = load_officers(path).values()
    assert check_password(officer, "a chosen passphrase")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert _add(path, "hk-4", "--password-stdin") == 2
    assert "at least 12 characters" in capsys.readouterr().err


def test_hash_password_prints_an_argon2_hash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["console", "hash-password", "--password-stdin"]) == 0
    assert capsys.readouterr().out.startswith("$argon2id$")


def test_serve_refuses_a_bad_officers_file_naming_officer_and_field(
    trained_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("PORTSIFT_API_TOKENS", "tests score 0123456789abcdef-token")
    officers = tmp_path / "officers.toml"
    officers.write_text('[[officer]]\nid = "a"\nname = "A"\nrole = "chief"\n', encoding="utf-8")
    code = main(["serve", "--model-dir", str(trained_model_dir), "--officers", str(officers)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(officers) in err and "officer 1: field 'role' must be one of" in err


def test_serve_passes_the_officers_file_and_needs_a_shared_secret_for_workers(
    trained_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTSIFT_API_TOKENS", "tests score 0123456789abcdef-token")
    monkeypatch.delenv(SECRET_ENV, raising=False)
    path = tmp_path / "officers.toml"
    assert _add(path, "hk-1", "--quiet") == 0
    base = ["serve", "--model-dir", str(trained_model_dir), "--officers", str(path), "--quiet"]
    _, env = serve_command(build_parser().parse_args(base))
    assert env[OFFICERS_ENV] == str(path.resolve())
    assert main([*base, "--workers", "2"]) == 2
    monkeypatch.setenv(SECRET_ENV, "x" * 40)
    _, env = serve_command(build_parser().parse_args([*base, "--workers", "2"]))
    assert env["PORTSIFT_WORKERS"] == "2"
