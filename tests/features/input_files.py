"""Small input files that the loader tests write, and how they read an InputError."""

from __future__ import annotations

from pathlib import Path

import pytest

from portsift.features.validation import InputError

HEADER = "declaration_id,declared_at,importer_id,hs_code,declared_value"
SKIP = "Fix them or pass --skip-invalid to set them aside."


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def declarations(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    return write(tmp_path, "declarations.csv", "\n".join([header, *rows]) + "\n")


def good_rows(n: int) -> list[str]:
    return [f"D{i},2024-01-{i % 28 + 1:02d},I{i % 3},61091000,{100 + i}" for i in range(1, n + 1)]


def error_of(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return info.value
