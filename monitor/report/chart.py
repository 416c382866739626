"""The latency chart of the report: p50, p95 and p99 per day as an inline SVG line chart."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.report.text import PERCENTILES, data, e, ms

# A viewBox the page scales to its column; the text is sized to stay readable on a phone.
W, H = 400.0, 200.0
LEFT, RIGHT, TOP, BOTTOM = 40.0, 6.0, 10.0, 42.0
PLOT_W, PLOT_H = W - LEFT - RIGHT, H - TOP - BOTTOM
STEPS = tuple(m * 10.0**k for k in range(-1, 6) for m in (1, 2, 5))  # 0.1 ms to 500 s


def latency_chart(days: Sequence[Mapping[str, Any]]) -> str:
    """The days' percentiles over a log scale in ms (they are histogram bucket bounds from
    1 ms to 30 s, so p50 and p99 can be a thousand times apart); a day without probes breaks
    the lines. Each day's column has a tooltip with its three values and carries them as
    `data-` attributes."""
    values = [d["latency_ms"][p] for d in days for p in PERCENTILES if d["latency_ms"][p]]
    if not values:
        return '<p class="empty">No probe latency in this window.</p>'
    lo = max((s for s in STEPS if s <= min(values)), default=STEPS[0])
    hi = min((s for s in STEPS if s >= max(values)), default=STEPS[-1])
    if hi <= lo:
        hi = STEPS[min(STEPS.index(lo) + 1, len(STEPS) - 1)]
    span = math.log10(hi) - math.log10(lo)
    step = PLOT_W / len(days)

    def y(value: float) -> float:
        return TOP + PLOT_H * (1 - (math.log10(value) - math.log10(lo)) / span)

    def x(index: int) -> float:
        return LEFT + (index + 0.5) * step

    parts = [
        f'<svg class="chart" viewBox="0 0 {W:g} {H:g}" role="img" '
        'aria-label="latency per day in ms: p50, p95 and p99">'
    ]
    ticks = [s for s in STEPS if lo <= s <= hi]
    if len(ticks) > 6:
        ticks = [s for s in ticks if math.log10(s).is_integer()] or [lo, hi]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT:g}" x2="{W - RIGHT:g}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="ylabel" x="{LEFT - 4:g}" '
            f'y="{y(tick) + 4:.1f}">{tick:g}</text>'
        )
    base = TOP + PLOT_H
    parts.append(
        f'<text class="ylabel unit" x="{LEFT - 4:g}" y="{base + 16:g}">ms</text>'
        f'<line class="axisline" x1="{LEFT:g}" x2="{W - RIGHT:g}" y1="{base:g}" y2="{base:g}"/>'
    )
    for index in sorted({round(k * (len(days) - 1) / 3) for k in range(4)}):
        anchor = "start" if index == 0 else "end" if index == len(days) - 1 else "middle"
        parts.append(
            f'<text class="xlabel" x="{x(index):.1f}" y="{base + 16:g}" '
            f'text-anchor="{anchor}">{e(days[index]["date"])}</text>'
        )
    for p in PERCENTILES:
        path, dots, run = [], [], 0
        for index, day in enumerate(days):
            value = day["latency_ms"][p]
            if not value:
                run = 0
                continue
            path.append(f"{'L' if run else 'M'}{x(index):.1f} {y(value):.1f}")
            later = days[index + 1]["latency_ms"][p] if index + 1 < len(days) else None
            if not run and not later:  # a day alone between gaps: a dot, not a line
                dots.append(
                    f'<circle class="{p}" cx="{x(index):.1f}" cy="{y(value):.1f}" r="2.5"/>'
                )
            run += 1
        if path:
            parts.append(f'<path class="{p}" d="{" ".join(path)}"/>')
        parts.extend(dots)
    for index, day in enumerate(days):
        latency = day["latency_ms"]
        shown = ", ".join(f"{p} {ms(latency[p])}" for p in PERCENTILES)
        values_of_day = {"date": day["date"], **{p: latency[p] for p in PERCENTILES}}
        parts.append(
            f'<rect class="col" x="{LEFT + index * step:.2f}" y="{TOP:g}" width="{step:.2f}" '
            f'height="{PLOT_H:g}" {data(values_of_day)}><title>{e(day["date"])}: {e(shown)}'
            "</title></rect>"
        )
    for n, p in enumerate(PERCENTILES):
        left = LEFT + n * 64
        parts.append(
            f'<line class="{p} key" x1="{left:g}" x2="{left + 18:g}" y1="{H - 9:g}" '
            f'y2="{H - 9:g}"/><text class="keylabel" x="{left + 23:g}" y="{H - 5:g}">{p}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
