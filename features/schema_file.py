"""The ``--schema`` TOML file that maps another layout onto the canonical fields.

The format is fixed by ``docs/contract.md`` (schema files)::

    [columns]            # canonical field = column name in the file
    declaration_id = "Declaration ID"

    [features]           # further columns of the file, used as model inputs as they are
    categorical = ["Process Type"]
    numeric = ["Tax Rate"]

Whether every required field is mapped can only be checked against a data file's
header, so :func:`portsift.features.loading.load_declarations` does that (naming the
schema file); here the schema is checked on its own.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portsift.features import contract
from portsift.features.validation import InputError

_SECTIONS: tuple[str, ...] = ("columns", "features")
_FEATURE_KINDS: tuple[str, ...] = ("categorical", "numeric")


@dataclass(frozen=True)
class SchemaFile:
    """A parsed schema file.

    Attributes:
        columns: Canonical field -> column name in the data file.
        categorical: Further file columns used as categorical model inputs.
        numeric: Further file columns used as numeric model inputs.
        path: The schema file as the user named it (for messages).
    """

    columns: dict[str, str]
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    path: str = field(default="", compare=False)


def reserved_names() -> frozenset[str]:
    """Names an extra feature may not take: the canonical and inline lab fields."""
    return frozenset(contract.field_names(contract.DECLARATION_FIELDS)) | frozenset(
        contract.INLINE_LAB_FIELDS
    )


def read_schema_file(path: str | Path) -> SchemaFile:
    """Read and check a schema file.

    Args:
        path: The TOML file.

    Returns:
        The mapping and the extra feature columns.

    Raises:
        InputError: The file is missing or not TOML, has an unknown section or
            canonical field, a value that is not a non-empty string, or an extra
            feature that repeats or collides with a canonical field name.
    """
    source = str(path)
    document = _read_toml(Path(path), source)
    unknown = sorted(set(document) - set(_SECTIONS))
    if unknown:
        raise InputError(
            f"{source}: unknown section(s) {_quoted(unknown)}; a schema file has "
            "[columns] (canonical field = column in the file) and [features].",
            file=source,
        )
    columns = _read_columns(document.get("columns", {}), source)
    categorical, numeric = _read_features(document.get("features", {}), source)
    return SchemaFile(columns=columns, categorical=categorical, numeric=numeric, path=source)


def _read_toml(path: Path, source: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(f"{source}: schema file not found.", file=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not a valid TOML file: {exc}.", file=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read the schema file: {exc}.", file=source) from None


def _read_columns(section: object, source: str) -> dict[str, str]:
    if not isinstance(section, dict):
        raise InputError(
            f'{source}: [columns] must be a table of canonical field = "file column".',
            file=source,
        )
    known = contract.field_names(contract.DECLARATION_FIELDS)
    unknown = [name for name in section if name not in known]
    if unknown:
        raise InputError(
            f"{source}: [columns] names unknown canonical field(s) {_quoted(unknown)}"
            f"{_suggestions(unknown, known)}. Known fields: {', '.join(known)}.",
            file=source,
            column=unknown[0],
        )
    for name, value in section.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                f"{source}: [columns] {name} must be the name of a column in the file "
                f"(a non-empty string), not {value!r}.",
                file=source,
                column=name,
            )
    # Header names are stripped when a table is read, so the mapping is too.
    return {name: value.strip() for name, value in section.items()}


def _read_features(section: object, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(section, dict):
        raise InputError(
            f"{source}: [features] must be a table with categorical = [...] and numeric = [...].",
            file=source,
        )
    unknown = [key for key in section if key not in _FEATURE_KINDS]
    if unknown:
        raise InputError(
            f"{source}: [features] has unknown key(s) {_quoted(unknown)}; "
            "use categorical = [...] and numeric = [...].",
            file=source,
        )
    lists = {kind: _string_list(section.get(kind, []), kind, source) for kind in _FEATURE_KINDS}
    every = [name for kind in _FEATURE_KINDS for name in lists[kind]]
    repeated = sorted({name for name in every if every.count(name) > 1})
    if repeated:
        raise InputError(
            f"{source}: [features] lists {_quoted(repeated)} more than once; "
            "each extra column is either categorical or numeric.",
            file=source,
            column=repeated[0],
        )
    clashing = [name for name in every if name in reserved_names()]
    if clashing:
        raise InputError(
            f"{source}: [features] column(s) {_quoted(clashing)} collide with canonical "
            "field names; map them under [columns] instead, or rename them in the file.",
            file=source,
            column=clashing[0],
        )
    return lists["categorical"], lists["numeric"]


def _string_list(value: object, kind: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(
            f"{source}: [features] {kind} must be a list of column names (non-empty "
            f"strings), not {value!r}.",
            file=source,
        )
    return tuple(v.strip() for v in value)


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _suggestions(unknown: list[str], known: list[str]) -> str:
    # A typo ("declared_val") is the usual cause; say what was probably meant.
    hints = [
        f"'{name}' -> '{match[0]}'"
        for name in unknown
        if (match := difflib.get_close_matches(name, known, n=1))
    ]
    return f" (did you mean {', '.join(hints)}?)" if hints else ""
