"""Audit records: the input hash and the checks a record passes before it is written."""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime

import pytest

from portsift.store.audit_records import DecisionRecord, input_hash
from tests.store.audit_rows import declaration, record

# ------------------------------------------------------------------------------ hashing


def test_input_hash_is_sha256_of_sorted_compact_utf8_json() -> None:
    item = {"b": 1, "a": "越南", "c": [1.5, None, True]}
    expected = hashlib.sha256('{"a":"越南","b":1,"c":[1.5,null,true]}'.encode()).hexdigest()
    assert input_hash(item) == expected
    assert input_hash(dict(reversed(list(item.items())))) == expected
    assert input_hash({"a": 1}) != input_hash({"a": 1.0})
    assert input_hash({"d": date(2026, 3, 1)}) == input_hash({"d": "2026-03-01"})
    with pytest.raises(ValueError):
        input_hash({"a": math.nan})
    with pytest.raises(TypeError):
        input_hash({"a": object()})


def test_decision_record_is_validated() -> None:
    good = record("r-1", 1)
    assert good.declaration_id == "D000001"
    assert good.input_sha256 == input_hash(declaration(1))
    with pytest.raises(ValueError, match="request_id"):
        record("", 1)
    with pytest.raises(ValueError, match="at most 128"):
        record("r" * 129, 1)
    with pytest.raises(ValueError, match="time zone aware"):
        record("r-2", 1, recorded_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="declaration_id"):
        DecisionRecord.from_request(
            request_id="r-3", declaration={}, decision={}, model_version="m", policy_version="p"
        )
    with pytest.raises(ValueError, match="input_sha256"):
        DecisionRecord("r-4", "D1", "not-a-hash", {}, "m", "p")
    with pytest.raises(ValueError, match="not a JSON object"):
        record("r-5", 1, decision="[1, 2]").decision_json()
    with pytest.raises(ValueError, match=r"NaN|JSON compliant"):
        record("r-6", 1, decision={"risk_score": math.nan}).decision_json()
