"""``POST /feedback``: inspection outcomes, checked before they become training labels.

An outcome is what the next model learns from, so it is accepted only when it can be
true: for a declaration the audit store holds a decision for (the API decided it, or an
operator imported the batch that decided it with ``portsift audit import``), with a
revenue that is finite, non-negative and at most ``[feedback]
max_revenue_to_declared_value`` times the declaration's customs value (or up to
``revenue_always_plausible``, whatever the value). The store
records the credential that sent it; the same outcome sent again by the same credential
writes nothing new, a different one is recorded as a correction that supersedes the
earlier (both stay on record).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portsift.store.audit import AuditStore
from portsift.store.audit_records import MAX_NOTE_LENGTH, VIOLATION_KINDS


class FeedbackError(ValueError):
    """An inspection outcome that cannot be recorded; ``field`` names the culprit."""

    #: The HTTP status of the answer.
    status = 422

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownDeclarationError(FeedbackError):
    """An outcome for a declaration the audit store holds no decision for (HTTP 404)."""

    status = 404


@dataclass(frozen=True)
class Outcome:
    """A checked inspection outcome.

    Attributes:
        declaration_id: The declaration.
        inspected: Whether it was inspected.
        illicit: Whether the inspection found a violation (``None``: not known yet).
        revenue: Duty and taxes the inspection raised (``None``: not known yet).
        violation_kind: What the violation was (console only; one of
            :data:`~portsift.store.audit_records.VIOLATION_KINDS`).
        voluntary_disclosure: Whether the enterprise disclosed it first (console only).
        note: The officer's note (console only).
    """

    declaration_id: str
    inspected: bool
    illicit: bool | None
    revenue: float | None
    violation_kind: str | None = None
    voluntary_disclosure: bool | None = None
    note: str | None = None


def parse_outcome(record: Mapping[str, Any]) -> Outcome:
    """Check the fields of an outcome (``declaration_id, inspected, illicit, revenue``).

    Args:
        record: The JSON object sent.

    Returns:
        The outcome.

    Raises:
        FeedbackError: An invalid value (``field`` names it).
    """
    declaration_id = record.get("declaration_id")
    if isinstance(declaration_id, int) and not isinstance(declaration_id, bool):
        declaration_id = str(declaration_id)
    if not isinstance(declaration_id, str) or not declaration_id.strip():
        raise FeedbackError("field 'declaration_id' must be a non-empty string", "declaration_id")
    inspected = _flag(record.get("inspected"), "inspected", nullable=False)
    illicit = _flag(record.get("illicit"), "illicit", nullable=True)
    revenue = record.get("revenue")
    if revenue is not None:
        if isinstance(revenue, bool) or not isinstance(revenue, int | float):
            raise FeedbackError("field 'revenue' must be a number or null", "revenue")
        if not math.isfinite(revenue) or revenue < 0:
            raise FeedbackError(f"field 'revenue' must be >= 0, got {revenue}", "revenue")
    if not inspected and (illicit or (revenue or 0) > 0):
        field = "illicit" if illicit else "revenue"
        raise FeedbackError(
            f"field '{field}': an uninspected declaration cannot report a violation or revenue",
            field,
        )
    kind = record.get("violation_kind")
    if kind is not None:
        if kind not in VIOLATION_KINDS:
            raise FeedbackError(
                f"field 'violation_kind' must be one of {', '.join(VIOLATION_KINDS)}, got {kind!r}",
                "violation_kind",
            )
        if not illicit:
            raise FeedbackError(
                "field 'violation_kind': a kind of violation is only given with a violation",
                "violation_kind",
            )
    disclosed = _flag(record.get("voluntary_disclosure"), "voluntary_disclosure", nullable=True)
    note = record.get("note")
    if note is not None:
        if not isinstance(note, str):
            raise FeedbackError("field 'note' must be text", "note")
        if len(note) > MAX_NOTE_LENGTH:
            raise FeedbackError(
                f"field 'note' is {len(note)} characters long; at most {MAX_NOTE_LENGTH}", "note"
            )
    return Outcome(
        declaration_id=declaration_id,
        inspected=bool(inspected),
        illicit=None if illicit is None else bool(illicit),
        revenue=None if revenue is None else float(revenue),
        violation_kind=kind,
        voluntary_disclosure=None if disclosed is None else bool(disclosed),
        note=note.strip() or None if isinstance(note, str) else None,
    )


def record_outcome(
    audit: AuditStore,
    record: Mapping[str, Any],
    *,
    credential: str,
    request_id: str | None = None,
    max_revenue_to_declared_value: float,
    revenue_always_plausible: float = 0.0,
    officer_id: str | None = None,
    source: str = "api",
) -> dict[str, Any]:
    """Check an outcome against the decision on record and append it to the audit store.

    The API's ``POST /feedback`` and the officer console's outcome form both record
    through here; the console adds the officer's id and the kind of violation, the
    voluntary disclosure and the note (``record``'s optional keys).

    Args:
        audit: The audit store (holds the decisions and receives the outcome).
        record: The JSON object sent (or the console's checked form).
        credential: Name of the API credential that sent it (the console: ``console``).
        request_id: The HTTP request's id.
        max_revenue_to_declared_value: The plausibility bound of the revenue, relative
            to the declared value.
        revenue_always_plausible: A revenue up to this is accepted whatever the value.
        officer_id: The officer who recorded it in the console (idempotency is then by
            declaration and officer).
        source: What sent it (``api`` or ``console``).

    Returns:
        The receipt: ``declaration_id``, ``recorded``, ``feedback_id``, ``kind``
        (``new``, ``repeat`` or ``correction``) and ``corrects`` (the id superseded).

    Raises:
        FeedbackError: An invalid or implausible value (``field`` names it).
        UnknownDeclarationError: The store holds no decision for the declaration.
        AuditError: The store did not commit.
    """
    outcome = parse_outcome(record)
    decided = audit.latest_decisions([outcome.declaration_id]).get(outcome.declaration_id)
    if decided is None:
        raise UnknownDeclarationError(
            f"field 'declaration_id': no decision for declaration {outcome.declaration_id!r} is "
            "on record, so no outcome can be; outcomes are accepted for declarations the API "
            "decided, or whose batch an operator imported (portsift audit import)",
            "declaration_id",
        )
    declared_value = decided.declared_value
    if outcome.revenue is not None and declared_value is not None:
        bound = max(
            max_revenue_to_declared_value * max(declared_value, 0.0), revenue_always_plausible
        )
        if outcome.revenue > bound:
            raise FeedbackError(
                f"field 'revenue': {outcome.revenue:g} is more than "
                f"{max_revenue_to_declared_value:g} times the declared value "
                f"{declared_value:g} of {outcome.declaration_id!r} and more than "
                f"{revenue_always_plausible:g} ([feedback] max_revenue_to_declared_value, "
                "revenue_always_plausible); check the unit",
                "revenue",
            )
    result = audit.record_feedback(
        outcome.declaration_id,
        inspected=outcome.inspected,
        illicit=outcome.illicit,
        revenue=outcome.revenue,
        source=source,
        credential=credential,
        request_id=request_id,
        officer_id=officer_id,
        violation_kind=outcome.violation_kind,
        voluntary_disclosure=outcome.voluntary_disclosure,
        note=outcome.note,
    )
    return {
        "declaration_id": outcome.declaration_id,
        "recorded": True,
        "feedback_id": result.id,
        "kind": result.kind,
        "corrects": result.corrects,
    }


def _flag(value: Any, name: str, *, nullable: bool) -> int | None:
    if value is None:
        if nullable:
            return None
        raise FeedbackError(f"field '{name}' is required (0 or 1)", name)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    allowed = "0, 1 or null" if nullable else "0 or 1"
    raise FeedbackError(f"field '{name}' must be {allowed}, got {value!r}", name)


__all__ = [
    "FeedbackError",
    "Outcome",
    "UnknownDeclarationError",
    "parse_outcome",
    "record_outcome",
]
