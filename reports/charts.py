"""Charts of the reports as inline SVG: a SHAP waterfall and a score histogram.

Inline SVG keeps a report one self-contained file, prints crisply to PDF and needs no
plotting library. Text in the charts inherits the page's font stack (the CJK font), so
Chinese labels render as the rest of the page does. All text is XML-escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

#: Colours: raises the risk, lowers it, ink, muted ink, rules.
RAISE = "#b3261e"
LOWER = "#2f6690"
INK = "#1c2733"
MUTED = "#5d6b7a"
RULE = "#d5dbe2"
LIGHT = "#e9edf2"
SELECTED = "#1f3a5f"
RELEASED = "#b9c6d6"


@dataclass(frozen=True)
class WaterfallStep:
    """One bar of a waterfall: a factor, its value as printed and its SHAP value."""

    label: str
    value: str
    shap: float


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Return round tick positions covering ``[low, high]``.

    Args:
        low: Lower end of the data.
        high: Upper end of the data.
        count: About how many ticks.

    Returns:
        Ticks in increasing order, a multiple of 1, 2 or 5 times a power of ten apart.
    """
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt_tick(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text.replace("-", "−")


def _signed(value: float) -> str:
    return ("+" if value >= 0 else "−") + f"{abs(value):.3f}"


def waterfall_svg(
    base: float,
    steps: Sequence[WaterfallStep],
    *,
    base_label: str,
    final_label: str,
    final_note: str = "",
    width: int = 760,
) -> Markup:
    """Draw a SHAP waterfall: from the base value, each factor's step, to the raw score.

    Args:
        base: The model's base value (log-odds).
        steps: The factors in the order drawn (strongest first), the last possibly an
            "other factors" step, so that ``base + sum(shap)`` is the raw score.
        base_label: Text of the first row.
        final_label: Text of the last row.
        final_note: Shown after the raw score on the last row (e.g. the risk score).
        width: Width of the drawing in CSS pixels (it scales to its container).

    Returns:
        The ``<svg>`` element, safe to insert into HTML.
    """
    label_width, right_pad, row, top, axis_height = 300, 70, 31, 8, 30
    rows = len(steps) + 2
    height = top + rows * row + axis_height
    cumulative = [base]
    for step in steps:
        cumulative.append(cumulative[-1] + step.shap)
    final = cumulative[-1]
    low, high = min(cumulative), max(cumulative)
    span = max(high - low, 0.2)
    low, high = low - 0.06 * span, high + 0.06 * span
    ticks = nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    x0, x1 = label_width + 10, width - right_pad

    def x(value: float) -> float:
        return x0 + (value - low) / (high - low) * (x1 - x0)

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart waterfall" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(base_label)} → {escape(final_label)}" '
        f'font-family="inherit" font-size="13">'
    ]
    plot_bottom = top + rows * row
    for tick in ticks:
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{plot_bottom}" '
            f'stroke="{LIGHT}" stroke-width="1"/>'
            f'<text x="{tx:.1f}" y="{plot_bottom + 18}" text-anchor="middle" '
            f'fill="{MUTED}" font-size="11">{_fmt_tick(tick)}</text>'
        )
    parts.append(
        f'<line x1="{x0}" y1="{plot_bottom}" x2="{x1}" y2="{plot_bottom}" stroke="{MUTED}"/>'
    )
    # Base value: a dashed reference line through every row.
    bx = x(base)
    parts.append(
        f'<line x1="{bx:.1f}" y1="{top + 4}" x2="{bx:.1f}" y2="{plot_bottom}" '
        f'stroke="{MUTED}" stroke-dasharray="3 3"/>'
    )

    def label(index: int, main: str, sub: str = "", bold: bool = False) -> None:
        y = top + index * row
        weight = ' font-weight="700"' if bold else ""
        if sub:
            parts.append(
                f'<text x="{label_width}" y="{y + 13}" text-anchor="end" fill="{INK}"{weight}>'
                f"{escape(main)}</text>"
                f'<text x="{label_width}" y="{y + 26}" text-anchor="end" fill="{MUTED}" '
                f'font-size="11">{escape(sub)}</text>'
            )
        else:
            parts.append(
                f'<text x="{label_width}" y="{y + 20}" text-anchor="end" fill="{INK}"{weight}>'
                f"{escape(main)}</text>"
            )

    label(0, base_label, bold=True)
    parts.append(_marker(bx, top + row / 2))
    parts.append(
        f'<text x="{bx + 9:.1f}" y="{top + row / 2 + 4:.1f}" fill="{INK}" font-size="12">'
        f"{_fmt_value(base)}</text>"
    )
    bar = 15
    for index, step in enumerate(steps, start=1):
        start, end = cumulative[index - 1], cumulative[index]
        y = top + index * row + (row - bar) / 2
        label(index, step.label, step.value)
        parts.append(_arrow(x(start), x(end), y, bar, RAISE if step.shap >= 0 else LOWER))
        text_x = max(x(start), x(end)) + 5
        parts.append(
            f'<text x="{text_x:.1f}" y="{y + bar - 3:.1f}" fill="{INK}" font-size="12">'
            f"{_signed(step.shap)}</text>"
        )
        next_y = top + (index + 1) * row + (row - bar) / 2
        parts.append(
            f'<line x1="{x(end):.1f}" y1="{y + bar:.1f}" x2="{x(end):.1f}" y2="{next_y:.1f}" '
            f'stroke="{MUTED}" stroke-width="1"/>'
        )
    last = rows - 1
    fx = x(final)
    label(last, final_label, bold=True)
    parts.append(_marker(fx, top + last * row + row / 2))
    note = f" · {final_note}" if final_note else ""
    anchor, note_x = ("end", fx - 9) if fx > (x0 + x1) / 2 else ("start", fx + 9)
    parts.append(
        f'<text x="{note_x:.1f}" y="{top + last * row + row / 2 + 4:.1f}" text-anchor="{anchor}" '
        f'fill="{INK}" font-size="12" font-weight="700">{_fmt_value(final)}{escape(note)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _fmt_value(value: float) -> str:
    return f"{value:.3f}".replace("-", "−")


def _marker(cx: float, cy: float) -> str:
    return (
        f'<path d="M{cx:.1f},{cy - 6:.1f} L{cx + 6:.1f},{cy:.1f} L{cx:.1f},{cy + 6:.1f} '
        f'L{cx - 6:.1f},{cy:.1f} Z" fill="{INK}"/>'
    )


def _arrow(start: float, end: float, y: float, height: float, colour: str) -> str:
    """A horizontal bar from ``start`` to ``end`` with an arrow head at ``end``."""
    left, right = min(start, end), max(start, end)
    head = min(6.0, right - left)
    mid = y + height / 2
    if end >= start:
        points = [(left, y), (right - head, y), (right, mid), (right - head, y + height)]
        points.append((left, y + height))
    else:
        points = [(right, y), (left + head, y), (left, mid), (left + head, y + height)]
        points.append((right, y + height))
    text = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    return f'<polygon points="{text}" fill="{colour}"/>'


def histogram_svg(
    scores: np.ndarray,
    selected: np.ndarray,
    *,
    x_label: str,
    y_label: str,
    legend_selected: str,
    legend_all: str,
    bins: int = 20,
    width: int = 760,
    height: int = 260,
) -> Markup:
    """Draw the distribution of risk scores over ``[0, 1]``, selections in a darker bar.

    Counts are on a log scale (the scores are skewed: most declarations are low risk,
    and the selections sit in the thin upper tail).

    Args:
        scores: Risk score per declaration (0..1).
        selected: Selection flag per declaration.
        x_label: Axis title under the chart.
        y_label: Axis title of the counts.
        legend_selected: Legend text of the selected bars.
        legend_all: Legend text of all declarations.
        bins: Number of equal-width bins.
        width: Width in CSS pixels (the drawing scales to its container).
        height: Height in CSS pixels.

    Returns:
        The ``<svg>`` element, safe to insert into HTML.
    """
    scores = np.clip(np.asarray(scores, dtype="float64"), 0.0, 1.0)
    chosen = np.asarray(selected).astype(bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total, _ = np.histogram(scores, bins=edges)
    picked, _ = np.histogram(scores[chosen], bins=edges)
    left, right, top, bottom = 62, 16, 30, 46
    x0, x1, y0, y1 = left, width - right, top, height - bottom
    floor = math.log10(0.5)
    peak = max(int(total.max()) if len(total) else 1, 1)
    ceiling = math.ceil(math.log10(peak) + 1e-9) or 1

    def y(count: float) -> float:
        if count <= 0:
            return y1
        return y1 - (math.log10(count) - floor) / (ceiling - floor) * (y1 - y0)

    def x(value: float) -> float:
        return x0 + value * (x1 - x0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart histogram" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(x_label)}" font-family="inherit" font-size="12">'
    ]
    for power in range(ceiling + 1):
        ty = y(10**power)
        parts.append(
            f'<line x1="{x0}" y1="{ty:.1f}" x2="{x1}" y2="{ty:.1f}" stroke="{LIGHT}"/>'
            f'<text x="{x0 - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="{MUTED}" '
            f'font-size="11">{10**power:,}</text>'
        )
    bar_width = (x1 - x0) / bins
    for index in range(bins):
        bx = x(edges[index]) + 1
        for count, colour in ((total[index], RELEASED), (picked[index], SELECTED)):
            if count > 0:
                by = y(count)
                parts.append(
                    f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bar_width - 2:.1f}" '
                    f'height="{y1 - by:.1f}" fill="{colour}"><title>'
                    f"{edges[index]:.2f}–{edges[index + 1]:.2f}: {count:,}</title></rect>"
                )
    parts.append(f'<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="{MUTED}"/>')
    for tick in np.linspace(0.0, 1.0, 11):
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{y1}" x2="{tx:.1f}" y2="{y1 + 4}" stroke="{MUTED}"/>'
            f'<text x="{tx:.1f}" y="{y1 + 17}" text-anchor="middle" fill="{MUTED}" '
            f'font-size="11">{tick:.1f}</text>'
        )
    parts.append(
        f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="{INK}">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" fill="{INK}" '
        f'transform="rotate(-90 14 {(y0 + y1) / 2:.1f})">{escape(y_label)}</text>'
    )
    legend_x = x1 - 230
    parts.append(
        f'<rect x="{legend_x}" y="8" width="12" height="12" fill="{RELEASED}"/>'
        f'<text x="{legend_x + 17}" y="18" fill="{INK}">{escape(legend_all)}</text>'
        f'<rect x="{legend_x + 120}" y="8" width="12" height="12" fill="{SELECTED}"/>'
        f'<text x="{legend_x + 137}" y="18" fill="{INK}">{escape(legend_selected)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))
