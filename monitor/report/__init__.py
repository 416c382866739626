"""`monitor report`: the history and incidents documents of monitor.reports as one HTML page.

A pure function of those documents (the numbers are theirs, never computed again here) to one
self-contained file: inline CSS and SVG, no script, no font, no image, nothing fetched. The
page's Content-Security-Policy (`default-src 'none'`) makes a browser refuse anything else, so
a report mailed around or opened years later looks the same and calls no one. Every text from
the config or the database is escaped. Each figure shown rounded for people carries its exact
value in a `data-` attribute, as JSON, for programs and tests.

`page.py` lays out the page, `chart.py` draws the latency chart, `text.py` writes the values,
`style.py` holds the CSS.
"""

from monitor.report.page import render

__all__ = ["render"]
