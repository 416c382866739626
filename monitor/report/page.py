"""The report page: a header, an overview, and a section per component (its figures, its bar
of days, its latency chart and its incidents)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from monitor.report.chart import latency_chart
from monitor.report.style import STYLE
from monitor.report.text import (
    PERCENTILES,
    STATUS_WORDS,
    data,
    duration,
    e,
    local,
    moment,
    ms,
    pct,
    words,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""Nothing but the page's own CSS: no script, no font, no image, no request."""
TIP_INCIDENTS = 5  # incidents named in a day's tooltip at most


def render(
    history: Mapping[str, Any],
    incidents: Mapping[str, Any],
    tz: ZoneInfo | dt.timezone,
    made: float,
    *,
    location: str | None = None,
    version: str = "",
) -> str:
    """The page of `history` (monitor.reports.history) and `incidents` (monitor.reports.
    incidents) of the same window, with days and times in `tz`; `made` is when."""
    since, until = moment(history["since"]), moment(history["until"])
    components = history["components"]
    days = len(components[0]["days"]) if components else 0
    window = f"{local(since, tz)} to {local(until, tz)}"
    where = f", probes and latency from location {e(location)}" if location else ""
    by_component: dict[str, list[Mapping[str, Any]]] = {}
    for row in incidents["incidents"]:
        by_component.setdefault(row["component"], []).append(row)
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light dark">',
            f'<meta name="generator" content="monitor {e(version)}">',
            f"<title>Uptime {e(window)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            f"<body {data({'since': history['since'], 'until': history['until']})}>",
            "<header>",
            "<h1>Uptime report</h1>",
            f'<p class="muted">{e(window)} ({e(tz)}, {days} days){where}; '
            f"made {e(local(made, tz))}</p>",
            _legend(),
            _overview(components),
            "</header>",
            "<main>",
            *(_component(c, by_component.get(c["id"], []), tz, until) for c in components),
            "</main>",
            _FOOTER,
            "</body>",
            "</html>",
            "",
        ]
    )


def _component(
    row: Mapping[str, Any],
    incidents: Sequence[Mapping[str, Any]],
    tz: ZoneInfo | dt.timezone,
    until: float,
) -> str:
    latency = row["latency_ms"]
    exact = {
        "component": row["id"],
        "uptime": row["uptime"],
        "success-ratio": row["success_ratio"],
        "downtime-seconds": row["downtime_seconds"],
        "incidents": row["incidents"],
        "mttr-seconds": row["mttr_seconds"],
        "probes": row["probes"],
        **{p: latency[p] for p in PERCENTILES},
    }
    figures = (
        ("Uptime", pct(row["uptime"])),
        ("Probes ok", pct(row["success_ratio"])),
        ("Downtime", duration(row["downtime_seconds"])),
        ("Incidents", str(row["incidents"])),
        ("MTTR", duration(row["mttr_seconds"])),
        ("Probes", f"{row['probes']:,}"),
        ("p50 / p95 / p99", " / ".join(ms(latency[p]) for p in PERCENTILES)),
    )
    return "\n".join(
        [
            f'<section class="component" id="{_anchor(row["id"])}" {data(exact)}>',
            f'<h2>{e(row["name"])} <span class="muted">{e(row["id"])}</span></h2>',
            '<dl class="figures">',
            *(f"<div><dt>{k}</dt><dd>{e(v)}</dd></div>" for k, v in figures),
            "</dl>",
            _bar(row["days"], incidents, tz),
            '<div class="panels">',
            '<div class="panel"><h3>Latency per day (ms)</h3>',
            latency_chart(row["days"]),
            "</div>",
            f'<div class="panel"><h3>Incidents ({len(incidents)})</h3>',
            _incident_table(incidents, tz, until),
            "</div>",
            "</div>",
            "</section>",
        ]
    )


def _bar(
    days: Sequence[Mapping[str, Any]],
    incidents: Sequence[Mapping[str, Any]],
    tz: ZoneInfo | dt.timezone,
) -> str:
    """A cell a day coloured by the day's worst status; its title, the browser's tooltip, has
    the date, the uptime and the incidents of that day."""
    spans = [(moment(i["start"]), moment(i["end"]) if i["end"] else math.inf, i) for i in incidents]
    cells = []
    for day in days:
        start = dt.datetime.combine(dt.date.fromisoformat(day["date"]), dt.time(), tz)
        lo, hi = start.timestamp(), (start + dt.timedelta(days=1)).timestamp()
        that_day = [i for begin, end, i in spans if begin < hi and end > lo]
        tip = [f"{day['date']}: uptime {pct(day['uptime'])}, worst {words(day['worst_status'])}"]
        tip += [_incident_line(i, tz) for i in that_day[:TIP_INCIDENTS]]
        if len(that_day) > TIP_INCIDENTS:
            tip.append(f"and {len(that_day) - TIP_INCIDENTS} more")
        exact = {
            "date": day["date"],
            "uptime": day["uptime"],
            "worst-status": day["worst_status"],
            "incidents": len(that_day),
        }
        cells.append(
            f'<span class="day s-{e(day["worst_status"] or "none")}" {data(exact)} '
            f'title="{e(chr(10).join(tip))}"></span>'
        )
    first, last = (days[0]["date"], days[-1]["date"]) if days else ("", "")
    dense = " dense" if len(days) > 100 else ""  # no gaps: 365 gaps of 1 px overflow a phone
    return (
        f'<div class="bar{dense}" role="img" aria-label="worst status per day, {e(first)} to '
        f'{e(last)}">{"".join(cells)}</div>\n'
        f'<div class="axis muted"><span>{e(first)}</span><span>{len(days)} days</span>'
        f"<span>{e(last)}</span></div>"
    )


def _incident_line(incident: Mapping[str, Any], tz: ZoneInfo | dt.timezone) -> str:
    end = local(moment(incident["end"]), tz) if incident["end"] else "ongoing"
    reason = incident["reason"] or ""
    reason = reason if len(reason) <= 80 else reason[:79] + "…"
    line = f"{local(moment(incident['start']), tz)} to {end}, {words(incident['worst_status'])}"
    return f"{line}: {reason}" if reason else line


HEAD = ("Start", "End", "Duration", "Worst", "Reason", "Page incident")
WHEN = ("Start", "End", "Duration")  # kept on one line


def _incident_table(
    incidents: Sequence[Mapping[str, Any]], tz: ZoneInfo | dt.timezone, until: float
) -> str:
    """Newest first; on a phone each row becomes a block of labelled lines."""
    if not incidents:
        return '<p class="empty muted">No incident in this window.</p>'
    head = HEAD if any(i["status_page_incident"] for i in incidents) else HEAD[:-1]
    rows = []
    for incident in reversed(incidents):
        status = incident["worst_status"]
        exact = {
            "start": incident["start"],
            "end": incident["end"],
            "duration-seconds": incident["duration_seconds"],
            "worst-status": status,
        }
        so_far = duration(until - moment(incident["start"])) + " so far"
        start = local(moment(incident["start"]), tz)
        end = local(moment(incident["end"]), tz) if incident["end"] else "ongoing"
        if end[:10] == start[:10]:
            end = end[11:]  # the same day: the time says it
        cells = (
            start,
            end,
            duration(incident["duration_seconds"]) if incident["end"] else so_far,
            f'<span class="swatch s-{e(status)}"></span>{e(words(status))}',
            e(incident["reason"] or ""),
            e(incident["status_page_incident"] or ""),
        )
        tds = "".join(
            f'<td data-label="{h}" class="when">{e(c)}</td>'
            if h in WHEN
            else f'<td data-label="{h}">{c}</td>'
            for h, c in zip(head, cells, strict=False)
        )
        rows.append(f"<tr {data(exact)}>{tds}</tr>")
    return (
        '<table class="incidents"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _overview(components: Sequence[Mapping[str, Any]]) -> str:
    items = "".join(
        f'<li><a href="#{_anchor(c["id"])}">{e(c["name"])}</a> '
        f"<span>{e(pct(c['uptime']))}</span> "
        f'<span class="muted">{c["incidents"]} incident{"" if c["incidents"] == 1 else "s"}'
        "</span></li>"
        for c in components
    )
    return f'<nav class="overview"><ul>{items}</ul></nav>'


def _legend() -> str:
    items = "".join(
        f'<li><span class="swatch s-{key or "none"}"></span>{e(text)}</li>'
        for key, text in STATUS_WORDS.items()
    )
    return f'<ul class="legend" aria-label="colours of the days">{items}</ul>'


def _anchor(component_id: str) -> str:
    return "c-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in component_id)


_FOOTER = (
    '<footer class="muted"><p>Uptime is operational time over monitored time, maintenance left '
    "out; degraded performance, partial and major outage count as down, and time the monitor "
    "did not run counts neither way. An incident is a period away from operational, its "
    "duration wall-clock. Latency percentiles are the upper bounds of histogram buckets. Hover "
    "a day or the chart for its figures. The numbers are those of "
    "<code>monitor history --json</code> and <code>monitor incidents --json</code>.</p></footer>"
)
