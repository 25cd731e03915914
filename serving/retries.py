"""Retried requests: a declaration is decided once, an ``Idempotency-Key`` once per body.

A client that did not get an answer (a timeout, a dropped connection) sends the request
again. So that a retry neither counts a declaration twice against the budget nor draws
its random share again:

* a declaration sent again with the same content (the same ``input_sha256``) is a
  **repeat**: nothing is written, and the answer is the decision on record, as it was
  recorded (its ``request_id`` is the first request's, its reasons in that request's
  language);
* a declaration sent again with other content is an **amendment**: decided afresh and
  recorded with ``amends`` naming the decision it replaces;
* a request with an ``Idempotency-Key`` header that the same credential used before
  must carry the same declarations with the same content: a key reused for another body
  is refused (422, field ``Idempotency-Key``) instead of amending anything.

The store judges repeats and amendments inside its write transaction
(:meth:`portsift.store.audit.AuditStore.record_decisions`), so two copies of a request
racing each other are still told apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from portsift.features.validation import InputError
from portsift.store.audit import AuditStore
from portsift.store.audit_records import DecisionResult, input_hash

#: The header naming a request's idempotency key.
IDEMPOTENCY_HEADER: Final[str] = "Idempotency-Key"
#: Longest key accepted (the audit column holds 128 characters).
MAX_KEY_LENGTH: Final[int] = 128
_KEY = re.compile(r"[\x21-\x7e]{1,128}")


class IdempotencyConflictError(InputError):
    """An ``Idempotency-Key`` the credential used before, now with another body."""


def check_key(value: str | None) -> str | None:
    """The idempotency key of a header value, checked.

    Args:
        value: The header's value, or ``None`` when absent.

    Returns:
        The key, or ``None``.

    Raises:
        InputError: A key that is empty, longer than 128 characters or not printable ASCII.
    """
    if value is None:
        return None
    key = value.strip()
    if not _KEY.fullmatch(key):
        raise InputError(
            f"header '{IDEMPOTENCY_HEADER}': 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "without spaces (e.g. a UUID)",
            file="request",
            column=IDEMPOTENCY_HEADER,
        )
    return key


def key_conflict(
    audit: AuditStore,
    records: Sequence[Mapping[str, Any]],
    *,
    credential: str | None,
    key: str,
) -> IdempotencyConflictError | None:
    """Whether a keyed request differs from what the key was first used for.

    Args:
        audit: The audit store.
        records: The request's declarations.
        credential: The credential that sent it.
        key: Its idempotency key.

    Returns:
        The error to answer with, or ``None`` when the key is new or the body the same.
    """
    earlier = audit.decisions_for_key(credential, key)
    if not earlier:
        return None
    sent = {str(record.get("declaration_id")): input_hash(record) for record in records}
    on_record = {stored.declaration_id: stored.input_sha256 for stored in earlier}
    same = set(on_record) <= set(sent) and all(
        on_record.get(declaration_id, sha) == sha for declaration_id, sha in sent.items()
    )
    if same:
        return None
    return IdempotencyConflictError(
        f"header '{IDEMPOTENCY_HEADER}': the key {key!r} was used for another request body "
        "by this credential; a retry must send the same declarations, a new request a new key",
        file="request",
        column=IDEMPOTENCY_HEADER,
    )


def answers_on_record(
    decisions: Sequence[dict[str, Any]], recorded: Sequence[DecisionResult]
) -> list[dict[str, Any]]:
    """The answers: the decision just made, or for a repeat the decision on record.

    Args:
        decisions: The decisions computed for the request, in order.
        recorded: What the store did with each (same order).

    Returns:
        One decision per declaration, each exactly as the audit store holds it.
    """
    return [
        result.stored.decision if result.kind == "repeat" else decision
        for decision, result in zip(decisions, recorded, strict=True)
    ]


__all__ = [
    "IDEMPOTENCY_HEADER",
    "IdempotencyConflictError",
    "answers_on_record",
    "check_key",
    "key_conflict",
]
