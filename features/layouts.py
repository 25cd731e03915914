"""Which column of an input file is which canonical field: the layouts and their notes.

A declarations file comes in one of three layouts (the contract's own names, the BACUDA
export, or a ``--schema`` mapping); registers use their own names. This module decides the
mapping and words what a layout lacks or leaves unread; :mod:`portsift.features.loading`
then reads and validates the mapped columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from portsift.features import contract
from portsift.features.contract import Field
from portsift.features.schema_file import SchemaFile
from portsift.features.validation import (
    InputError,
)


@dataclass(frozen=True)
class Layout:
    """How a file's columns map onto canonical fields.

    Attributes:
        name: ``canonical``, ``bacuda``, ``schema`` or a register kind.
        columns: Canonical field -> file column, for the fields the file has.
        date_format: ``strftime`` format of the dates, or ``None`` for ISO 8601.
        categorical: Extra categorical file columns kept under their own names.
        numeric: Extra numeric file columns kept under their own names.
    """

    name: str
    columns: dict[str, str]
    date_format: str | None = None
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()


def declaration_layout(
    header: list[str], source: str, schema: SchemaFile | None, require_labels: bool
) -> Layout:
    """Map a declarations file's header onto canonical fields: schema, BACUDA or own names.

    Args:
        header: The file's column names.
        source: How to name the file in messages.
        schema: The ``--schema`` mapping, if one was given.
        require_labels: Whether mapped label columns must be present (training).

    Returns:
        The layout.

    Raises:
        InputError: When a required field has no column.
    """
    if schema is not None:
        return _schema_layout(header, source, schema, require_labels)
    if set(header) >= contract.BACUDA_SIGNATURE:
        return _bacuda_layout(header)
    layout = Layout(name="canonical", columns=own_names(contract.DECLARATION_FIELDS, header))
    require_columns(layout.columns, source, header, contract.DECLARATION_FIELDS)
    return layout


def own_names(fields: tuple[Field, ...], header: Sequence[str]) -> dict[str, str]:
    """The fields that the header carries under their canonical names.

    Args:
        fields: Canonical fields.
        header: The file's column names.

    Returns:
        Field name -> column name, for the fields present.
    """
    return {name: name for name in contract.field_names(fields) if name in header}


def _bacuda_layout(header: list[str]) -> Layout:
    columns = {
        canonical: column
        for column, canonical in contract.BACUDA_COLUMNS.items()
        if column in header
    }
    # Canonical columns outside the BACUDA set (e.g. an added `inspected`) are used too.
    for name, column in own_names(contract.DECLARATION_FIELDS, header).items():
        columns.setdefault(name, column)
    return Layout(name="bacuda", columns=columns, date_format=contract.BACUDA_DATE_FORMAT)


def _schema_layout(
    header: list[str], source: str, schema: SchemaFile, require_labels: bool
) -> Layout:
    schema_source = schema.path or "the schema file"
    # Declarations to score have no outcomes yet: their mapped label columns may be absent.
    absent_labels: set[str] = set()
    for canonical, column in schema.columns.items():
        if column in header:
            continue
        if canonical in contract.LABEL_FIELDS and not require_labels:
            absent_labels.add(canonical)
            continue
        message = (
            f"{schema_source}: [columns] maps {canonical} to '{column}', but {source} "
            f"has no column '{column}' (its columns: {names_list(header)})."
        )
        if canonical in contract.LABEL_FIELDS:
            message += " Only a file to score may lack its label columns."
        raise InputError(message, file=schema_source, column=column)
    for column in schema.categorical + schema.numeric:
        if column not in header:
            raise InputError(
                f"{schema_source}: [features] lists '{column}', but {source} has no such "
                f"column (its columns: {names_list(header)}).",
                file=schema_source,
                column=column,
            )
    columns = {name: column for name, column in schema.columns.items() if name not in absent_labels}
    # A column the schema maps elsewhere is not read a second time under its own name,
    # and a label mapped to an absent column is not read from another one.
    targets = set(schema.columns.values())
    for name, column in own_names(contract.DECLARATION_FIELDS, header).items():
        if column not in targets and name not in absent_labels:
            columns.setdefault(name, column)
    missing = missing_required(columns)
    if missing:
        raise InputError(
            f"{schema_source}: required field(s) {quoted(missing)} not mapped under "
            f"[columns], and {source} has no column of that name.",
            file=schema_source,
            column=missing[0],
        )
    return Layout(
        name="schema", columns=columns, categorical=schema.categorical, numeric=schema.numeric
    )


def missing_required(
    columns: Mapping[str, str], fields: tuple[Field, ...] = contract.DECLARATION_FIELDS
) -> list[str]:
    """The required fields that no column is mapped to.

    Args:
        columns: Canonical field -> file column.
        fields: The table's fields.

    Returns:
        Their names, in contract order.
    """
    return [name for name in contract.required_names(fields) if name not in columns]


def require_columns(
    columns: Mapping[str, str], source: str, header: list[str], fields: tuple[Field, ...]
) -> None:
    """Refuse a file that lacks a required column, saying what it has.

    Args:
        columns: Canonical field -> file column.
        source: How to name the file in messages.
        header: The file's column names.
        fields: The table's fields.

    Raises:
        InputError: Naming the first missing column.
    """
    missing = missing_required(columns, fields)
    if not missing:
        return
    message = (
        f"{source}: missing required column(s) {quoted(missing)} "
        f"(the file has: {names_list(header)})."
    )
    if fields is contract.DECLARATION_FIELDS:
        message += _layout_hint(header)
    raise InputError(message, file=source, column=missing[0])


def _layout_hint(header: list[str]) -> str:
    partial = contract.BACUDA_SIGNATURE & set(header)
    if partial:
        lacking = sorted(contract.BACUDA_SIGNATURE - partial)
        return (
            f" It looks like the BACUDA layout, which also needs {quoted(lacking)}; "
            "otherwise pass --schema FILE to map the columns."
        )
    return " Name the columns as in the contract, or pass --schema FILE to map them."


def absent_note(
    fields: tuple[Field, ...], layout: Layout, source: str, exclude: Sequence[str] = ()
) -> list[str]:
    """The note listing optional fields the file does not have.

    Args:
        fields: The table's fields.
        layout: The file's layout.
        source: How to name the file in messages.
        exclude: Fields not to mention.

    Returns:
        Zero or one note.
    """
    absent = [
        f.name
        for f in fields
        if not f.required and f.name not in layout.columns and f.name not in exclude
    ]
    if not absent:
        return []
    return [
        f"{source}: optional fields absent: {', '.join(absent)}; "
        "the features that need them are left out"
    ]


def unused_note(raw: pd.DataFrame, layout: Layout, source: str) -> list[str]:
    """The note listing the file's columns that nothing reads.

    Args:
        raw: The file as read.
        layout: The file's layout.
        source: How to name the file in messages.

    Returns:
        Zero or one note.
    """
    used = set(layout.columns.values()) | set(layout.categorical) | set(layout.numeric)
    unused = [str(c) for c in raw.columns if c not in used]
    if not unused:
        return []
    hint = " (a --schema file can list them under [features])" if layout.name == "schema" else ""
    return [f"{source}: columns not used: {names_list(unused)}{hint}"]


#: How many column names a note lists before "and N more".
MAX_NAMES_SHOWN = 10


def names_list(names: Sequence[str]) -> str:
    """Names joined by commas, the first :data:`MAX_NAMES_SHOWN` then "and N more".

    Args:
        names: The names.

    Returns:
        The text.
    """
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    more = len(names) - MAX_NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def quoted(names: Sequence[str]) -> str:
    """Names in single quotes, joined by commas.

    Args:
        names: The names.

    Returns:
        The text.
    """
    return ", ".join(f"'{name}'" for name in names)
