"""What goes into the audit store and what comes back: records, results, errors, hashing.

:class:`DecisionRecord` is validated when it is built, so that a bad row is refused in
the caller's process before any transaction starts; :func:`input_hash` is the
recomputable fingerprint of an input declaration that each decision row carries, and
:func:`canonical_json` the serialisation that it and the tables' hash chain
(:mod:`portsift.store.audit_chain`) are taken of. What the store answers when it records
(:class:`DecisionResult`, :class:`FeedbackResult`) says whether a row was new, a repeat
of what is on record (nothing written), or an amendment or correction of an earlier row.
The errors live here too, so that every module of the store can raise them. The store
that appends these records is :class:`portsift.store.audit.AuditStore`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

import pydantic_core

#: Longest accepted request id (the column is ``VARCHAR(128)``).
MAX_REQUEST_ID_LENGTH: Final[int] = 128
#: Longest accepted credential name (the column is ``VARCHAR(64)``).
MAX_CREDENTIAL_LENGTH: Final[int] = 64
#: Longest accepted idempotency key (the column is ``VARCHAR(128)``).
MAX_IDEMPOTENCY_KEY_LENGTH: Final[int] = 128
#: Longest customs office or importer id kept with a decision (longer ones are not kept).
MAX_OFFICE_LENGTH: Final[int] = 64
#: Longest officer id on an outcome recorded in the console.
MAX_OFFICER_ID_LENGTH: Final[int] = 64
#: Longest note on an outcome recorded in the console.
MAX_NOTE_LENGTH: Final[int] = 2000
#: The kinds of violation an outcome recorded in the console may name.
VIOLATION_KINDS: Final[tuple[str, ...]] = (
    "undervaluation",
    "misclassification",
    "origin",
    "quantity",
    "prohibited_goods",
    "other",
)

#: What recording a decision did: ``"new"`` (written, amends nothing), ``"repeat"``
#: (nothing written: the declaration's latest decision has the same input) or
#: ``"amendment"`` (written, amends the declaration's earlier decision).
DecisionKind = Literal["new", "repeat", "amendment"]
#: What recording an outcome did: ``"new"``, ``"repeat"`` (nothing written: the same
#: credential's latest outcome for the declaration says the same) or ``"correction"``
#: (written, supersedes that outcome).
FeedbackKind = Literal["new", "repeat", "correction"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


# -------------------------------------------------------------------------------- errors


class AuditError(RuntimeError):
    """The audit store could not be opened or could not record what it was given."""


class DuplicateRequestError(AuditError):
    """A batch names a request id that is already recorded (or twice in the batch).

    Nothing of the batch is written. The request ids are in :attr:`request_ids`.
    """

    def __init__(self, request_ids: Sequence[str]) -> None:
        self.request_ids: tuple[str, ...] = tuple(request_ids)
        shown = ", ".join(repr(request_id) for request_id in self.request_ids[:5])
        more = f" and {len(self.request_ids) - 5} more" if len(self.request_ids) > 5 else ""
        super().__init__(
            f"duplicate request_id {shown}{more}: a decision with this request id is already "
            "recorded (or the batch names it twice); nothing of the batch was written. "
            "Use AuditStore.get_decision to answer a retried request idempotently."
        )


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
        credential: Name of the API credential that asked (or e.g. ``"audit-import"``);
            at most 64 characters, ``None`` when unknown.
        idempotency_key: The caller's idempotency key of the request (one key covers
            every row of a batch request); at most 128 characters.
        declared_value: The declaration's declared (customs) value, kept so that an
            inspection outcome can be checked against it (``None``: not known).
        customs_office: The declaration's office of lodging, for the officer console's
            queue (``None``: not given); at most 64 characters.
        importer_id: The declaration's importer, for the enterprise's history in the
            console (``None``: not given); at most 64 characters.
        selected: Whether the decision selected the declaration (the decision's own
            ``selected``, kept as a column so that the console's queue reads the selected
            rows only; ``None``: not known).
    """

    request_id: str
    declaration_id: str
    input_sha256: str
    decision: Mapping[str, Any] | str
    model_version: str
    policy_version: str
    recorded_at: datetime | None = None
    credential: str | None = None
    idempotency_key: str | None = None
    declared_value: float | None = None
    customs_office: str | None = None
    importer_id: str | None = None
    selected: bool | None = None

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
        check_label(self.credential, "DecisionRecord.credential", MAX_CREDENTIAL_LENGTH)
        check_label(
            self.idempotency_key, "DecisionRecord.idempotency_key", MAX_IDEMPOTENCY_KEY_LENGTH
        )
        if self.declared_value is not None:
            number = _finite_number(self.declared_value)
            if number is None:
                raise ValueError("DecisionRecord.declared_value must be a finite number or None")
            # As the column gives it back, so that what is hashed is what is read.
            object.__setattr__(self, "declared_value", number)
        check_label(self.customs_office, "DecisionRecord.customs_office", MAX_OFFICE_LENGTH)
        check_label(self.importer_id, "DecisionRecord.importer_id", MAX_OFFICE_LENGTH)
        if self.selected is not None and not isinstance(self.selected, bool):
            raise ValueError("DecisionRecord.selected must be True, False or None")

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
        credential: str | None = None,
        idempotency_key: str | None = None,
    ) -> DecisionRecord:
        """Build a record from the input declaration (hashed here) and its decision.

        Args:
            request_id: Unique id of the API request.
            declaration: The input declaration; must carry ``declaration_id``.
            decision: The full decision (mapping or JSON text).
            model_version: Version of the model.
            policy_version: Version of the selection policy.
            recorded_at: Time of the decision; ``None`` for the time of recording.
            credential: Name of the credential that asked.
            idempotency_key: The request's idempotency key.

        Returns:
            The record; its ``declared_value`` is the declaration's, when that is a finite
            number, and its ``customs_office`` and ``importer_id`` the declaration's,
            when given as text of at most 64 characters; ``selected`` is the decision's
            (a mapping's 0/1 ``selected``; ``None`` for a decision given as text).

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
            credential=credential,
            idempotency_key=idempotency_key,
            declared_value=_finite_number(declaration.get("declared_value")),
            customs_office=_label(declaration.get("customs_office")),
            importer_id=_label(declaration.get("importer_id")),
            selected=_selected(decision),
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
        decision_json: The stored JSON text of the decision (:attr:`decision` parses it).
        model_version: Version of the model.
        policy_version: Version of the selection policy.
        credential: The credential that asked (``None`` on rows from before credentials).
        idempotency_key: The request's idempotency key, if it gave one.
        amends: Id of the earlier decision of the same declaration that this one amends.
        declared_value: The declaration's declared value (``None``: not known, e.g. on
            rows from before it was kept).
        customs_office: The declaration's office of lodging (``None``: not given, or a
            row from before it was kept).
        importer_id: The declaration's importer (``None`` likewise).
        selected: Whether the decision selected it (``None`` likewise).
        chain_prev: ``chain_hash`` of the row before it (``None`` before the chain).
        chain_hash: SHA-256 of the row's content (``None`` before the chain).
    """

    id: int
    request_id: str
    recorded_at: datetime
    declaration_id: str
    input_sha256: str
    decision_json: str
    model_version: str
    policy_version: str
    credential: str | None = None
    idempotency_key: str | None = None
    amends: int | None = None
    declared_value: float | None = None
    chain_prev: str | None = None
    chain_hash: str | None = None
    customs_office: str | None = None
    importer_id: str | None = None
    selected: bool | None = None

    @property
    def decision(self) -> dict[str, Any]:
        """The decision, parsed from :attr:`decision_json` (a new dict on every access).

        Parsed on demand: the API receives one of these for every row it records and
        mostly needs only the id and the kind, and parsing a decision with its
        contributions costs as much as writing it.
        """
        parsed: dict[str, Any] = json.loads(self.decision_json)
        return parsed


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What :meth:`~portsift.store.audit.AuditStore.record_decisions` did with one row.

    Attributes:
        kind: ``"new"``, ``"repeat"`` or ``"amendment"`` (:data:`DecisionKind`).
        stored: The decision on record for the row: the row just written, or for a
            repeat the earlier decision it repeats (with that decision's request id).
    """

    kind: DecisionKind
    stored: StoredDecision


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What :meth:`~portsift.store.audit.AuditStore.record_feedback` did with an outcome.

    ``int(result)`` is :attr:`id`, so that a caller written for the plain row id that
    the method used to return keeps working.

    Attributes:
        id: Row id of the outcome on record: the row just written, or for a repeat the
            earlier row it repeats.
        kind: ``"new"``, ``"repeat"`` or ``"correction"`` (:data:`FeedbackKind`).
        corrects: Id of the earlier outcome this one supersedes (for a repeat, what that
            earlier row corrects), else ``None``.
    """

    id: int
    kind: FeedbackKind
    corrects: int | None = None

    def __int__(self) -> int:
        return self.id

    def __index__(self) -> int:
        return self.id


def _selected(decision: Mapping[str, Any] | str) -> bool | None:
    """A decision's ``selected`` as a flag (``None`` for JSON text, or when absent)."""
    if isinstance(decision, str):
        return None  # not parsed again on the request path; the queue reads the JSON
    value = decision.get("selected")
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def _label(value: object) -> str | None:
    """A declaration's office or importer as kept for the console: text that fits, or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_OFFICE_LENGTH:
        return None
    return value


def _finite_number(value: object) -> float | None:
    """A declaration's number as a float, or ``None`` when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


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


def check_label(value: str | None, what: str, longest: int) -> None:
    """Refuse a credential name or key that is empty, blank or too long (``None`` is fine).

    Args:
        value: The value to check.
        what: How to name it in the error.
        longest: The column's length.

    Raises:
        ValueError: When the value is not ``None`` and not a non-blank string that fits.
    """
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string or None")
    if len(value) > longest:
        raise ValueError(f"{what} is {len(value)} characters long; at most {longest} are allowed")


__all__ = [
    "MAX_CREDENTIAL_LENGTH",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_NOTE_LENGTH",
    "MAX_OFFICER_ID_LENGTH",
    "MAX_OFFICE_LENGTH",
    "MAX_REQUEST_ID_LENGTH",
    "VIOLATION_KINDS",
    "AuditError",
    "DecisionKind",
    "DecisionRecord",
    "DecisionResult",
    "DuplicateRequestError",
    "FeedbackKind",
    "FeedbackResult",
    "StoredDecision",
    "canonical_json",
    "check_label",
    "input_hash",
    "require_aware",
]
