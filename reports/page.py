"""What the two reports share: templates, value formatting, versions, the batch scope."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from portsift.models.bundle import Bundle
from portsift.reports import i18n


@cache
def environment() -> Environment:
    """The Jinja environment of the report templates (autoescaped, strict)."""
    env = Environment(
        loader=PackageLoader("portsift.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["font_stack"] = i18n.FONT_STACK
    env.globals["title_font_stack"] = i18n.TITLE_FONT_STACK
    env.globals["numeral"] = numeral
    return env


def numeral(number: int, lang: i18n.Lang) -> str:
    """Section number: ``一、`` in Chinese, ``1.`` in English."""
    if lang == "zh" and 0 < number <= 10:
        return "一二三四五六七八九十"[number - 1] + "、"
    return f"{number}."


def render(template: str, **context: Any) -> str:
    """Render one of the templates in ``reports/templates``."""
    return environment().get_template(template).render(**context)


def generated_at() -> str:
    """The time a report is generated, in UTC, to the minute."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def is_missing(value: Any) -> bool:
    """Whether a value is absent (None, NaN, NaT, empty text)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any, *, digits: int = 4) -> str:
    """Print a value for a report cell: dates as dates, numbers readable, missing as ``-``.

    Args:
        value: Any scalar.
        digits: Significant digits of small floats.

    Returns:
        The text.
    """
    if is_missing(value):
        return "-"
    if isinstance(value, pd.Timestamp | datetime | np.datetime64):
        stamp = pd.Timestamp(value)
        return str(stamp.date()) if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "-"
        if number.is_integer() and abs(number) < 1e15:
            return f"{int(number):,}"
        return f"{number:,.{digits}g}" if abs(number) < 1000 else f"{number:,.0f}"
    if isinstance(value, pd.Timedelta):
        hours = value.total_seconds() / 3600
        return f"{hours:g} h"
    return str(value)


def fmt_money(value: Any) -> str:
    """Print an amount with thousands separators and no decimals."""
    return "-" if is_missing(value) else f"{float(value):,.0f}"


def fmt_percent(share: float, digits: int = 1) -> str:
    """Print a share (0..1) as a percentage."""
    return "-" if is_missing(share) else f"{float(share) * 100:.{digits}f}%"


def versions(bundle: Bundle, decisions: pd.DataFrame, lang: i18n.Lang) -> list[tuple[str, str]]:
    """Model version, policy version and training window, ``-`` where unknown.

    The policy version is taken from the decisions (a ``policy_version`` column) or the
    bundle metadata (``policy_version``, or ``version`` inside ``policy``).

    Args:
        bundle: The model bundle.
        decisions: The decisions of the run.
        lang: Language of the labels.

    Returns:
        ``(label, value)`` pairs.
    """
    labels = i18n.labels(lang)
    metadata = bundle.metadata
    policy: Any = None
    if "policy_version" in decisions and len(decisions):
        policy = decisions["policy_version"].dropna().astype(str).unique()
        policy = ", ".join(policy) if len(policy) else None
    if is_missing(policy):
        policy = metadata.get("policy_version")
    if is_missing(policy) and isinstance(metadata.get("policy"), dict):
        policy = metadata["policy"].get("version")
    window = "-"
    if metadata.get("trained_from") and metadata.get("trained_to"):
        window = f"{metadata['trained_from']} – {metadata['trained_to']}"
    return [
        (labels["model_version"], fmt(metadata.get("model_version"))),
        (labels["policy_version"], fmt(policy)),
        (labels["trained"], window),
    ]


def extra_decision_fields(
    decision: dict[str, Any], lang: i18n.Lang
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split the decision columns the report does not place itself into deadlines and others.

    Args:
        decision: One decision row as a dict.
        lang: Language of the labels.

    Returns:
        ``(deadlines, others)``, each ``(label, value)`` pairs of the present values:
        deadlines are the ``hours`` and ``days`` columns (and any column whose name says
        ``deadline``); flags appear only when set.
    """
    labels = i18n.labels(lang)
    deadlines: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    for column, value in decision.items():
        if column in i18n.KNOWN_DECISION_COLUMNS or is_missing(value):
            continue
        name, kind = i18n.column_spec(column, lang)
        if kind == "flag":
            if _truthy(value):
                others.append((name, labels["yes"]))
            continue
        if kind in ("hours", "days") and _is_number(value):
            text = labels[f"within_{kind}"].format(value=f"{float(value):g}")
            deadlines.append((name, text))
        elif "deadline" in column.lower():
            deadlines.append((name, fmt(value)))
        else:
            others.append((name, fmt(value)))
    return deadlines, others


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return _is_number(value) and float(value) != 0


def policy_note(decision: dict[str, Any], lang: i18n.Lang) -> str:
    """The policy's own note on a decision in the report's language, or ``""``."""
    value = decision.get(i18n.POLICY_NOTE_COLUMNS[lang])
    if is_missing(value):
        return ""
    text = str(value).strip()
    return text[:1].upper() + text[1:] if lang == "en" else text


def yes_no(flag: bool, lang: i18n.Lang) -> str:
    """``是``/``否`` or ``yes``/``no``."""
    labels = i18n.labels(lang)
    return labels["yes"] if flag else labels["no"]


def model_reasons(reasons: Any, note: str) -> list[str]:
    """Split a decision's ``reasons`` and drop the parts that are the policy's note."""
    if is_missing(reasons):
        return []
    note_parts = {part.strip().casefold() for part in note.split(";")}
    parts = (part.strip() for part in str(reasons).split(";"))
    return [part for part in parts if part and part.casefold() not in note_parts]


def policy_option(policy: Any) -> dict[str, Any]:
    """``{"policy": policy}`` for ``score_declarations`` when one is given, else nothing."""
    return {} if policy is None else {"policy": policy}
