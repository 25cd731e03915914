"""Pydantic request and response models of the HTTP API (``docs/api.md``).

The declaration model is generated from the contract's field list
(:data:`portsift.features.contract.DECLARATION_FIELDS` and the inline lab report fields), so that
it cannot drift from the CSV loader. Pydantic checks the shape and gives BentoML's 400
naming the field in ``detail[].loc``; the values are then validated once more by
:func:`portsift.features.loading.declarations_from_records` exactly as a file is (dates, HS
codes, lab results), which answers 422 naming the field.

The shape is strict (``docs/api.md``, "Strict input"): numbers are JSON numbers (an
integer is one; ``"1200"`` and ``true`` are not), at least 0 and at most the field's
``[input_bounds]`` of the settings; 0/1 flags are the numbers 0 and 1, not booleans;
identifiers and codes are strings or integers; no string holds a control,
bidirectional or invisible character (:mod:`portsift.features.plausibility`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
)

from portsift.features import contract
from portsift.features.plausibility import default_bounds, describe, first_forbidden

#: Most declarations one ``/score_batch`` request may carry.
MAX_BATCH: int = 1000


def _no_boolean(value: Any) -> Any:
    # A Literal[0, 1] takes True for 1 even in strict mode; a flag is a number.
    if isinstance(value, bool):
        raise ValueError("a flag is the number 0 or 1, not a boolean")
    return value


def _plain_text(value: Any) -> Any:
    # After the str | int union (a validator inside a member would name the member in
    # the error's loc); integers have nothing to check.
    char = first_forbidden(value) if isinstance(value, str) else None
    if char is not None:
        raise ValueError(
            f"{describe(char)} is not allowed: identifiers, codes and dates take no control, "
            "bidirectional or invisible characters"
        )
    return value


Flag = Annotated[Literal[0, 1], BeforeValidator(_no_boolean)]
Language = Literal["en", "zh"]

_Plain = AfterValidator(_plain_text)
_Id = Annotated[Annotated[StrictStr, Field(min_length=1, max_length=128)] | StrictInt, _Plain]
_Text = Annotated[StrictStr, Field(max_length=256), _Plain]
_Date = Annotated[StrictStr, Field(min_length=1, max_length=40), _Plain]
_Code = Annotated[Annotated[StrictStr, Field(min_length=1, max_length=16)] | StrictInt, _Plain]

#: ``[input_bounds]`` of the settings the server runs with (``PORTSIFT_CONFIG``).
BOUNDS: Mapping[str, float] = default_bounds()


def _number(name: str, non_negative: bool) -> Any:
    # StrictFloat takes JSON integers (1200) and refuses strings ("1200") and booleans.
    return Annotated[
        StrictFloat,
        Field(ge=0 if non_negative else None, le=BOUNDS.get(name), allow_inf_nan=False),
    ]


def _annotation(field: contract.Field) -> Any:
    if field.kind == "number":
        return _number(field.name, field.non_negative)
    return {"id": _Id, "text": _Text, "date": _Date, "code": _Code, "flag": Flag}[field.kind]


def _declaration_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for field in contract.DECLARATION_FIELDS:
        annotation = _annotation(field)
        if field.required:
            fields[field.name] = (annotation, ...)
        else:
            fields[field.name] = (annotation | None, None)
    lab = {f.name: f for f in contract.LAB_RESULT_FIELDS}
    for name in contract.INLINE_LAB_FIELDS:
        fields[name] = (_annotation(lab[name]) | None, None)
    return fields


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: One declaration, flat, with the canonical field names (and optional lab report).
Declaration = create_model(
    "Declaration",
    __base__=_Strict,
    __doc__="One import declaration: the contract's canonical fields, flat.",
    lang=(Language | None, Field(None, description="language of the reasons (en or zh)")),
    **_declaration_fields(),
)


#: Canonical fields that are numbers (JSON numbers in a request).
_NUMBER_FIELDS = frozenset(f.name for f in contract.DECLARATION_FIELDS if f.kind == "number")


def declaration_json(
    row: Mapping[str, str], lab: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A declaration read from a CSV (text values) as the JSON body ``POST /score`` takes.

    Empty values and the training labels are left out, numbers become JSON numbers, and a
    lab report of the lab results table (``lab_id, lab_accredited, lab_result,
    issued_at``) goes inline.

    Args:
        row: One declaration with canonical field names, as ``csv.DictReader`` gives it.
        lab: Its lab report row, if any.

    Returns:
        The request body.
    """
    record: dict[str, Any] = {
        key: float(value) if key in _NUMBER_FIELDS else value
        for key, value in row.items()
        if value != "" and key not in contract.LABEL_FIELDS
    }
    if lab is not None:
        record.update(
            lab_id=lab["lab_id"],
            lab_accredited=int(lab["lab_accredited"]),
            lab_result=lab["lab_result"],
            issued_at=lab["issued_at"],
        )
    return record


def declaration_record(declaration: BaseModel) -> dict[str, Any]:
    """The declaration as the JSON object the loader validates (no ``lang``, no nulls)."""
    return declaration.model_dump(exclude_none=True, exclude={"lang"})


class ScoreBatchRequest(_Strict):
    """``POST /score_batch``: declarations decided in order."""

    declarations: list[Declaration] = Field(min_length=1, max_length=MAX_BATCH)  # type: ignore[valid-type]
    lang: Language | None = None


class Contribution(BaseModel):
    """One feature's SHAP contribution (log-odds) and the value the model saw."""

    feature: str
    value: float | None
    shap: float


class Decision(BaseModel):
    """One decision: the contract's score columns, deadlines, versions and explanation.

    The fields of measures 22 and 12 (:mod:`portsift.serving.measures`) close it.
    """

    request_id: str
    declaration_id: str
    risk_score: float
    expected_revenue: float
    selected: int
    lane: Literal["green", "yellow", "red", "red_sampling", "red_remote"]
    selection_reason: Literal["risk", "random", "tier_floor", "rule", "disclosure", ""]
    credit_tier: str
    reasons: str
    lab_accepted: int
    green_channel: int
    priority_lane: int
    inspection_deadline_hours: float | None
    release_deadline_hours: float | None
    sampling_deadline_days: float | None
    lab_test_deadline_days: float | None
    model_version: str
    policy_version: str
    release_condition: Literal["conditional_early_release", "conditional_release", ""]
    objective: Literal["hits", "revenue", "blend"]
    revenue_weight: float
    raw_score: float
    base_value: float
    revenue_estimated: bool
    contributions: list[Contribution]
    # Measure 22 (serve --disclosures): null without the register, "" / null where no
    # disclosure covers the declaration.
    disclosure_id: str | None = None
    disclosed_at: str | None = None
    disclosure_minor: Literal[0, 1] | None = None
    # Measure 12 (serve --rulings): null without the register; ";"-joined in kind order
    # (classification, valuation, origin), "" where no valid ruling matches.
    ruling_ids: str | None = None
    ruling_kinds: str | None = None
    ruling_valid_to: str | None = None
    ruling_expiring: Literal[0, 1] | None = None
    ruling_risk_score: float | None = None


class Feedback(_Strict):
    """``POST /feedback``: the outcome of an inspection."""

    declaration_id: _Id  # type: ignore[valid-type]
    inspected: Flag
    illicit: Flag | None = None
    revenue: _number("revenue", True) | None = None  # type: ignore[valid-type]


class FeedbackReceipt(BaseModel):
    """What ``POST /feedback`` answers once the outcome is committed.

    ``kind`` is ``new``; ``repeat`` when the same credential had sent the same outcome
    (nothing new was written, ``feedback_id`` is the earlier row); or ``correction`` when
    it differs from that credential's earlier outcome, whose id ``corrects`` names.
    """

    declaration_id: str
    recorded: bool
    feedback_id: int
    kind: Literal["new", "repeat", "correction"]
    corrects: int | None = None


class ValidationProblem(BaseModel):
    """One problem pydantic found in a request body (an item of a 400's ``detail``)."""

    type: str
    loc: list[str | int]
    msg: str
    url: str | None = None


class ErrorBody(BaseModel):
    """An error answer: the message and the field it is about.

    A 400 (the body does not have the shape of the request model, or is not JSON) also
    carries pydantic's problems in ``detail``; a 422 (a value the loader refuses) names
    the 1-based ``records`` of a batch it is about; 401, 413 and 503 carry ``error`` only.
    """

    error: str
    field: str | None = None
    records: list[int] | None = None
    detail: list[ValidationProblem] | None = None
