"""Parsing and validation of raw input columns, and the user-facing error they raise.

Every parser takes a column of raw text (as read from the file, one string per
row) and returns the typed values together with the masks of rows it found
invalid, each with a short reason. The loaders in :mod:`portsift.features.loading` decide
what to do with those rows: reject the whole table with one :class:`InputError`
naming the first offending rows, or set them aside with ``--skip-invalid``.

All work is vectorised over the column; the only Python loops run over columns
and problems, never over rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from portsift.features.plausibility import bound_reason, forbidden_mask, forbidden_reason

#: How many offending row numbers a message lists before "and N more".
MAX_ROWS_SHOWN = 5

#: Spellings of a missing value in number, flag and date columns. R writes ``NA``
#: and some exports write ``null``; in id and text columns they stay values,
#: because ``NA`` is also the country code of Namibia.
NA_TOKENS: frozenset[str] = frozenset({"na", "n/a", "#n/a", "nan", "nat", "null", "none"})

#: Accepted spellings of a 0/1 flag (compared lower-cased).
FLAG_TRUE: frozenset[str] = frozenset({"1", "1.0", "true", "yes"})
FLAG_FALSE: frozenset[str] = frozenset({"0", "0.0", "false", "no"})

#: A UTC offset after a time of day. Only an offset that follows ``HH:MM`` is
#: matched, so the ``-01`` of a plain date ``2024-01-01`` is never taken for one.
_OFFSET_PATTERN = (
    r"^(.*[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)"  # the date and time of day
    r"\s*(?:Z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)$"  # the offset, dropped
)

SKIP_HINT = "Fix them or pass --skip-invalid to set them aside."

#: The leading columns of a frame of rejected rows, before the raw values.
REJECTED_HEAD: tuple[str, ...] = ("source_file", "row", "reason")


class InputError(Exception):
    """Bad input. ``str(exc)`` is the full user-facing message.

    Attributes:
        file: The file (or request) the problem is in, as the user named it.
        column: The column (or field) the message is about, as named in the file.
        rows: 1-based data-row numbers of the offending rows in that column
            (the first data row after the header is row 1), sorted.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        rows: list[int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.rows = rows

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword attributes when the error crosses a process boundary.
        return (_rebuild_input_error, (self.message, self.file, self.column, self.rows))


def _rebuild_input_error(
    message: str, file: str | None, column: str | None, rows: list[int] | None
) -> InputError:
    return InputError(message, file=file, column=column, rows=rows)


@dataclass(frozen=True)
class Parsed:
    """Typed values of one column and the rows found invalid.

    Attributes:
        values: The typed column; invalid rows hold a missing value.
        problems: ``(reason, mask)`` pairs, ``reason`` completing "N rows with ...".
    """

    values: pd.Series
    problems: tuple[tuple[str, np.ndarray], ...] = ()


@dataclass(frozen=True)
class Problem:
    """Rows of one column that share one reason for being invalid.

    Attributes:
        column: The column as named in the file (what the user can look up).
        reason: Completes "N rows with ...", e.g. ``"a negative value"``.
        mask: Boolean array over the table's rows.
        field: The canonical field read from that column, if its name differs.
    """

    column: str
    reason: str
    mask: np.ndarray
    field: str | None = None

    @property
    def label(self) -> str:
        """The column for a message: ``'Item Price' (declared_value)``."""
        if self.field and self.field != self.column:
            return f"'{self.column}' ({self.field})"
        return f"'{self.column}'"


# --------------------------------------------------------------------------- text


def clean_text(raw: pd.Series) -> pd.Series:
    """Strip whitespace and turn empty strings into missing values.

    Args:
        raw: Raw text column.

    Returns:
        A ``str`` column, stripped, with ``NaN`` where the input was empty.
    """
    text = raw.astype("str").str.strip()
    return text.mask(text == "")


def _clean_value(raw: pd.Series) -> pd.Series:
    # Numbers, flags and dates also read the usual spellings of "missing" as missing.
    text = clean_text(raw)
    return text.mask(text.str.lower().isin(NA_TOKENS))


def _missing(present: np.ndarray, required: bool) -> tuple[tuple[str, np.ndarray], ...]:
    if not required:
        return ()
    return (("a missing value", ~present),)


def _present(text: pd.Series) -> np.ndarray:
    return text.notna().to_numpy()


def parse_text(raw: pd.Series, *, required: bool = False) -> Parsed:
    """Parse an id or text column.

    Args:
        raw: Raw text column.
        required: Whether an empty value is invalid.

    Returns:
        Stripped ``str`` values, empty -> missing; a value holding a control,
        bidirectional or invisible character
        (:data:`portsift.features.plausibility.FORBIDDEN_CHARACTERS`, looked for in the value
        as written, before stripping) is invalid.
    """
    text = clean_text(raw)
    problems = _missing(_present(text), required)
    bad, char = forbidden_mask(raw)
    if char is not None:
        problems = (*problems, (forbidden_reason(char), bad))
        text = text.mask(bad)
    return Parsed(text, problems)


def parse_code(
    raw: pd.Series, *, min_digits: int, max_digits: int, required: bool = False
) -> Parsed:
    """Parse a tariff code kept as text of digits.

    Dots and spaces are removed first, so ``6109.10 00`` reads as ``61091000``.

    Args:
        raw: Raw text column.
        min_digits: Fewest digits allowed.
        max_digits: Most digits allowed.
        required: Whether an empty value is invalid.

    Returns:
        ``str`` digits; codes of the wrong length or with other characters are invalid.
    """
    text = clean_text(raw)
    digits = text.str.replace(".", "", regex=False).str.replace(" ", "", regex=False)
    # [0-9] rather than \d: Python's \d also matches full-width and other digits.
    well_formed = digits.str.fullmatch(f"[0-9]{{{min_digits},{max_digits}}}").fillna(False)
    present = _present(text)
    bad = present & ~well_formed.to_numpy(dtype=bool)
    reason = f"an invalid code ({min_digits} to {max_digits} digits expected)"
    problems = (*_missing(present, required), (reason, bad))
    return Parsed(digits.mask(bad), problems)


def parse_choice(
    raw: pd.Series,
    *,
    aliases: Mapping[str, str],
    reason: str,
    required: bool = False,
) -> Parsed:
    """Parse a column holding one of a few values, given in any accepted spelling.

    Values are lower-cased and runs of spaces, hyphens and underscores become one
    ``_`` before the lookup, on both the value and the alias keys.

    Args:
        raw: Raw text column.
        aliases: Accepted spelling -> canonical value.
        reason: Completes "N rows with ..." for a value not in ``aliases``.
        required: Whether an empty value is invalid.

    Returns:
        ``str`` canonical values.
    """
    normalised = {_normalise_choice(key): value for key, value in aliases.items()}
    text = clean_text(raw)
    keys = text.str.lower().str.replace(r"[\s_-]+", "_", regex=True)
    values = keys.map(normalised).astype("str")
    present = _present(text)
    bad = present & values.isna().to_numpy()
    return Parsed(values, (*_missing(present, required), (reason, bad)))


def _normalise_choice(key: str) -> str:
    return "_".join(key.lower().replace("-", " ").replace("_", " ").split())


# ------------------------------------------------------------------------ numbers


def parse_number(
    raw: pd.Series,
    *,
    required: bool = False,
    non_negative: bool = False,
    maximum: float | None = None,
) -> Parsed:
    """Parse a numeric column to float64.

    Args:
        raw: Raw text column.
        required: Whether an empty value is invalid.
        non_negative: Whether a negative value is invalid.
        maximum: The largest plausible value (``[input_bounds]``), or ``None``.

    Returns:
        float64 values; non-numeric, non-finite and (if asked) negative values and values
        above ``maximum`` are invalid.
    """
    text = _clean_value(raw)
    present = _present(text)
    values = _to_float(text)
    non_numeric = present & np.isnan(values)
    non_finite = np.isinf(values)
    problems = [*_missing(present, required), ("a non-numeric value", non_numeric)]
    problems.append(("a non-finite value", non_finite))
    bad = non_numeric | non_finite
    if non_negative:
        negative = values < 0
        problems.append(("a negative value", negative))
        bad |= negative
    if maximum is not None:
        above = ~non_finite & (values > maximum)
        problems.append((bound_reason(maximum), above))
        bad |= above
    values[bad] = np.nan
    # Adding 0.0 turns a declared "-0" into 0.0, which prints as users expect.
    return Parsed(pd.Series(values + 0.0, index=raw.index, dtype="float64"), tuple(problems))


def _to_float(text: pd.Series) -> np.ndarray:
    """Convert text to float64, NaN where missing or not a number (always a new array)."""
    try:
        # Arrow's cast is ~10x faster than to_numeric but fails on the first bad value,
        # so it is the fast path for clean columns only.
        cast = pc.cast(pa.array(text, from_pandas=True), pa.float64())
        return np.array(cast.to_numpy(zero_copy_only=False), dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", copy=True)


def parse_flag(raw: pd.Series, *, required: bool = False) -> Parsed:
    """Parse a 0/1 flag to float64 (missing stays NaN).

    Accepts 0/1, 0.0/1.0, true/false and yes/no in any case.

    Args:
        raw: Raw text column.
        required: Whether an empty value is invalid.

    Returns:
        float64 values 0.0, 1.0 or NaN.
    """
    text = _clean_value(raw)
    lowered = text.str.lower()
    ones = lowered.isin(FLAG_TRUE).to_numpy()
    zeros = lowered.isin(FLAG_FALSE).to_numpy()
    present = _present(text)
    bad = present & ~(ones | zeros)
    values = np.where(ones, 1.0, np.where(zeros, 0.0, np.nan))
    reason = "a value that is not 0/1, true/false or yes/no"
    problems = (*_missing(present, required), (reason, bad))
    return Parsed(pd.Series(values, index=raw.index, dtype="float64"), problems)


# -------------------------------------------------------------------------- dates


def parse_date(raw: pd.Series, *, required: bool = False, date_format: str | None = None) -> Parsed:
    """Parse a date or datetime column to naive ``datetime64[ns]``.

    Args:
        raw: Raw text column.
        required: Whether an empty value is invalid.
        date_format: A ``strftime`` format tried first (e.g. ``%y-%m-%d`` for
            BACUDA); values it does not fit are then read as ISO 8601, which a
            four-digit year makes unambiguous. ``None`` reads ISO 8601 only.

    Returns:
        ``datetime64[ns]`` values; unparseable or out-of-range dates are invalid.
        A time with a UTC offset keeps its local wall-clock time (the offset is
        dropped): declarations are dated in the office's local time and the
        features compare dates within one naive timeline.
    """
    text = _clean_value(raw)
    present = _present(text)
    parsed = _parse_iso(text) if date_format is None else _parse_with_format(text, date_format)
    lo, hi = pd.Timestamp.min, pd.Timestamp.max
    out_of_range = (parsed.notna() & ((parsed < lo) | (parsed > hi))).to_numpy()
    parsed = parsed.mask(out_of_range)
    unparseable = present & ~out_of_range & parsed.isna().to_numpy()
    problems = (
        *_missing(present, required),
        ("an unparseable date", unparseable),
        ("a date out of range (years 1678 to 2261)", out_of_range),
    )
    values = parsed.astype("datetime64[ns]")
    values.index = raw.index
    return Parsed(values, problems)


def _parse_with_format(text: pd.Series, date_format: str) -> pd.Series:
    parsed = _naive(pd.to_datetime(text, format=date_format, errors="coerce"))
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed = parsed.astype("datetime64[us]")
        parsed[retry] = _parse_iso(text[retry]).astype("datetime64[us]")
    return parsed


def _parse_iso(text: pd.Series) -> pd.Series:
    try:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):
        # Mixed UTC offsets cannot share one tz-aware column; drop them and retry.
        parsed = None
    if parsed is None or isinstance(parsed.dtype, pd.DatetimeTZDtype):
        stripped = text.str.replace(_OFFSET_PATTERN, r"\1", regex=True)
        parsed = pd.to_datetime(stripped, format="ISO8601", errors="coerce")
    return _naive(parsed)


def _naive(parsed: pd.Series) -> pd.Series:
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_localize(None)
    return parsed


# ----------------------------------------------------------------------- problems


def duplicate_mask(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Mark every occurrence of a key after its first.

    Rows with any key part missing are not compared: they are invalid already.

    Args:
        frame: Typed columns.
        keys: Columns forming the key.

    Returns:
        Boolean array over the rows of ``frame``.
    """
    complete = frame[list(keys)].notna().all(axis=1).to_numpy()
    duplicated = frame[list(keys)].duplicated(keep="first").to_numpy()
    return complete & duplicated


def row_numbers(mask: np.ndarray) -> np.ndarray:
    """Return the 1-based row numbers where ``mask`` is true."""
    return np.flatnonzero(mask) + 1


def format_rows(rows: Sequence[int] | np.ndarray, *, noun: str = "row") -> str:
    """Format row numbers for a message: ``rows 1, 2, 3, 4, 5 and 7 more``.

    Args:
        rows: Sorted 1-based row numbers.
        noun: ``"row"`` (or ``"record"``); pluralised with ``s``.

    Returns:
        The phrase, listing at most :data:`MAX_ROWS_SHOWN` numbers.
    """
    shown = ", ".join(str(int(r)) for r in rows[:MAX_ROWS_SHOWN])
    more = len(rows) - MAX_ROWS_SHOWN
    label = noun if len(rows) == 1 else f"{noun}s"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _group_by_column(problems: Sequence[Problem]) -> dict[str, list[Problem]]:
    grouped: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.mask.any():
            grouped.setdefault(problem.label, []).append(problem)
    return grouped


def problems_error(
    source: str,
    problems: Sequence[Problem],
    *,
    column_noun: str = "column",
    row_noun: str = "row",
    hint: str | None = SKIP_HINT,
) -> InputError | None:
    """Build the one error that rejects a table, or ``None`` if nothing is invalid.

    The message details the first column (in the order of ``problems``) that has
    invalid rows: each reason, its count and the first rows. Other columns with
    problems are listed briefly after it.

    Args:
        source: The file (or request) as the user named it.
        problems: Problems in contract column order; empty masks are ignored.
        column_noun: ``"column"`` for files, ``"field"`` for JSON records.
        row_noun: ``"row"`` for files, ``"record"`` for JSON records.
        hint: Closing sentence telling the user what to do, or ``None``.

    Returns:
        The error to raise, or ``None``.
    """
    grouped = _group_by_column(problems)
    if not grouped:
        return None
    label, first = next(iter(grouped.items()))
    parts = []
    for problem in first:
        rows = row_numbers(problem.mask)
        parts.append(
            f"{_count(len(rows), row_noun)} with {problem.reason} "
            f"({format_rows(rows, noun=row_noun)})"
        )
    message = f"{source}: {column_noun} {label}: " + "; ".join(parts) + "."
    others = [
        f"{name} ({_count(int(np.logical_or.reduce([p.mask for p in group]).sum()), row_noun)})"
        for name, group in list(grouped.items())[1:]
    ]
    if others:
        message += f" Other {column_noun}s with problems: " + ", ".join(others) + "."
    if hint:
        message += f" {hint}"
    bad = np.logical_or.reduce([p.mask for p in first])
    rows_all = [int(r) for r in row_numbers(bad)]
    return InputError(message, file=source, column=first[0].column, rows=rows_all)


def invalid_mask(problems: Sequence[Problem], n_rows: int) -> np.ndarray:
    """Return the rows with at least one problem."""
    bad = np.zeros(n_rows, dtype=bool)
    for problem in problems:
        bad |= problem.mask
    return bad


def rejected_rows(
    source: str, raw: pd.DataFrame, problems: Sequence[Problem], bad: np.ndarray
) -> pd.DataFrame:
    """Build the frame of rows set aside: source_file, row, reason, then the raw values.

    Args:
        source: The file (or request) as the user named it.
        raw: The table as read, one text column per file column.
        problems: All problems found.
        bad: Rows to set aside (:func:`invalid_mask`).

    Returns:
        One row per rejected input row, its reasons joined by ``"; "``.
    """
    positions = np.flatnonzero(bad)
    reasons = np.full(len(positions), "", dtype=object)
    for problem in problems:
        hit = problem.mask[positions]
        if hit.any():
            text = f"{problem.column}: {problem.reason}"
            reasons[hit] = np.where(reasons[hit] == "", text, reasons[hit] + "; " + text)
    values = raw.iloc[positions].reset_index(drop=True)
    # A raw column called like one of ours must not overwrite it.
    values = values.rename(columns=lambda c: f"{c} (raw)" if c in REJECTED_HEAD else c)
    head = pd.DataFrame(
        {
            "source_file": pd.Series(np.full(len(positions), source, dtype=object), dtype="str"),
            "row": pd.Series(positions + 1, dtype="int64"),
            "reason": pd.Series(reasons, dtype="str"),
        }
    )
    return pd.concat([head, values], axis=1)
