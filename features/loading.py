"""Reading the input tables of ``docs/contract.md`` into typed frames.

Each loader reads a file as text (so that validation sees the values as the user
wrote them), maps its layout onto the canonical fields of :mod:`portsift.features.contract`,
parses and validates every column, and returns a :class:`LoadedTable`. A table
with invalid rows is rejected as a whole with one :class:`InputError`, unless
``skip_invalid`` asks for those rows to be set aside in ``LoadedTable.rejected``.

Which file column is which field is decided in :mod:`portsift.features.layouts`; how each
column is parsed and the rows judged, in :mod:`portsift.features.columns`. This module
reads the files and the JSON records and puts the two together, per table.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from portsift.features import contract
from portsift.features.columns import (
    FILE_WORDING,
    RECORD_WORDING,
    Wording,
    extra_columns,
    parse_columns,
    validate_columns,
)
from portsift.features.contract import Field
from portsift.features.layouts import (
    Layout,
    absent_note,
    declaration_layout,
    missing_required,
    own_names,
    quoted,
    require_columns,
    unused_note,
)
from portsift.features.schema_file import read_schema_file
from portsift.features.validation import (
    InputError,
    Problem,
)
from portsift.features.writing import table_format

#: The key that identifies a row of each table (none for lab results: a declaration
#: may have several reports). Checked within a file here and across parts in
#: :mod:`portsift.features.parts`.
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "declarations": ("declaration_id",),
    "enterprises": ("enterprise_id", "tier_since"),
    "commodities": ("hs_prefix",),
    "disclosures": ("disclosure_id",),
    "rulings": ("ruling_id",),
}

#: pandas' default string dtype (``str``): Arrow-backed, NaN for missing.
_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


@dataclass(frozen=True)
class LoadedTable:
    """A validated input table.

    Attributes:
        frame: Canonical column names, typed, only the valid rows, in the original
            order, with a fresh ``RangeIndex``.
        rejected: Rows set aside by ``skip_invalid``: ``source_file``, ``row``
            (1-based data row), ``reason``, then the raw values under the file's
            column names. No rows if none were set aside.
        layout: ``"canonical"``, ``"bacuda"`` or ``"schema"`` for declarations;
            the table kind (``"enterprises"``, ``"lab_results"``, ``"commodities"``,
            ``"disclosures"``, ``"rulings"``) for the registers.
        notes: One-line messages to print once.
        extra_categorical: ``[features] categorical`` columns of a schema file,
            named as in the file.
        extra_numeric: ``[features] numeric`` columns, named as in the file.
        columns: Canonical field -> the file's column it was read from (messages
            about a field name the column the user can find).
    """

    frame: pd.DataFrame
    rejected: pd.DataFrame
    layout: str
    notes: tuple[str, ...]
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------------- reading


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table (by suffix) with every column as text.

    CSV values are kept exactly as written (no value is read as missing, so that
    an id ``NA`` survives); Parquet values are rendered as text the same way,
    integral floats without ``.0``, so both formats validate identically. Header
    names are stripped of surrounding spaces.

    Args:
        path: ``.csv``, ``.parquet`` or ``.pq`` file.

    Returns:
        One ``str`` column per file column, ``""`` for an empty value.

    Raises:
        InputError: Unknown suffix, missing or unreadable file, no header, duplicate
            column names, or text that is not UTF-8.
    """
    source = str(path)
    file = Path(path)
    kind = table_format(file)
    if not file.exists():
        raise InputError(f"{source}: file not found.", file=source)
    if not file.is_file():
        raise InputError(f"{source}: not a file.", file=source)
    if kind == "csv":
        return _read_csv(file, source)
    return _read_parquet(file, source)


def _read_csv(file: Path, source: str) -> pd.DataFrame:
    names = _unique_names(_read_header(file, source), source)
    options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )
    try:
        # The header is read (and checked) above, so Arrow skips it and takes our names.
        table = pacsv.read_csv(
            file,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=options,
        )
    except pa.ArrowInvalid as exc:
        message = f"{source}: cannot read the CSV file: {_arrow_message(exc)}."
        raise InputError(message, file=source) from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read the file: {exc}.", file=source) from None
    return _to_frame(table)


def _read_header(file: Path, source: str) -> list[str]:
    try:
        # utf-8-sig: Excel writes a byte-order mark in front of UTF-8 CSV files.
        with file.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        raise InputError(_not_utf8(source), file=source) from None
    except (OSError, csv.Error) as exc:
        raise InputError(f"{source}: cannot read the header row: {exc}.", file=source) from None
    if not any(name.strip() for name in header):
        raise InputError(f"{source}: the file is empty (no header row).", file=source)
    return header


def _not_utf8(source: str) -> str:
    return (
        f"{source}: the file is not UTF-8 text. Save it as UTF-8 "
        "(a file from Excel or a Chinese system may be in GBK)."
    )


def _arrow_message(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".")
    if "invalid UTF8" in text or "invalid utf8" in text.lower():
        return "the file is not UTF-8 text (save it as UTF-8; it may be in GBK)"
    return text


def _unique_names(header: Sequence[object], source: str) -> list[str]:
    names = [str(name).strip() or f"unnamed_{i + 1}" for i, name in enumerate(header)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            f"{source}: the header names column(s) {quoted(repeated)} more than once.",
            file=source,
            column=repeated[0],
        )
    return names


def _read_parquet(file: Path, source: str) -> pd.DataFrame:
    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{source}: not a readable Parquet file: {exc}.", file=source) from None
    names = _unique_names(table.column_names, source)
    try:
        columns = [_as_text(table.column(i), name, source) for i, name in enumerate(names)]
    except pa.ArrowInvalid as exc:
        raise InputError(f"{source}: {_arrow_message(exc)}.", file=source) from None
    return _to_frame(pa.table(columns, names=names))


def _as_text(column: pa.ChunkedArray, name: str, source: str) -> pa.ChunkedArray:
    """Render an Arrow column as the text a CSV file would hold ("" for null)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    kind = column.type
    if pa.types.is_nested(kind):
        raise InputError(
            f"{source}: column '{name}' holds lists or records; a table column holds "
            "one value per row.",
            file=source,
            column=name,
        )
    if pa.types.is_floating(kind):
        # NaN is Parquet's usual "missing" for floats; Arrow would print it as "nan".
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, kind), column)
    return pc.fill_null(pc.cast(column, pa.large_string()), "")


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(
        types_mapper={pa.string(): _STR_DTYPE, pa.large_string(): _STR_DTYPE}.get
    )
    return frame.reset_index(drop=True)


# ------------------------------------------------------------------ declarations


def load_declarations(
    path: str | Path,
    *,
    schema_path: str | Path | None = None,
    skip_invalid: bool = False,
    require_labels: bool = True,
    bounds: Mapping[str, float] | None = None,
) -> LoadedTable:
    """Read and validate a declarations table (contract section 1.1).

    The layout is the schema file's if one is given, else BACUDA when the header
    has :data:`contract.BACUDA_SIGNATURE`, else canonical. In every layout the
    label fields (:data:`contract.LABEL_FIELDS`) are optional columns, and an empty
    label cell is a missing value (NaN).

    Args:
        path: CSV or Parquet file.
        schema_path: Optional ``--schema`` TOML file mapping another layout.
        skip_invalid: Set invalid rows aside instead of rejecting the table.
        require_labels: Whether a label field the schema file maps must be a column
            of the file (training, evaluation). ``False`` for scoring: new
            declarations have no outcomes yet, so a mapped label column the file
            lacks is read as absent.
        bounds: The largest plausible value of each numeric field (default:
            ``[input_bounds]`` of the settings in force); a value above it is invalid.

    Returns:
        The typed declarations, with the label rules applied.

    Raises:
        InputError: Unreadable file or schema, a required column missing, no data
            rows, or (without ``skip_invalid``) any invalid row.
    """
    source = str(path)
    schema = read_schema_file(schema_path) if schema_path is not None else None
    raw = read_table(path)
    layout = declaration_layout(list(raw.columns), source, schema, require_labels)
    if raw.empty:
        raise InputError(f"{source}: the table has no data rows.", file=source)
    return _load_declaration_frame(raw, layout, source, skip_invalid, FILE_WORDING, bounds)


def declarations_from_records(
    records: list[dict],
    *,
    source: str = "request",
    extra_categorical: Sequence[str] = (),
    extra_numeric: Sequence[str] = (),
    bounds: Mapping[str, float] | None = None,
) -> LoadedTable:
    """Validate declarations given as JSON objects, as :func:`load_declarations` does.

    Keys are canonical field names. The inline lab report fields
    (:data:`contract.INLINE_LAB_FIELDS`) are validated and kept when present, and
    so are the extra feature columns a model was trained with. Any invalid value
    rejects the whole request (an API has no ``--skip-invalid``).

    Args:
        records: Declaration objects; rows in messages are their 1-based positions.
        source: Name of the input in messages.
        extra_categorical: Extra categorical feature keys to keep (a model trained
            with a schema file's ``[features]``).
        extra_numeric: Extra numeric feature keys to keep.
        bounds: The largest plausible value of each numeric field (default:
            ``[input_bounds]`` of the settings in force).

    Returns:
        The typed declarations (``rejected`` always empty).

    Raises:
        InputError: Not a non-empty list of flat objects, a required field missing,
            or an invalid value (``rows`` holds the record positions).
    """
    raw = _records_frame(records, source)
    header = list(raw.columns)
    columns = {name: name for name in _record_field_names() if name in header}
    layout = Layout(
        name="canonical",
        columns=columns,
        categorical=tuple(c for c in extra_categorical if c in header),
        numeric=tuple(c for c in extra_numeric if c in header),
    )
    missing = missing_required(layout.columns)
    if missing:
        raise InputError(
            f"{source}: missing required field(s) {quoted(missing)}.",
            file=source,
            column=missing[0],
        )
    return _load_declaration_frame(raw, layout, source, False, RECORD_WORDING, bounds)


def _record_field_names() -> list[str]:
    return contract.field_names(contract.DECLARATION_FIELDS) + list(contract.INLINE_LAB_FIELDS)


def _inline_lab_fields() -> tuple[Field, ...]:
    # On a declaration the lab report is optional as a whole, so none of its fields is required.
    return tuple(
        dataclasses.replace(f, required=False)
        for f in contract.LAB_RESULT_FIELDS
        if f.name in contract.INLINE_LAB_FIELDS
    )


def _load_declaration_frame(
    raw: pd.DataFrame,
    layout: Layout,
    source: str,
    skip_invalid: bool,
    wording: Wording,
    bounds: Mapping[str, float] | None,
) -> LoadedTable:
    fields = contract.DECLARATION_FIELDS + _inline_lab_fields()
    columns = parse_columns(fields, layout, bounds) + extra_columns(layout)
    frame, rejected, notes = validate_columns(
        raw,
        columns,
        source=source,
        unique=(UNIQUE_KEYS["declarations"],),
        skip_invalid=skip_invalid,
        wording=wording,
    )
    if frame.empty:
        raise InputError(
            f"{source}: all {len(raw)} rows are invalid; nothing is left to use. "
            + "; ".join(notes),
            file=source,
        )
    frame, label_notes = _apply_labels(frame, source)
    # A derived `inspected` goes where the contract has it, not at the end.
    order = [f.name for f in fields if f.name in frame.columns]
    frame = frame[order + [c for c in frame.columns if c not in order]]
    notes = [
        *absent_note(contract.DECLARATION_FIELDS, layout, source, exclude=contract.LABEL_FIELDS),
        *unused_note(raw, layout, source),
        *notes,
        *label_notes,
    ]
    return LoadedTable(
        frame=frame,
        rejected=rejected,
        layout=layout.name,
        notes=tuple(notes),
        extra_categorical=layout.categorical,
        extra_numeric=layout.numeric,
        columns=dict(layout.columns),
    )


def _apply_labels(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Apply the label rules of contract section 1.1.

    ``inspected`` is 1 where ``illicit`` is present when the file (or the row)
    does not say; outcomes of rows not inspected are unknown and set to missing;
    an inspected, clean row with no revenue raised none.
    """
    has = {name: name in frame.columns for name in contract.LABEL_FIELDS}
    notes: list[str] = []
    if not has["inspected"] and not has["illicit"]:
        if has["revenue"]:
            notes.append(
                f"{source}: 'revenue' is ignored: without 'inspected' or 'illicit' "
                "it is not known which rows were inspected."
            )
            frame = frame.drop(columns="revenue")
        return frame, notes
    frame = frame.copy()
    nan = pd.Series(np.nan, index=frame.index)
    illicit = frame["illicit"] if has["illicit"] else nan
    revenue = frame["revenue"] if has["revenue"] else nan
    derived = illicit.notna().astype("float64")
    if has["inspected"]:
        inspected = frame["inspected"].fillna(derived)
    else:
        inspected = derived
        notes.append(
            f"{source}: no 'inspected' column; {_rows(int(derived.sum()))} with an "
            "'illicit' value are taken as inspected."
        )
    frame["inspected"] = inspected
    carried = (inspected == 0) & (illicit.notna() | revenue.notna())
    if carried.any():
        notes.append(
            f"{source}: {_rows(int(carried.sum()))} not inspected carry 'illicit' or "
            "'revenue' values; those are ignored (set to missing)."
        )
    if has["illicit"]:
        frame["illicit"] = illicit.mask(inspected == 0)
        unknown = (inspected == 1) & frame["illicit"].isna()
        if unknown.any():
            notes.append(
                f"{source}: {_rows(int(unknown.sum()))} inspected without an 'illicit' "
                "value; their outcome is unknown."
            )
    if has["revenue"]:
        revenue = revenue.mask(inspected == 0)
        # An inspection that found nothing raised nothing.
        frame["revenue"] = revenue.mask((inspected == 1) & (illicit == 0) & revenue.isna(), 0.0)
    return frame, notes


# --------------------------------------------------------------------- registers


def load_enterprises(path: str | Path, *, skip_invalid: bool = False) -> LoadedTable:
    """Read and validate the enterprise credit register (contract section 1.2).

    ``credit_tier`` accepts the English tiers in any case and the Chinese register
    names (:data:`contract.TIER_ALIASES`) and holds the canonical English tier.

    Args:
        path: CSV or Parquet file.
        skip_invalid: Set invalid rows aside instead of rejecting the table.

    Returns:
        The typed register; ``(enterprise_id, tier_since)`` is unique.

    Raises:
        InputError: Unreadable file, a required column missing, or (without
            ``skip_invalid``) any invalid row.
    """
    return _load_register(
        path,
        contract.ENTERPRISE_FIELDS,
        kind="enterprises",
        unique=(UNIQUE_KEYS["enterprises"],),
        skip_invalid=skip_invalid,
    )


def load_lab_results(path: str | Path, *, skip_invalid: bool = False) -> LoadedTable:
    """Read and validate third-party lab results (contract section 1.3).

    ``lab_result`` is ``pass`` or ``fail`` in any case (合格 / 不合格 accepted).

    Args:
        path: CSV or Parquet file.
        skip_invalid: Set invalid rows aside instead of rejecting the table.

    Returns:
        The typed lab results (several reports per declaration are allowed).

    Raises:
        InputError: Unreadable file, a required column missing, or (without
            ``skip_invalid``) any invalid row.
    """
    return _load_register(
        path, contract.LAB_RESULT_FIELDS, kind="lab_results", unique=(), skip_invalid=skip_invalid
    )


def load_commodities(path: str | Path, *, skip_invalid: bool = False) -> LoadedTable:
    """Read and validate the commodity catalogue (contract section 1.4).

    Args:
        path: CSV or Parquet file.
        skip_invalid: Set invalid rows aside instead of rejecting the table.

    Returns:
        The typed catalogue; ``hs_prefix`` is unique.

    Raises:
        InputError: Unreadable file, a required column missing, or (without
            ``skip_invalid``) any invalid row.
    """
    return _load_register(
        path,
        contract.COMMODITY_FIELDS,
        kind="commodities",
        unique=(UNIQUE_KEYS["commodities"],),
        skip_invalid=skip_invalid,
    )


def load_disclosures(path: str | Path, *, skip_invalid: bool = False) -> LoadedTable:
    """Read and validate the register of voluntary disclosures (contract section 1.5).

    ``declaration_id`` is optional (a disclosure may concern the enterprise's trade
    rather than one declaration); ``minor`` is a 0/1 flag.

    Args:
        path: CSV or Parquet file.
        skip_invalid: Set invalid rows aside instead of rejecting the table.

    Returns:
        The typed register; ``disclosure_id`` is unique.

    Raises:
        InputError: Unreadable file, a required column missing, or (without
            ``skip_invalid``) any invalid row.
    """
    return _load_register(
        path,
        contract.DISCLOSURE_FIELDS,
        kind="disclosures",
        unique=(UNIQUE_KEYS["disclosures"],),
        skip_invalid=skip_invalid,
    )


def load_rulings(path: str | Path, *, skip_invalid: bool = False) -> LoadedTable:
    """Read and validate the register of advance rulings (contract section 1.6).

    ``kind`` is ``classification``, ``valuation`` or ``origin`` in any case (归类,
    价格, 原产地 accepted); a ruling whose ``valid_to`` is before its ``valid_from``
    is invalid.

    Args:
        path: CSV or Parquet file.
        skip_invalid: Set invalid rows aside instead of rejecting the table.

    Returns:
        The typed register; ``ruling_id`` is unique.

    Raises:
        InputError: Unreadable file, a required column missing, or (without
            ``skip_invalid``) any invalid row.
    """
    return _load_register(
        path,
        contract.RULING_FIELDS,
        kind="rulings",
        unique=(UNIQUE_KEYS["rulings"],),
        skip_invalid=skip_invalid,
        checks=(_period_check("valid_from", "valid_to"),),
    )


def _period_check(start: str, end: str) -> Callable[[Layout], Callable[[pd.DataFrame], Problem]]:
    """A check that ``end`` is not before ``start`` (rows missing either are judged already)."""

    def bind(layout: Layout) -> Callable[[pd.DataFrame], Problem]:
        def check(typed: pd.DataFrame) -> Problem:
            before = (typed[end] < typed[start]).to_numpy(dtype=bool, na_value=False)
            reason = f"a {end} before its {start}"
            return Problem(layout.columns[end], reason, before, field=end)

        return check

    return bind


def _load_register(
    path: str | Path,
    fields: tuple[Field, ...],
    *,
    kind: str,
    unique: tuple[tuple[str, ...], ...],
    skip_invalid: bool,
    checks: Sequence[Callable[[Layout], Callable[[pd.DataFrame], Problem]]] = (),
) -> LoadedTable:
    source = str(path)
    raw = read_table(path)
    header = list(raw.columns)
    layout = Layout(name=kind, columns=own_names(fields, header))
    require_columns(layout.columns, source, header, fields)
    frame, rejected, notes = validate_columns(
        raw,
        parse_columns(fields, layout),
        source=source,
        unique=unique,
        skip_invalid=skip_invalid,
        wording=FILE_WORDING,
        checks=[bind(layout) for bind in checks],
    )
    notes = [*absent_note(fields, layout, source), *unused_note(raw, layout, source), *notes]
    return LoadedTable(
        frame=frame,
        rejected=rejected,
        layout=kind,
        notes=tuple(notes),
        columns=dict(layout.columns),
    )


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


# ------------------------------------------------------------------------ records


def _records_frame(records: object, source: str) -> pd.DataFrame:
    """Turn JSON objects into the text table a file would give."""
    if not isinstance(records, list) or not records:
        raise InputError(f"{source}: expected a non-empty list of declarations.", file=source)
    for position, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputError(
                f"{source}: record {position} is not a JSON object.", file=source, rows=[position]
            )
    frame = pd.DataFrame.from_records(records)
    frame.columns = [str(c) for c in frame.columns]
    return pd.DataFrame(
        {name: _json_text(frame[name], name, source) for name in frame.columns},
        index=pd.RangeIndex(len(frame)),
    )


def _json_text(values: pd.Series, name: str, source: str) -> pd.Series:
    # JSON values are Python objects already, so a column of mixed types is rendered
    # element by element; homogeneous columns go through Arrow like Parquet columns.
    try:
        array = pa.chunked_array([pa.array(values, from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        # OverflowError: an integer beyond 64 bits (a JSON number may be any size).
        array = None
    if array is not None and not pa.types.is_nested(array.type):
        text = _as_text(array, name, source)
        return pd.Series(text.to_pandas(types_mapper={pa.large_string(): _STR_DTYPE}.get))
    nested = values.map(lambda v: isinstance(v, dict | list | tuple)).to_numpy(dtype=bool)
    if nested.any():
        position = int(np.flatnonzero(nested)[0]) + 1
        raise InputError(
            f"{source}: field '{name}' of record {position} is an object or a list; "
            "expected a single value.",
            file=source,
            column=name,
            rows=[position],
        )
    return values.map(_scalar_text).astype(_STR_DTYPE)


def _scalar_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        # A code sent as a number (610910.0) must not gain a digit from ".0".
        return str(int(value))
    return str(value)
