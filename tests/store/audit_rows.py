"""Declarations, decisions and records that the audit store's tests write and check."""

from __future__ import annotations

from typing import Any

from portsift.store.audit_records import DecisionRecord


def declaration(number: int) -> dict[str, Any]:
    return {
        "declaration_id": f"D{number:06d}",
        "declared_at": "2026-03-01",
        "importer_id": f"I{number % 17}",
        "hs_code": "852839",
        "declared_value": 1234.5 + number,
        "origin_country": "越南",
    }


def decision_for(request_id: str, number: int) -> dict[str, Any]:
    """A decision large enough that a torn write would show, and checkable on its own."""
    item = declaration(number)
    return {
        "request_id": request_id,
        "declaration_id": item["declaration_id"],
        "risk_score": round(1 / (1 + number), 6),
        "selected": number % 3 == 0,
        "lane": "red" if number % 3 == 0 else "green",
        "reasons": ["申报单价远低于同类商品参考价"] * 3,
        "contributions": [
            {"feature": f"feature_{k}", "value": k * 1.5, "shap": k / 100} for k in range(40)
        ],
        "declaration": item,
    }


def record(request_id: str, number: int, **overrides: Any) -> DecisionRecord:
    values: dict[str, Any] = {
        "request_id": request_id,
        "declaration": declaration(number),
        "decision": decision_for(request_id, number),
        "model_version": "model-7",
        "policy_version": "policy-2",
    }
    values.update(overrides)
    return DecisionRecord.from_request(**values)
