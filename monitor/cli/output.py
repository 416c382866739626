"""How the commands print for people.

- Text that is not ours (a target's banner, a page's error, a check's name, a reason built from
  them) is printed as it is: every cell and line is a rich `Text`, never markup, so "[/]" in a
  banner is two brackets and a slash, not a crash; control characters (a terminal escape in a
  page's error) are shown escaped, never sent to the terminal.
- Tables fit the terminal without dropping what a user needs: columns that must stay whole
  (names, ids, statuses) keep their width while the others wrap at spaces; a row may carry a
  note (an incident's reason, a probe's error) printed under it in one piece: the terminal
  wraps it, and a pipe gets the whole text on one line, to read or grep.
- Statuses read without colour too (a pipe, NO_COLOR): the day bar has a character per status.
- Plain where colour is off: into a pipe or a file, with NO_COLOR (any value but empty) or on
  a dumb terminal, no escape sequence at all (not even bold) and no box-drawing character (the
  rule under a header is ASCII); FORCE_COLOR turns both on, into a pipe too, unless NO_COLOR.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

GAP = 2  # cells between two columns
NOTE_INDENT = 4
FOLD_FLOOR = 4  # a column folded as a last resort keeps at least this many cells

STATUS_STYLE = {
    "operational": "green",
    "degraded_performance": "yellow",
    "partial_outage": "dark_orange",
    "major_outage": "bold red",
    "under_maintenance": "blue",
    "up": "green",
    "slow": "yellow",
    "flaky": "dark_orange",
    "down": "bold red",
}

# One cell a day: the height says how much of the service worked, the colour (when there is
# colour) says the same again.
DAY_CELL = {
    "operational": ("█", "green"),
    "degraded_performance": ("▆", "yellow"),
    "partial_outage": ("▄", "dark_orange"),
    "major_outage": ("▁", "red"),
    "under_maintenance": ("▒", "blue"),
    None: ("·", "grey50"),
}
DAY_WORD = {
    "operational": "operational",
    "degraded_performance": "degraded",
    "partial_outage": "partial",
    "major_outage": "major",
    "under_maintenance": "maintenance",
    None: "not monitored",
}


# C0 and C1 controls but newline and tab, and the bidirectional overrides that reorder a line.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def literal(value: str, style: str = "") -> Text:
    """Text that is not ours, to print as it is: no markup, control characters escaped."""
    return Text(_CONTROL.sub(lambda m: repr(m[0])[1:-1], value), style=style)


def console() -> Console:
    """Colour only on a terminal (or with FORCE_COLOR), never with NO_COLOR, which also drops
    bold, dim and italic (rich alone keeps those); no highlighting guessed into text that is
    not ours."""
    out = Console(highlight=False)
    if out.no_color:
        out = Console(highlight=False, color_system=None)
    return out


def fancy(out: Console) -> bool:
    """Whether `out` may draw with box characters: only where it shows colour, so a pipe, a
    file, NO_COLOR and a dumb terminal get ASCII."""
    return out.color_system is not None and out.encoding.lower().startswith("utf")


def styled(value: str | None) -> Text:
    """A component status or check state in its colour."""
    if value is None:
        return Text("not probed yet", style="dim")
    return literal(value, STATUS_STYLE.get(value, ""))


def day_bar(statuses: Sequence[str | None]) -> Text:
    """One cell per day, oldest first, by the day's worst status."""
    bar = Text()
    for status in statuses:
        char, colour = DAY_CELL.get(status, DAY_CELL[None])
        bar.append(char, style=colour)
    return bar


def day_legend() -> Text:
    """What the cells of `day_bar` mean, on a line of its own (75 cells wide)."""
    legend = Text("one cell a day, oldest first:\n", style="dim")
    for index, (status, (char, colour)) in enumerate(DAY_CELL.items()):
        legend.append("  " if index else "", style="dim")
        legend.append(char, style=colour)
        legend.append(f" {DAY_WORD[status]}", style="dim")
    return legend


@dataclass(frozen=True)
class Column:
    header: str
    wrap: bool = False  # may wrap at spaces; otherwise kept whole while any other can give
    justify: Literal["left", "right"] = "left"


@dataclass
class Row:
    cells: Sequence[Text]
    note: Text | None = None  # printed under the row, whole, on a line of its own
    end_section: bool = False  # a blank line after it


@dataclass
class Layout:
    """Rows of cells in columns that fit `width`, each row with an optional note under it."""

    columns: Sequence[Column]
    width: int
    title: str | None = None
    header: bool = True
    rows: list[Row] = field(default_factory=list)

    def add(self, *cells: Text | str, note: Text | None = None, end_section: bool = False) -> None:
        """A row; a plain str is taken `literal`ly, never as markup."""
        texts = [cell if isinstance(cell, Text) else literal(cell) for cell in cells]
        self.rows.append(Row(texts, note, end_section))

    def widths(self) -> list[int]:
        headers = [Text(column.header if self.header else "") for column in self.columns]
        every = [headers, *(row.cells for row in self.rows)]
        natural = [max(_width(cells[i]) for cells in every) for i in range(len(self.columns))]
        minimum = [
            max(_longest_word(cells[i]) for cells in every) if column.wrap else natural[i]
            for i, column in enumerate(self.columns)
        ]
        return fit(natural, minimum, self.width - GAP * (len(self.columns) - 1))

    def print(self, out: Console) -> None:
        widths = self.widths()
        total = sum(widths) + GAP * (len(widths) - 1)
        lines: list[RenderableType] = []
        if self.title:
            lines.append(Text(self.title.center(total).rstrip(), style="italic"))
        if self.header:
            lines.append(self._line([Text(c.header, style="bold") for c in self.columns], widths))
            rule = "─" if fancy(out) else "-"
            lines.append(Text(rule * min(total, self.width), style="dim"))
        for row in self.rows:
            lines.append(self._line(row.cells, widths))
            if row.note is not None:
                # Whole, however long: the terminal wraps it, a pipe or grep gets one line.
                lines.append(Text(" " * NOTE_INDENT, end="") + row.note)
            if row.end_section:
                lines.append(Text(""))
        run: list[Text] = []  # consecutive lines go out in one print: thousands of rows stay fast
        for line in [*lines, None]:
            if isinstance(line, Text):
                run.append(line)
                continue
            if run:
                out.print(Text("\n").join(run), soft_wrap=True)
                run = []
            if line is not None:
                out.print(line)

    def _line(self, cells: Sequence[Text], widths: Sequence[int]) -> RenderableType:
        """One row: a line of padded cells when each fits its column (the common case, and
        fast), else a grid whose cells wrap at spaces or, squeezed, fold (never cropped)."""
        if all(_width(cell) <= width for cell, width in zip(cells, widths, strict=True)):
            line = Text()
            last = len(cells) - 1
            for index, (cell, width, column) in enumerate(
                zip(cells, widths, self.columns, strict=True)
            ):
                pad = " " * (width - cell.cell_len)
                if column.justify == "right":
                    line.append(pad).append_text(cell)
                else:
                    line.append_text(cell).append("" if index == last else pad)
                line.append(" " * GAP if index < last else "")
            return line
        grid = Table.grid(padding=(0, GAP, 0, 0), pad_edge=False, collapse_padding=False)
        for column, width in zip(self.columns, widths, strict=True):
            grid.add_column(width=width, overflow="fold", justify=column.justify)
        grid.add_row(*cells)
        return grid


def fit(natural: Sequence[int], minimum: Sequence[int], room: int) -> list[int]:
    """Column widths within `room`: the natural ones when they fit; else the widest column
    that may still give, a cell at a time, down to its minimum (its longest word, or all of
    it); last, when even that is too wide, the widest column of all, folded mid-word."""
    widths = list(natural)
    excess = sum(widths) - room
    for floor in (minimum, [min(n, FOLD_FLOOR) for n in natural]):
        while excess > 0:
            giving = [i for i, width in enumerate(widths) if width > floor[i]]
            if not giving:
                break
            widest = max(giving, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    return widths


def _width(text: Text) -> int:
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)


def _longest_word(text: Text) -> int:
    return max((cell_len(word) for word in text.plain.split()), default=0)
