"""What the console's forms and query strings send, checked: the outcome, the queue filters.

Every refusal is a :class:`FormError` naming the field, answered with HTTP 400 and the
message on the page; nothing is recorded then.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from portsift.serving.console.days import day_bounds
from portsift.store.audit_queue import QueueFilter

#: The lanes the queue may be filtered by (``red_remote``: remote video inspection, measure 8).
LANES = ("green", "yellow", "red", "red_sampling", "red_remote")


class FormError(ValueError):
    """A form or query value that cannot be used; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _choice(form: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = str(form.get(name) or "")
    if value not in allowed:
        raise FormError(f"field '{name}' must be one of {', '.join(allowed)}, got {value!r}", name)
    return value


def outcome_record(declaration_id: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome form as the record :func:`portsift.serving.feedback.record_outcome` takes.

    The form's fields: ``violation`` (``yes``/``no``), ``kind`` (with a violation),
    ``revenue`` (a number, empty for none), ``disclosure`` (``yes``/``no``) and ``note``.
    The declaration was inspected (the officer opened it to record what was found).

    Args:
        declaration_id: The declaration of the page.
        form: The form's fields.

    Returns:
        ``declaration_id, inspected, illicit, revenue, violation_kind,
        voluntary_disclosure, note``.

    Raises:
        FormError: A missing or bad value.
    """
    violation = _choice(form, "violation", ("yes", "no")) == "yes"
    kind = str(form.get("kind") or "") or None
    if violation and kind is None:
        raise FormError("field 'kind': say what kind of violation was found", "kind")
    if not violation and kind is not None:
        raise FormError("field 'kind': a kind is only given with a violation", "kind")
    revenue_text = str(form.get("revenue") or "").strip().replace(",", "")
    revenue: float | None = None
    if revenue_text:
        try:
            revenue = float(revenue_text)
        except ValueError:
            raise FormError(
                f"field 'revenue' must be a number, got {revenue_text!r}", "revenue"
            ) from None
        if not math.isfinite(revenue) or revenue < 0:
            raise FormError(f"field 'revenue' must be >= 0, got {revenue_text!r}", "revenue")
    if not violation and (revenue or 0) > 0:
        raise FormError("field 'revenue': no revenue is raised without a violation", "revenue")
    disclosure = _choice(form, "disclosure", ("yes", "no")) == "yes"
    note = str(form.get("note") or "").strip() or None
    return {
        "declaration_id": declaration_id,
        "inspected": 1,
        "illicit": int(violation),
        "revenue": revenue if revenue is not None else (0.0 if not violation else None),
        "violation_kind": kind,
        "voluntary_disclosure": int(disclosure),
        "note": note,
    }


def queue_filter(
    query: Mapping[str, Any], office_zone: ZoneInfo
) -> tuple[QueueFilter, int, date | None]:
    """The queue's filters, page number and date from its query string.

    Args:
        query: ``lane``, ``office``, ``tier``, ``date`` (``YYYY-MM-DD``, a day of the
            office's zone), ``page`` (1-based); empty means any.
        office_zone: The office's time zone (``[console] timezone``): the date is the
            office's day, given to the store as the UTC instants that bound it.

    Returns:
        The filter, the page number and the date asked for.

    Raises:
        FormError: An unknown lane, a date that does not parse, a bad page number.
    """
    lane = str(query.get("lane") or "") or None
    if lane is not None and lane not in LANES:
        raise FormError(f"field 'lane' must be one of {', '.join(LANES)}, got {lane!r}", "lane")
    day_text = str(query.get("date") or "") or None
    day = None
    if day_text is not None:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise FormError(f"field 'date' must be YYYY-MM-DD, got {day_text!r}", "date") from None
    page_text = str(query.get("page") or "1")
    if not page_text.isdigit() or int(page_text) < 1 or len(page_text) > 7:
        raise FormError(f"field 'page' must be a whole number >= 1, got {page_text!r}", "page")
    start, end = day_bounds(day, office_zone) if day is not None else (None, None)
    wanted = QueueFilter(
        lane=lane,
        office=str(query.get("office") or "") or None,
        tier=str(query.get("tier") or "") or None,
        recorded_from=start,
        recorded_before=end,
    )
    return wanted, int(page_text), day


__all__ = ["LANES", "FormError", "outcome_record", "queue_filter"]
