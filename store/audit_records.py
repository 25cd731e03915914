"""What goes into the audit store and what comes back out: records, their checks, hashing.

:class:`DecisionRecord` is validated when it is built, so that a bad row is refused in
the caller's process before any transaction starts; :func:`input_hash` is the
recomputable fingerprint of an input declaration that each decision row carries. The
store that appends these records is :class:`portsift.store.audit.AuditStore`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import pydantic_core

#: Longest accepted request id (the column is ``VARCHAR(128)``).
MAX_REQUEST_ID_LENGTH: Final[int] = 128

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


# ------------------------------------------------------------------------------- hashing


def canonical_json(record: Mapping[str, Any]) -> str:
    """Serialise a mapping as canonical JSON: sorted keys, compact separators.

    Non-ASCII characters are written as themselves (the hash is taken of the UTF-8
    bytes); ``NaN`` and infinities are refused because JSON has no spelling for them.
    ``date`` and ``datetime`` values are written in ISO 8601.

    Args:
        record: A JSON-serialisable mapping.

    Returns:
        The canonical JSON text.

    Raises:
        ValueError: On ``NaN`` or an infinite number.
        TypeError: On a value JSON cannot represent.
    """
    return json.dumps(
        record,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def input_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an input declaration, as 64 lower-case hex digits.

    The same as ``hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode("utf-8")).hexdigest()``, so anyone can recompute it. Key
    order does not matter; value types do (``1`` and ``1.0`` hash differently), so hash
    the declaration in one consistent form (for a pydantic model,
    ``model_dump(mode="json")``).

    Args:
        record: The input declaration.

    Returns:
        The hex digest.
    """
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"a value of type {type(value).__name__} cannot be written as JSON")


# ------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision to append to the audit store.

    Attributes:
        request_id: Unique id of the API request (and of this row); at most 128 characters.
        declaration_id: The declaration the decision is about.
        input_sha256: :func:`input_hash` of the input declaration.
        decision: The full decision: a JSON-serialisable mapping, or JSON text of an
            object (stored as given, e.g. the exact response body).
        model_version: Version of the model that scored it.
        policy_version: Version of the selection policy that decided it.
        recorded_at: When it was decided (time zone aware); ``None`` means the time
            :meth:`~portsift.store.audit.AuditStore.record_decisions` is called.
    """

    request_id: str
    declaration_id: str
    input_sha256: str
    decision: Mapping[str, Any] | str
    model_version: str
    policy_version: str
    recorded_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.request_id, str) or not self.request_id.strip():
            raise ValueError("DecisionRecord.request_id must be a non-empty string")
        if len(self.request_id) > MAX_REQUEST_ID_LENGTH:
            raise ValueError(
                f"DecisionRecord.request_id is {len(self.request_id)} characters long; "
                f"at most {MAX_REQUEST_ID_LENGTH} are allowed"
            )
        if not isinstance(self.declaration_id, str) or not self.declaration_id:
            raise ValueError("DecisionRecord.declaration_id must be a non-empty string")
        if not isinstance(self.input_sha256, str) or not _SHA256_HEX.fullmatch(self.input_sha256):
            raise ValueError(
                "DecisionRecord.input_sha256 must be 64 lower-case hex digits (see input_hash)"
            )
        for name in ("model_version", "policy_version"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"DecisionRecord.{name} must be a string")
        if self.recorded_at is not None:
            require_aware(self.recorded_at, "DecisionRecord.recorded_at")

    @classmethod
    def from_request(
        cls,
        *,
        request_id: str,
        declaration: Mapping[str, Any],
        decision: Mapping[str, Any] | str,
        model_version: str,
        policy_version: str,
        recorded_at: datetime | None = None,
    ) -> DecisionRecord:
        """Build a record from the input declaration (hashed here) and its decision.

        Args:
            request_id: Unique id of the API request.
            declaration: The input declaration; must carry ``declaration_id``.
            decision: The full decision (mapping or JSON text).
            model_version: Version of the model.
            policy_version: Version of the selection policy.
            recorded_at: Time of the decision; ``None`` for the time of recording.

        Returns:
            The record.

        Raises:
            ValueError: When the declaration has no ``declaration_id``.
        """
        declaration_id = declaration.get("declaration_id")
        if declaration_id is None or declaration_id == "":
            raise ValueError("the declaration has no declaration_id")
        return cls(
            request_id=request_id,
            declaration_id=str(declaration_id),
            input_sha256=input_hash(declaration),
            decision=decision,
            model_version=model_version,
            policy_version=policy_version,
            recorded_at=recorded_at,
        )

    def decision_json(self) -> str:
        """The decision as the JSON text that is stored.

        Returns:
            The text as given when :attr:`decision` is a string (checked to be a JSON
            object), else compact JSON of the mapping (keys in the mapping's order).

        Raises:
            ValueError: When the text is not a JSON object, or the mapping holds ``NaN``.
        """
        if isinstance(self.decision, str):
            try:
                parsed = json.loads(self.decision)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"decision of {self.request_id!r} is not valid JSON: {err}"
                ) from err
            if not isinstance(parsed, dict):
                raise ValueError(f"decision of {self.request_id!r} is not a JSON object")
            return self.decision
        # pydantic-core's serialiser is several times faster than the json module on a
        # decision with its contributions (it was a seventh of a batch's cost); it writes
        # NaN and Infinity as bare words, so text holding them goes to canonical_json,
        # which refuses them (or, for the words inside a string, writes the same data).
        text = pydantic_core.to_json(self.decision)
        if b"NaN" in text or b"Infinity" in text:
            return canonical_json(self.decision)
        return text.decode("utf-8")


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision as read back from the audit store.

    Attributes:
        id: Row id (increases with insertion).
        request_id: Unique request id.
        recorded_at: When it was recorded (UTC).
        declaration_id: The declaration.
        input_sha256: Hash of the input declaration.
        decision: The decision, parsed from its JSON text.
        decision_json: The stored JSON text itself.
        model_version: Version of the model.
        policy_version: Version of the selection policy.
    """

    id: int
    request_id: str
    recorded_at: datetime
    declaration_id: str
    input_sha256: str
    decision: dict[str, Any]
    decision_json: str
    model_version: str
    policy_version: str


def require_aware(value: datetime, what: str) -> None:
    """Refuse a naive datetime: every timestamp of the audit store is an instant.

    Args:
        value: The value to check.
        what: How to name it in the error.

    Raises:
        ValueError: When the value is not a time zone aware datetime.
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a time zone aware datetime")


__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "DecisionRecord",
    "StoredDecision",
    "canonical_json",
    "input_hash",
    "require_aware",
]
