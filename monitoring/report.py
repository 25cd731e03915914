"""The drift-monitoring dashboard of ``portsift monitor``: one self-contained HTML page.

Charts are inline SVG in the style of :mod:`portsift.reports.charts` (no plotting library, no
external resource), so the page is one file that opens anywhere and prints cleanly.
Headings are English with the Chinese term beside them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from portsift.monitoring.drift import MonitorResult
from portsift.monitoring.reference import SCORE, SCORE_HISTOGRAM_BINS, score_histogram
from portsift.reports import page
from portsift.reports.charts import INK, LIGHT, MUTED, RULE, SELECTED, nice_ticks

OK = "#2e6b3a"
WARN = "#c98a00"
ALERT = "#a61b1b"
REFERENCE = "#b9c6d6"
#: Line colours of the weekly chart (the score first, in ink).
SERIES = (INK, "#a61b1b", "#2f6690", "#c98a00", "#6a4c93", "#2e6b3a", "#8c564b")
STATUS_COLOUR = {"ok": OK, "warn": WARN, "alert": ALERT}

LABELS = {
    "agency": "portsift · drift monitoring · 模型漂移监测",
    "marking": "For official use · 内部资料",
}


def _svg_open(width: int, height: int, label: str, kind: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" font-family="inherit" font-size="12">'
    )


def psi_bar_svg(
    table: pd.DataFrame, *, warn: float, alert: float, width: int = 900, bar: int = 16
) -> Markup:
    """Horizontal bars of the PSI of every variable, coloured by status.

    Args:
        table: ``MonitorResult.psi`` (``variable, psi, status, alerting``), sorted.
        warn: Warning threshold (dashed line).
        alert: Alert threshold (solid line).
        width: Width in CSS pixels.
        bar: Height of one bar row.

    Returns:
        The ``<svg>`` element.
    """
    left, right, top, bottom = 250, 60, 24, 36
    height = top + bottom + bar * len(table)
    x0, x1 = left, width - right
    peak = max(float(table["psi"].max()) if len(table) else 0.0, alert * 1.2)
    ticks = nice_ticks(0.0, peak, 6)
    high = max(ticks[-1], peak)

    def x(value: float) -> float:
        return x0 + min(value, high) / high * (x1 - x0)

    parts = [_svg_open(width, height, "PSI per variable", "psi-bars")]
    for tick in ticks:
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{height - bottom}" '
            f'stroke="{LIGHT}"/><text x="{tx:.1f}" y="{height - bottom + 15}" '
            f'text-anchor="middle" fill="{MUTED}" font-size="11">{tick:g}</text>'
        )
    for index, row in enumerate(table.itertuples()):
        y = top + index * bar
        colour = STATUS_COLOUR[row.status] if row.alerting else REFERENCE
        name = str(row.variable) + ("" if row.alerting else " *")
        weight = ' font-weight="700"' if row.variable == SCORE else ""
        parts.append(
            f'<text x="{x0 - 6}" y="{y + bar - 4}" text-anchor="end" fill="{INK}"{weight}>'
            f"{escape(name)}</text>"
            f'<rect x="{x0}" y="{y + 2}" width="{max(x(row.psi) - x0, 0.5):.1f}" '
            f'height="{bar - 4}" fill="{colour}"><title>{escape(row.variable)}: '
            f"PSI {row.psi:.4f} ({row.status})</title></rect>"
            f'<text x="{x(row.psi) + 4:.1f}" y="{y + bar - 4}" fill="{MUTED}" '
            f'font-size="11">{row.psi:.3f}</text>'
        )
    for value, dash, colour in ((warn, ' stroke-dasharray="4 3"', WARN), (alert, "", ALERT)):
        parts.append(
            f'<line x1="{x(value):.1f}" y1="{top - 6}" x2="{x(value):.1f}" '
            f'y2="{height - bottom}" stroke="{colour}"{dash}/>'
            f'<text x="{x(value):.1f}" y="{top - 10}" text-anchor="middle" fill="{colour}" '
            f'font-size="11">{value:g}</text>'
        )
    parts.append(
        f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="{INK}">'
        "PSI (training window → recent)</text></svg>"
    )
    return Markup("".join(parts))


def score_distribution_svg(
    reference_shares: Sequence[float],
    recent_scores: np.ndarray,
    *,
    width: int = 900,
    height: int = 280,
) -> Markup:
    """Risk-score histograms of the training window and the recent window, as shares.

    Shares on a square-root scale: most declarations score low, and the thin upper tail,
    where selections happen, would vanish on a linear scale.

    Args:
        reference_shares: Shares of the training window in the equal-width bins.
        recent_scores: Risk scores of the recent declarations.
        width: Width in CSS pixels.
        height: Height in CSS pixels.

    Returns:
        The ``<svg>`` element.
    """
    bins = SCORE_HISTOGRAM_BINS
    ref = np.asarray(reference_shares, dtype="float64")
    rec = score_histogram(recent_scores)
    left, right, top, bottom = 56, 16, 30, 46
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    peak = math.sqrt(max(float(ref.max(initial=0)), float(rec.max(initial=0)), 1e-9))
    ticks = [t for t in (0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0) if math.sqrt(t) <= peak]

    def y(share: float) -> float:
        return y1 - math.sqrt(max(share, 0.0)) / peak * (y1 - y0)

    step = (x1 - x0) / bins
    parts = [_svg_open(width, height, "risk score distribution", "score-distribution")]
    for tick in ticks:
        parts.append(
            f'<line x1="{x0}" y1="{y(tick):.1f}" x2="{x1}" y2="{y(tick):.1f}" stroke="{LIGHT}"/>'
            f'<text x="{x0 - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="{MUTED}" '
            f'font-size="11">{tick:.1%}</text>'
        )
    for index in range(bins):
        bx = x0 + index * step
        for offset, share, colour, name in (
            (1.0, ref[index], REFERENCE, "training window"),
            (step / 2, rec[index], SELECTED, "recent"),
        ):
            if share > 0:
                parts.append(
                    f'<rect x="{bx + offset:.1f}" y="{y(share):.1f}" width="{step / 2 - 1:.1f}" '
                    f'height="{y1 - y(share):.1f}" fill="{colour}"><title>{name} '
                    f"{index / bins:.2f}–{(index + 1) / bins:.2f}: {share:.2%}</title></rect>"
                )
    parts.append(f'<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="{MUTED}"/>')
    for tick in np.linspace(0.0, 1.0, 11):
        tx = x0 + tick * (x1 - x0)
        parts.append(
            f'<text x="{tx:.1f}" y="{y1 + 17}" text-anchor="middle" fill="{MUTED}" '
            f'font-size="11">{tick:.1f}</text>'
        )
    parts.append(
        f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="{INK}">'
        "risk score 风险评分</text>"
        f'<rect x="{x1 - 250}" y="8" width="12" height="12" fill="{REFERENCE}"/>'
        f'<text x="{x1 - 233}" y="18" fill="{INK}">training window</text>'
        f'<rect x="{x1 - 110}" y="8" width="12" height="12" fill="{SELECTED}"/>'
        f'<text x="{x1 - 93}" y="18" fill="{INK}">recent</text></svg>'
    )
    return Markup("".join(parts))


def weekly_psi_svg(
    weekly: pd.DataFrame,
    variables: Sequence[str],
    *,
    warn: float,
    alert: float,
    width: int = 900,
    height: int = 300,
) -> Markup:
    """Lines of the weekly PSI of some variables, with the thresholds.

    Args:
        weekly: ``MonitorResult.weekly``.
        variables: The columns to draw (the score first).
        warn: Warning threshold.
        alert: Alert threshold.
        width: Width in CSS pixels.
        height: Height in CSS pixels.

    Returns:
        The ``<svg>`` element.
    """
    left, right, top, bottom = 56, 190, 20, 46
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    values = weekly[list(variables)].to_numpy(dtype="float64") if len(weekly) else np.zeros((0, 0))
    peak = max(float(np.nanmax(values)) if values.size else 0.0, alert * 1.2)
    ticks = nice_ticks(0.0, peak, 6)
    high = max(ticks[-1], peak)
    count = len(weekly)

    def x(index: int) -> float:
        return x0 + (index / (count - 1) if count > 1 else 0.5) * (x1 - x0)

    def y(value: float) -> float:
        return y1 - min(value, high) / high * (y1 - y0)

    parts = [_svg_open(width, height, "weekly PSI", "weekly-psi")]
    for tick in ticks:
        parts.append(
            f'<line x1="{x0}" y1="{y(tick):.1f}" x2="{x1}" y2="{y(tick):.1f}" stroke="{LIGHT}"/>'
            f'<text x="{x0 - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="{MUTED}" '
            f'font-size="11">{tick:g}</text>'
        )
    for value, dash, colour in ((warn, ' stroke-dasharray="4 3"', WARN), (alert, "", ALERT)):
        parts.append(
            f'<line x1="{x0}" y1="{y(value):.1f}" x2="{x1}" y2="{y(value):.1f}" '
            f'stroke="{colour}"{dash}/>'
        )
    every = max(1, math.ceil(count / 10))
    for index, week in enumerate(weekly["week"]):
        if index % every == 0:
            parts.append(
                f'<text x="{x(index):.1f}" y="{y1 + 16}" text-anchor="middle" fill="{MUTED}" '
                f'font-size="10">{pd.Timestamp(week):%m-%d}</text>'
            )
    for series, name in enumerate(variables):
        colour = SERIES[series % len(SERIES)]
        column = weekly[name].to_numpy(dtype="float64")
        points = " ".join(
            f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(column) if math.isfinite(v)
        )
        width_attr = "2.4" if name == SCORE else "1.5"
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="{width_attr}"><title>{escape(name)}</title></polyline>'
        )
        ly = top + 4 + series * 18
        parts.append(
            f'<line x1="{x1 + 12}" y1="{ly}" x2="{x1 + 30}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2.4"/><text x="{x1 + 35}" y="{ly + 4}" fill="{INK}" '
            f'font-size="11">{escape(name)}</text>'
        )
    parts.append(
        f'<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="{RULE}"/>'
        f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="{INK}">'
        "week (Monday) 周</text></svg>"
    )
    return Markup("".join(parts))


def weekly_variables(result: MonitorResult, count: int = 5) -> list[str]:
    """The score, then the ``count`` alerting features with the highest overall PSI."""
    table = result.psi
    features = table[(table["variable"] != SCORE) & table["alerting"]]["variable"]
    return [SCORE, *features.head(count).tolist()]


def render_dashboard(result: MonitorResult, *, model_version: str, source: str) -> str:
    """Render the dashboard HTML of a monitoring result.

    Args:
        result: The monitoring result.
        model_version: The bundle's version.
        source: Name of the declarations file.

    Returns:
        The whole HTML document.
    """
    t = result.thresholds
    weekly_names = weekly_variables(result)
    detail_names = [
        n for n in result.psi["variable"] if n == SCORE or n in set(result.psi.head(6)["variable"])
    ]
    return page.render(
        "monitor.html.j2",
        lang="en",
        labels=LABELS,
        result=result,
        model_version=model_version,
        source=source,
        generated=page.generated_at(),
        psi_chart=psi_bar_svg(result.psi, warn=t.psi_warn, alert=t.psi_alert),
        score_chart=score_distribution_svg(result.reference.score_histogram, result.recent_scores),
        weekly_chart=(
            weekly_psi_svg(result.weekly, weekly_names, warn=t.psi_warn, alert=t.psi_alert)
            if len(result.weekly) >= 2
            else None
        ),
        details=[(name, result.bins[name]) for name in detail_names],
        labels_drift=result.labels,
    )
