"""Every finding: sortable, filterable with `/`, grouped by check or workload."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Input, Static

from audit.findings import Finding
from audit.query import FINDING_COLUMNS, FindingQuery, Grouping, QueryError, SortKey, parse_query
from tui.screens.report_screen import ReportScreen
from tui.widgets.row_table import RowTable
from tui.widgets.status_line import StatusLine


class FindingsScreen(ReportScreen):
    """The findings pane: one row per finding, worst first."""

    AUTO_FOCUS = "#findings"

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="findings.filter"),
        Binding("s", "sort", "Sort", id="findings.sort"),
        Binding("b", "group", "Group by", id="findings.group"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="findings.clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_text = ""
        """The `/` filter as typed."""
        self.filter: FindingQuery = FindingQuery()
        """The filter as understood."""
        self.sort = SortKey.SEVERITY
        """The order of the rows."""
        self.grouping = Grouping.NONE
        """Whether rows are grouped under check or workload headers."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: words, -word, sev:high, cat:isolation, ns:NAME, check:ID, kind:KIND,"
                                " waived:yes|no", id="filter")
        yield Static(id="summary")
        yield RowTable(FINDING_COLUMNS, empty_text="no findings match", id="findings")
        yield StatusLine()
        yield Footer()

    @property
    def table(self) -> RowTable:
        return self.query_one("#findings", RowTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    def on_mount(self) -> None:
        self.filter_input.display = False
        self.sync()

    def show_report(self) -> None:
        self.refilter()

    def refilter(self) -> None:
        view = self.kubeward.findings_view
        if view is None:
            return
        rows = view.rows(self.filter, self.sort, self.grouping)
        self.table.set_rows(rows)
        shown = len(rows) if self.grouping is Grouping.NONE else sum(1 for r in rows if r.key is not None)
        summary = Text.assemble((f"{shown}", "bold"), f" of {len(view)} findings · sort: ", (self.sort.value, "bold"),
                                " · group: ", (self.grouping.value, "bold"))
        if self.query_text:
            summary.append(" · filter: ")
            summary.append(self.query_text, style="bold")
        self.query_one("#summary", Static).update(summary)

    def action_filter(self) -> None:
        self.filter_input.display = True
        self.filter_input.focus()

    def action_clear_filter(self) -> None:
        if self.filter_input.display or self.query_text:
            self.filter_input.value = ""
            self.filter_input.display = False
            self.table.focus()
        else:
            self.app.action_back()  # type: ignore[attr-defined]

    def action_sort(self) -> None:
        self.sort = self.sort.next()
        self.refilter()

    def action_group(self) -> None:
        self.grouping = self.grouping.next()
        self.refilter()

    def set_filter(self, text: str) -> None:
        """Filter as if `text` had been typed after `/`."""
        self.filter_input.value = text
        self._apply(text)

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._apply(event.value)

    def _apply(self, text: str) -> None:
        try:
            query = parse_query(text)
        except QueryError as error:
            self.filter_input.border_subtitle = str(error)
            return
        self.filter_input.border_subtitle = ""
        self.query_text, self.filter = text, query
        self.refilter()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.table.focus()
        if not self.query_text:
            self.filter_input.display = False

    @on(RowTable.Selected, "#findings")
    def open_finding(self, event: RowTable.Selected) -> None:
        if isinstance(event.row.key, Finding):
            self.kubeward.show_finding(event.row.key)
