"""Parsing every column of an input table by its field's kind, and the verdict on its rows.

Each canonical field has one parser (:mod:`portsift.features.validation`); a table whose
rows fail is refused as a whole or, with ``skip_invalid``, has the invalid rows set
aside. Used by :mod:`portsift.features.loading` for files and JSON records alike; only
the wording of the messages differs (:class:`Wording`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from portsift.features import contract
from portsift.features.contract import Field
from portsift.features.layouts import Layout
from portsift.features.plausibility import default_bounds
from portsift.features.validation import (
    SKIP_HINT,
    Parsed,
    Problem,
    duplicate_mask,
    invalid_mask,
    parse_choice,
    parse_code,
    parse_date,
    parse_flag,
    parse_number,
    parse_text,
    problems_error,
    rejected_rows,
)

#: Accepted spellings of a lab result; 合格 / 不合格 are how Chinese lab reports say it.
LAB_RESULT_ALIASES: dict[str, str] = {
    "pass": "pass",
    "fail": "fail",
    "合格": "pass",
    "不合格": "fail",
}


#: Digits allowed in each code field (contract sections 1.1 and 1.4).
CODE_DIGITS: dict[str, tuple[int, int]] = {"hs_code": (6, 10), "hs_prefix": (2, 10)}


@dataclass(frozen=True)
class Column:
    """One column to parse: output name, file column, parser."""

    name: str
    source: str
    parse: Callable[[pd.Series], Parsed]


@dataclass(frozen=True)
class Wording:
    """How messages speak of the input: files have columns and rows, JSON has fields."""

    column: str = "column"
    row: str = "row"
    hint: str | None = SKIP_HINT


FILE_WORDING = Wording()


RECORD_WORDING = Wording(column="field", row="record", hint=None)


def parse_columns(
    fields: tuple[Field, ...], layout: Layout, bounds: Mapping[str, float] | None = None
) -> list[Column]:
    """The columns to parse for the fields a layout maps, each with its field's parser.

    Args:
        fields: The table's fields.
        layout: The file's layout.
        bounds: The largest plausible value of each numeric field (default: ``[input_bounds]``
            of the settings in force).

    Returns:
        The columns, in contract order.
    """
    bounds = default_bounds() if bounds is None else bounds
    return [
        Column(f.name, layout.columns[f.name], _parser(f, layout.date_format, bounds))
        for f in fields
        if f.name in layout.columns
    ]


def extra_columns(layout: Layout) -> list[Column]:
    """The extra feature columns a layout keeps, parsed as text or as numbers.

    Args:
        layout: The file's layout.

    Returns:
        The columns, categorical first.
    """
    # Extra features are model inputs "as they are": any number, negative included.
    categorical = [Column(c, c, parse_text) for c in layout.categorical]
    numeric = [Column(c, c, parse_number) for c in layout.numeric]
    return categorical + numeric


def _parser(
    field: Field, date_format: str | None, bounds: Mapping[str, float]
) -> Callable[[pd.Series], Parsed]:
    required = field.required
    if field.name == "credit_tier":
        reason = (
            f"an unknown credit tier (expected one of {', '.join(contract.CREDIT_TIERS)} "
            "or the Chinese register names)"
        )
        return lambda raw: parse_choice(
            raw, aliases=contract.TIER_ALIASES, reason=reason, required=required
        )
    if field.choices:
        choices, choice_reason = dict(field.choices), field.choices_reason
        return lambda raw: parse_choice(
            raw, aliases=choices, reason=choice_reason, required=required
        )
    if field.name == "lab_result":
        reason = "a lab result other than pass or fail"
        return lambda raw: parse_choice(
            raw, aliases=LAB_RESULT_ALIASES, reason=reason, required=required
        )
    if field.kind == "code":
        low, high = CODE_DIGITS[field.name]
        return lambda raw: parse_code(raw, min_digits=low, max_digits=high, required=required)
    if field.kind == "date":
        return lambda raw: parse_date(raw, required=required, date_format=date_format)
    if field.kind == "number":
        non_negative = field.non_negative
        maximum = bounds.get(field.name)
        return lambda raw: parse_number(
            raw, required=required, non_negative=non_negative, maximum=maximum
        )
    if field.kind == "flag":
        return lambda raw: parse_flag(raw, required=required)
    return lambda raw: parse_text(raw, required=required)


def validate_columns(
    raw: pd.DataFrame,
    columns: list[Column],
    *,
    source: str,
    unique: tuple[tuple[str, ...], ...],
    skip_invalid: bool,
    wording: Wording,
    checks: Sequence[Callable[[pd.DataFrame], Problem]] = (),
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Parse every column, then reject the table or set the invalid rows aside.

    ``checks`` judge rows across columns once every column is parsed (e.g. a validity
    period that ends before it starts); each returns a :class:`Problem` of its column.

    Returns:
        The valid typed rows, the rejected rows, and the note on rows set aside.
    """
    parsed = {c.name: c.parse(raw[c.source]) for c in columns}
    typed = pd.DataFrame({name: result.values for name, result in parsed.items()}, index=raw.index)
    problems = [
        Problem(column=c.source, reason=reason, mask=mask, field=c.name)
        for c in columns
        for reason, mask in parsed[c.name].problems
    ]
    by_name = {c.name: c for c in columns}
    for keys in unique:
        reason = f"a duplicate {keys[0]}" if len(keys) == 1 else f"a duplicate ({', '.join(keys)})"
        first = by_name[keys[0]]
        problems.append(
            Problem(first.source, reason, duplicate_mask(typed, keys), field=first.name)
        )
    problems.extend(check(typed) for check in checks)
    # Messages report columns in contract order; duplicates belong to their key column.
    order = {c.name: i for i, c in enumerate(columns)}
    problems.sort(key=lambda p: order[p.field or p.column])
    bad = invalid_mask(problems, len(raw))
    if not bad.any():
        return typed, no_rejected(raw), []
    if not skip_invalid:
        error = problems_error(
            source,
            problems,
            column_noun=wording.column,
            row_noun=wording.row,
            hint=wording.hint,
        )
        assert error is not None  # bad.any() means at least one problem mask is set
        raise error
    rejected = rejected_rows(source, raw, problems, bad)
    frame = typed[~bad].reset_index(drop=True)
    return frame, rejected, [_skipped_note(source, problems, bad)]


def no_rejected(raw: pd.DataFrame) -> pd.DataFrame:
    """An empty rejected-rows frame shaped like a table's.

    Args:
        raw: The table as read.

    Returns:
        No rows.
    """
    return rejected_rows("", raw, [], np.zeros(len(raw), dtype=bool))


def _skipped_note(source: str, problems: Sequence[Problem], bad: np.ndarray) -> str:
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.label] = counts.get(problem.label, 0) + int(problem.mask.sum())
    detail = ", ".join(f"{label}: {n}" for label, n in counts.items() if n)
    return (
        f"{source}: {int(bad.sum())} of {len(bad)} rows set aside as invalid "
        f"(--skip-invalid; {detail})."
    )
