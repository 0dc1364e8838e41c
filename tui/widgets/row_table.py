"""A table that renders only the rows on screen, over a Python list it is handed.

The built-in DataTable copies every row into itself (seconds at 50,000 rows)
and filters by removing rows one by one; here the caller owns the list, swaps
it to filter or sort, and the widget draws the visible window with the Line API.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from audit.explore import Column, Row

GAP = 2
"""Spaces between columns."""
SAMPLE = 300
"""Rows measured to size the columns (the first ones and the ones around the cursor)."""


class RowTable(ScrollView, can_focus=True):
    """Rows of `rich.text.Text` cells under a fixed header; Enter selects, the cursor highlights."""

    DEFAULT_CSS = """
    RowTable {
        background: $surface;
    }
    RowTable > .row-table--header {
        text-style: bold;
        color: $text-accent;
        background: $panel;
    }
    RowTable > .row-table--cursor {
        background: $block-cursor-blurred-background;
    }
    RowTable:focus > .row-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    RowTable > .row-table--empty {
        color: $text-muted;
        text-style: italic;
    }
    """

    COMPONENT_CLASSES = {"row-table--header", "row-table--cursor", "row-table--empty"}

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home,g", "first", "First", show=False, id="table.first"),
        Binding("end,G", "last", "Last", show=False, id="table.last"),
        Binding("enter", "select", "Open", id="table.select"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)
    """Index into `rows` of the highlighted row."""

    class RowMessage(Message):
        """Something happened to one row of a table."""

        def __init__(self, table: RowTable, row: Row | None, index: int) -> None:
            super().__init__()
            self.table = table
            """The table it happened in."""
            self.row = row
            """The row: None only when a Highlighted table is empty."""
            self.index = index
            """Its index in the table's rows."""

        @property
        def control(self) -> RowTable:
            return self.table

    class Highlighted(RowMessage):
        """The cursor moved to another row (or the rows changed under it)."""

    class Selected(RowMessage):
        """Enter (or a double click) chose a row."""

        row: Row

    def __init__(self, columns: Sequence[Column] = (), *, empty_text: str = "nothing to show",
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[Column, ...] = tuple(columns)
        """The header, one entry per cell of each row."""
        self.rows: list[Row] = []
        """What is shown, in order; replaced (never edited in place) by `set_rows`."""
        self.empty_text = empty_text
        """Said in place of rows when there are none."""
        self.widths: list[int] = [min(len(c.name), c.max_width) for c in self.columns]
        """Column widths in cells, from the header and a sample of rows."""

    # -- data -------------------------------------------------------------------------

    def set_rows(self, rows: list[Row], columns: Sequence[Column] | None = None, *, keep_cursor: bool = True) -> None:
        """Show `rows`; the cursor stays on the same key when it is still there."""
        key = self.current.key if keep_cursor and self.current is not None else None
        if columns is not None:
            self.columns = tuple(columns)
        self.rows = rows
        index = 0
        if key is not None:
            index = next((i for i, r in enumerate(rows) if r.key == key), 0)
        self._measure(index)
        self.virtual_size = Size(sum(self.widths) + GAP * max(0, len(self.widths) - 1), len(rows) + 1)
        self.cursor = min(index, max(0, len(rows) - 1))
        self.refresh()

    @property
    def current(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def _measure(self, around: int) -> None:
        widths = [len(c.name) for c in self.columns]
        lo = max(0, around - SAMPLE // 2)
        sample = self.rows[:SAMPLE] + self.rows[lo:lo + SAMPLE] if lo > SAMPLE else self.rows[:SAMPLE]
        for row in sample:
            for i, cell in enumerate(row.cells[:len(widths)]):
                if len(row.cells) == 1 and len(widths) > 1:
                    break  # a group header spans the line; it does not size the first column
                widths[i] = max(widths[i], cell.cell_len)
        self.widths = [min(w, c.max_width) for w, c in zip(widths, self.columns, strict=True)]

    # -- rendering ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            header = Text.assemble(*self._cells([Text(c.name) for c in self.columns]))
            style = self.get_component_rich_style("row-table--header")
            return self._strip(header, base + style, scroll_x, width)
        index = scroll_y + y - 1
        if not self.rows:
            if y == 1:
                text = Text(self.empty_text)
                return self._strip(text, base + self.get_component_rich_style("row-table--empty"), 0, width)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        line = Text.assemble(*row.cells) if len(row.cells) == 1 else Text.assemble(*self._cells(row.cells))
        style = base + self.get_component_rich_style("row-table--cursor") if index == self.cursor else base
        return self._strip(line, style, scroll_x, width)

    def _cells(self, cells: Sequence[Text]) -> list[Text | str]:
        parts: list[Text | str] = []
        last = len(self.widths) - 1
        for i, (cell, width) in enumerate(zip(cells, self.widths, strict=False)):
            text = cell.copy()
            justify = self.columns[i].justify
            if i == last and justify != "right":
                text.truncate(max(width, self.columns[i].max_width), overflow="ellipsis")
            else:
                text.truncate(width, overflow="ellipsis")
                pad = width - text.cell_len
                if justify == "right":
                    text.pad_left(pad)
                else:
                    text.pad_right(pad)
            parts.append(text)
            if i != last:
                parts.append(" " * GAP)
        return parts

    def _strip(self, text: Text, style: Style, scroll_x: int, width: int) -> Strip:
        text.no_wrap = True
        text.end = ""
        segments = [Segment(s.text, style + s.style if s.style else style) if not s.control else s
                    for s in text.render(self.app.console)]
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, style)

    # -- the cursor ------------------------------------------------------------------------

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, self.current, new))

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def _scroll_to_cursor(self) -> None:
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self._page:
            self.scroll_to(y=self.cursor - self._page + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        self.cursor -= self._page

    def action_page_down(self) -> None:
        self.cursor += self._page

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.rows) - 1

    def action_select(self) -> None:
        row = self.current
        if row is not None:
            self.post_message(self.Selected(self, row, self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = self.scroll_offset.y + offset.y - 1
        if index < len(self.rows):
            if index == self.cursor and event.chain >= 2:
                self.action_select()
            self.cursor = index

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    @property
    def cursor_region(self) -> Region:
        return Region(0, self.cursor + 1, self.size.width, 1)
