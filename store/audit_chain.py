"""The hash chain of the audit tables: what a row's hash is taken of, and how it links.

Each table is one chain in ``id`` order. A row's ``chain_prev`` is the ``chain_hash`` of
the chained row before it (:data:`GENESIS`, 64 zeros, for the first), and its
``chain_hash`` is the SHA-256 hex digest of the UTF-8 bytes of
:func:`~portsift.store.audit_records.canonical_json` of its content: every column except
``id`` and ``chain_hash`` (so ``chain_prev`` is part of it), keyed by column name, with
timestamps as ISO 8601 UTC text with microseconds (``2026-05-01T08:00:00.000000+00:00``),
floats as written, flags as ``true``/``false`` and missing values as ``null``. Anyone can
recompute it with the ``json`` and ``hashlib`` modules::

    hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode("utf-8")).hexdigest()

The ``id`` is left out so that a writer can hash a batch before the database numbers it;
the order is still covered, because each row names the hash of the one before.

The columns hashed are fixed here (:data:`DECISION_FIELDS`, :data:`FEEDBACK_FIELDS`), not
read from the table: a column added later must not change the hash of the rows already
chained. So the columns added after the chain began (:data:`OPTIONAL_FIELDS`: the
declaration's customs office and importer, whether it was selected, the officer
console's officer id, violation kind, voluntary disclosure and note) enter a row's
content only when they are not null: a row written before them hashes as it always did,
and setting one on such a row afterwards breaks its hash like any other edit.
:func:`content_json` writes the same text as ``canonical_json`` several times faster
(verifying a million rows is mostly this); the tests hold the two together.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring  # the C encoder json.dumps itself uses
from typing import Any, Final

#: ``chain_prev`` of the first chained row of a table.
GENESIS: Final[str] = "0" * 64

#: The columns of a ``decisions`` row that its hash covers, in key (sorted) order.
DECISION_FIELDS: Final[tuple[str, ...]] = (
    "amends",
    "chain_prev",
    "credential",
    "customs_office",
    "decision",
    "declaration_id",
    "declared_value",
    "idempotency_key",
    "importer_id",
    "input_sha256",
    "model_version",
    "policy_version",
    "recorded_at",
    "request_id",
    "selected",
)
#: The columns of a ``feedback`` row that its hash covers, in key (sorted) order.
FEEDBACK_FIELDS: Final[tuple[str, ...]] = (
    "chain_prev",
    "corrects",
    "credential",
    "declaration_id",
    "illicit",
    "inspected",
    "note",
    "officer_id",
    "received_at",
    "request_id",
    "revenue",
    "source",
    "violation_kind",
    "voluntary_disclosure",
)
#: The columns that enter a row's content only when not null (added after the chain began).
OPTIONAL_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "customs_office",
        "importer_id",
        "note",
        "officer_id",
        "selected",
        "violation_kind",
        "voluntary_disclosure",
    }
)
#: The hashed columns of each table, by table name.
CHAIN_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "decisions": DECISION_FIELDS,
    "feedback": FEEDBACK_FIELDS,
}


def timestamp_text(value: datetime) -> str:
    """A timestamp as the chain writes it: ISO 8601 in UTC, always with microseconds.

    Args:
        value: A time zone aware datetime.

    Returns:
        For example ``"2026-05-01T08:00:00.000000+00:00"``.
    """
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _integer(value: int | None) -> str:
    return "null" if value is None else int.__repr__(int(value))


def _flag(value: bool | None) -> str:
    if value is None:
        return "null"
    return "true" if value else "false"


def _number(value: float | None) -> str:
    if value is None:
        return "null"
    value = float(value)
    if not math.isfinite(value):  # as canonical_json, which refuses them
        raise ValueError(f"{value!r} cannot be written as JSON")
    return float.__repr__(value)


_Encoder = Callable[[Any], str]
_ENCODERS: Final[dict[str, _Encoder]] = {
    "amends": _integer,
    "corrects": _integer,
    "declared_value": _number,
    "illicit": _flag,
    "inspected": _flag,
    "revenue": _number,
    "selected": _flag,
    "voluntary_disclosure": _flag,
}


def _layout(fields: Sequence[str]) -> tuple[tuple[str, _Encoder, bool], ...]:
    """The key of each value (``"key":``), its encoder and whether a null is left out."""
    return tuple(
        (f'"{name}":', _ENCODERS.get(name, _text), name in OPTIONAL_FIELDS) for name in fields
    )


_LAYOUTS: Final[dict[str, tuple[tuple[str, _Encoder, bool], ...]]] = {
    table: _layout(fields) for table, fields in CHAIN_FIELDS.items()
}


def content_json(table: str, values: Sequence[Any]) -> str:
    """The canonical JSON of a row's content, from its values in :data:`CHAIN_FIELDS` order.

    Timestamps must already be text (:func:`timestamp_text`): the verifier reads them as
    text straight from the database.

    Args:
        table: ``"decisions"`` or ``"feedback"``.
        values: The row's values, one per field of the table, in that order.

    Returns:
        The same text as ``canonical_json`` of the fields and values, the
        :data:`OPTIONAL_FIELDS` that are null left out.
    """
    return (
        "{"
        + ",".join(
            key + encode(value)
            for (key, encode, optional), value in zip(_LAYOUTS[table], values, strict=True)
            if not (optional and value is None)
        )
        + "}"
    )


def content_hash(table: str, values: Sequence[Any]) -> str:
    """SHA-256 hex digest of :func:`content_json`: the row's ``chain_hash``.

    Args:
        table: ``"decisions"`` or ``"feedback"``.
        values: The row's values in :data:`CHAIN_FIELDS` order (timestamps as text).

    Returns:
        64 lower-case hex digits.
    """
    return hashlib.sha256(content_json(table, values).encode("utf-8")).hexdigest()


def chain_rows(table: str, rows: Sequence[dict[str, Any]], previous: str) -> str:
    """Set ``chain_prev`` and ``chain_hash`` of rows about to be appended, in order.

    Args:
        table: ``"decisions"`` or ``"feedback"``.
        rows: The rows' column values (timestamps as datetimes), in id order; changed
            in place.
        previous: ``chain_hash`` of the table's last chained row, or :data:`GENESIS`.

    Returns:
        The hash of the last row (the new head), or ``previous`` for no rows.
    """
    fields = CHAIN_FIELDS[table]
    for row in rows:
        row["chain_prev"] = previous
        values = [_hashable(_field(row, name)) for name in fields]
        previous = row["chain_hash"] = content_hash(table, values)
    return previous


def row_content(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's content as the mapping that its hash is the canonical JSON of.

    For a reader who wants to recompute a hash with ``canonical_json`` (the tests do).

    Args:
        table: ``"decisions"`` or ``"feedback"``.
        row: The row's columns (timestamps as datetimes or as text).

    Returns:
        The hashed fields, timestamps as text (the :data:`OPTIONAL_FIELDS` that are null or
        absent left out).
    """
    content = {name: _hashable(_field(row, name)) for name in CHAIN_FIELDS[table]}
    return {
        name: value
        for name, value in content.items()
        if not (name in OPTIONAL_FIELDS and value is None)
    }


def _field(row: Mapping[str, Any], name: str) -> Any:
    # An optional field may be absent (a row of a writer that does not know it); any
    # other must be there.
    return row.get(name) if name in OPTIONAL_FIELDS else row[name]


def _hashable(value: Any) -> Any:
    return timestamp_text(value) if isinstance(value, datetime) else value


__all__ = [
    "CHAIN_FIELDS",
    "DECISION_FIELDS",
    "FEEDBACK_FIELDS",
    "GENESIS",
    "OPTIONAL_FIELDS",
    "chain_rows",
    "content_hash",
    "content_json",
    "row_content",
    "timestamp_text",
]
