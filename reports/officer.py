"""Officer explanation report of one declaration (HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.pipeline import Registers
from features.validation import InputError
from features.writing import write_text_atomic
from models.bundle import Bundle
from models.explain import reasons
from models.scoring import registers_for, score_declarations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Inspection decision report",
        "summary": "Declaration",
        "decision": "Decision",
        "risk": "Risk score",
        "percentile": "percentile among the declarations of this batch",
        "expected_revenue": "Expected revenue if inspected",
        "estimate": "(an estimate: the model had no revenue label)",
        "lane": "Lane",
        "reason": "Selection reason",
        "why": "Why: the factors that moved the risk most",
        "feature": "Factor",
        "value": "Value",
        "shap": "Contribution (log-odds)",
        "enterprise": "Importer credit and history",
        "tier": "Credit tier in force",
        "history": "Earlier inspections of this importer in the file",
        "lab": "Third-party lab report",
        "no_lab": "No lab report.",
        "versions": "Model version",
        "base": "Base value",
        "raw": "Raw score",
        "selected": "selected for inspection",
        "released": "released",
    },
    "zh": {
        "title": "查验决定说明报告",
        "summary": "报关单",
        "decision": "决定",
        "risk": "风险评分",
        "percentile": "在本批报关单中的百分位",
        "expected_revenue": "查验预期补税",
        "estimate": "（估算值：模型无补税标签）",
        "lane": "通道",
        "reason": "布控原因",
        "why": "原因：对风险影响最大的因素",
        "feature": "因素",
        "value": "数值",
        "shap": "贡献（对数几率）",
        "enterprise": "进口企业信用与历史",
        "tier": "适用信用等级",
        "history": "本文件中该企业此前的查验",
        "lab": "第三方检验报告",
        "no_lab": "无检验报告。",
        "versions": "模型版本",
        "base": "基准值",
        "raw": "原始得分",
        "selected": "布控查验",
        "released": "放行",
    },
}
SUMMARY_FIELDS = (
    "declaration_id",
    "declared_at",
    "importer_id",
    "declarant_id",
    "hs_code",
    "origin_country",
    "customs_office",
    "declared_value",
    "quantity",
    "gross_weight",
    "trade_mode",
)


@dataclass(frozen=True)
class DeclarationReport:
    """Everything a declaration report shows."""

    lang: str
    labels: dict[str, str]
    summary: dict[str, Any]
    decision: dict[str, Any]
    percentile: float
    contributions: list[dict[str, Any]]
    reasons: list[str]
    history: list[dict[str, Any]]
    lab: dict[str, Any] | None
    model_version: str
    base_value: float
    raw_score: float
    revenue_estimated: bool


def build_report(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    declaration_id: str,
    lang: str,
    rate: float,
    revenue_weight: float = 0.2,
    top: int = 8,
) -> DeclarationReport:
    """Score the batch and assemble the report of one declaration in it.

    Args:
        bundle: The model bundle.
        declarations: The batch the declaration belongs to.
        registers: Registers for this run.
        declaration_id: The declaration to report on.
        lang: ``"zh"`` or ``"en"``.
        rate: Inspection rate of the batch.
        revenue_weight: Weight of the revenue at stake in the priority.
        top: Contributions shown.

    Returns:
        The report content.

    Raises:
        InputError: If the id is not in the declarations.
    """
    matches = np.flatnonzero((declarations["declaration_id"] == declaration_id).to_numpy())
    if len(matches) == 0:
        raise InputError(
            f"declaration id {declaration_id!r} is not in the declarations file",
            column="declaration_id",
        )
    position = int(matches[0])
    scored = score_declarations(
        bundle,
        declarations,
        registers,
        rate=rate,
        revenue_weight=revenue_weight,
        explain_rows=False,
    )
    decision = scored.decisions.iloc[position].to_dict()
    risk = scored.decisions["risk_score"].to_numpy()
    percentile = float((risk <= risk[position]).mean() * 100)
    one = declarations.iloc[[position]]
    single = score_declarations(bundle, one, registers, rate=1.0, lang=lang, reason_count=5)
    assert single.explanation is not None
    explanation = single.explanation
    values = explanation.values[0]
    order = np.argsort(-np.abs(values), kind="stable")[:top]
    labels = bundle.pipeline.feature_labels()
    features = single.features.iloc[0]
    contributions = [
        {
            "feature": labels.get(explanation.features[i], explanation.features[i]),
            "value": _fmt(features[explanation.features[i]]),
            "shap": float(values[i]),
        }
        for i in order
    ]
    text = reasons(single.features, explanation, count=5, lang=lang).iloc[0]
    row = declarations.iloc[position]
    earlier = declarations[
        (declarations["importer_id"] == row["importer_id"])
        & (declarations["declared_at"] < row["declared_at"])
        & (declarations.get("inspected", pd.Series(0, index=declarations.index)) == 1)
    ].tail(10)
    history = [
        {
            "declaration_id": r["declaration_id"],
            "declared_at": str(pd.Timestamp(r["declared_at"]).date()),
            "hs_code": r["hs_code"],
            "illicit": None if pd.isna(r.get("illicit")) else int(r["illicit"]),
        }
        for _, r in earlier.iterrows()
    ]
    lab = None
    if pd.notna(features.get("lab_report_present")) and features["lab_report_present"] == 1:
        lab_frame = registers_for(bundle, registers).lab_results
        lab = {
            "lab_id": features.get("lab_id"),
            "accredited": int(features["lab_accredited"]) == 1,
            "result": features.get("lab_result"),
            "issued_at": str(pd.Timestamp(features["issued_at"]).date()),
            "reports_in_register": 0 if lab_frame is None else len(lab_frame),
        }
    summary = {f: _fmt(row[f]) for f in SUMMARY_FIELDS if f in row.index}
    return DeclarationReport(
        lang=lang,
        labels=LABELS[lang],
        summary=summary,
        decision=decision,
        percentile=percentile,
        contributions=contributions,
        reasons=[t for t in text.split("; ") if t],
        history=history,
        lab=lab,
        model_version=bundle.model_version,
        base_value=float(explanation.base_value[0]),
        raw_score=float(explanation.raw_score[0]),
        revenue_estimated=bool(bundle.metadata.get("revenue_estimated", False)),
    )


def render_html(report: DeclarationReport) -> str:
    """Render the report as a standalone HTML page."""
    from jinja2 import Environment, select_autoescape

    template_text = (
        resources.files("reports").joinpath("templates/declaration.html.j2").read_text("utf-8")
    )
    environment = Environment(autoescape=select_autoescape(default=True))
    scale = max((abs(c["shap"]) for c in report.contributions), default=1.0) or 1.0
    return environment.from_string(template_text).render(report=report, scale=scale)


def write_declaration_report(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    declaration_id: str,
    lang: str,
    out: str | Path,
    rate: float,
    revenue_weight: float = 0.2,
) -> Path:
    """Build and write one declaration's report (HTML) atomically.

    Raises:
        InputError: For an unknown id or an output suffix other than ``.html``.
    """
    path = Path(out)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(
            f"{path}: reports are written as .html (PDF output comes with the report renderer)",
            file=str(path),
        )
    report = build_report(
        bundle,
        declarations,
        registers,
        declaration_id=declaration_id,
        lang=lang,
        rate=rate,
        revenue_weight=revenue_weight,
    )
    return write_text_atomic(render_html(report), path)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    if isinstance(value, float | np.floating):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
