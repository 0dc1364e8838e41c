"""The browser panes: Workloads, Pods, Nodes, Images and Access are one screen started at different levels.

Enter drills into the highlighted row, Esc goes back, breadcrumbs show the trail;
beside the list, the highlighted row's findings and its security-relevant spec.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from audit.evidence import yaml_lines
from audit.explore import Column, Level, Row, Trail
from audit.findings import Finding
from audit.query import FINDING_COLUMNS
from tui.screens.report_screen import ReportScreen
from tui.widgets.breadcrumbs import Breadcrumbs
from tui.widgets.row_table import RowTable
from tui.widgets.status_line import StatusLine

SIDE_COLUMNS = (FINDING_COLUMNS[0], FINDING_COLUMNS[1], Column("MESSAGE", max_width=400))


class ExplorerScreen(ReportScreen):
    """A drill-down pane over `audit.explore` levels, starting at `root`."""

    AUTO_FOCUS = "#rows"

    BINDINGS = [
        Binding("escape", "back", "Back", id="explorer.back"),
        Binding("slash", "filter", "Filter", id="explorer.filter"),
        Binding("tab", "switch_focus", "Findings ⇄ list", id="explorer.switch"),
    ]

    def __init__(self, root: str) -> None:
        super().__init__(name=root)
        self.root = root
        """Which pane this is: `workloads`, `pods`, `nodes`, `images` or `access`."""
        self.trail = Trail()
        """The levels opened so far and the key chosen on each."""
        self.all_rows: list[Row] = []
        """The current level's rows before the `/` filter."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Breadcrumbs(id="crumbs")
        yield Input(placeholder="filter this list (words, -word)", id="filter")
        with Horizontal(id="browse"):
            yield RowTable(id="rows", empty_text="nothing here")
            with Vertical(id="side"):
                yield RowTable(SIDE_COLUMNS, id="side-findings", empty_text="no findings")
                with VerticalScroll(id="spec-scroll"):
                    yield Static(id="spec")
        yield StatusLine()
        yield Footer()

    @property
    def table(self) -> RowTable:
        return self.query_one("#rows", RowTable)

    @property
    def side_findings(self) -> RowTable:
        return self.query_one("#side-findings", RowTable)

    @property
    def breadcrumbs(self) -> Breadcrumbs:
        return self.query_one("#crumbs", Breadcrumbs)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    @property
    def level(self) -> Level | None:
        return self.trail.levels[-1] if self.trail.levels else None

    def on_mount(self) -> None:
        self.filter_input.display = False
        self.side_findings.border_title = "Findings"
        self.query_one("#spec-scroll").border_title = "Spec"
        self.sync()

    def show_report(self) -> None:
        """A new Report: start again at the root, then follow the old trail as far as it still exists."""
        assert self.explorer is not None
        old_keys = list(self.trail.keys)
        self.trail = Trail([self.explorer.root(self.root)], [])
        self._show_level()
        for key in old_keys:
            if not self.drill(key):
                break

    def drill(self, key: Any) -> bool:
        """Open the level below the row `key` of the current level; False when there is none."""
        level = self.level
        if level is None:
            return False
        child = level.child(key)
        if child is None:
            return False
        self.trail.keys.append(key)
        self.trail.levels.append(child)
        self._show_level()
        return True

    def _show_level(self, cursor_key: Any = None) -> None:
        level = self.level
        assert level is not None
        self.all_rows = level.rows()
        self.filter_input.value = ""
        self.filter_input.display = False
        self.table.set_rows(self.all_rows, level.columns, keep_cursor=False)
        if cursor_key is not None:
            index = next((i for i, r in enumerate(self.all_rows) if r.key == cursor_key), 0)
            self.table.cursor = index
        self.table.border_title = Text(f"{level.title} ({len(self.all_rows)})")  # Text: names are never markup
        self.breadcrumbs.show([self.root, *self.trail.breadcrumbs()])
        self.table.focus()

    def action_back(self) -> None:
        if self.filter_input.display:
            self.filter_input.value = ""
            self.filter_input.display = False
            self.table.set_rows(self.all_rows)
            self.table.focus()
            return
        if len(self.trail.levels) > 1:
            self.trail.levels.pop()
            key = self.trail.keys.pop()
            self._show_level(cursor_key=key)
        else:
            self.kubeward.action_back()

    def action_filter(self) -> None:
        self.filter_input.display = True
        self.filter_input.focus()

    def action_switch_focus(self) -> None:
        (self.side_findings if self.table.has_focus else self.table).focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        words = event.value.lower().split()
        wanted = [w for w in words if not w.startswith("-")]
        unwanted = [w[1:] for w in words if w.startswith("-") and len(w) > 1]
        rows = [r for r in self.all_rows
                if all(w in r.search for w in wanted) and not any(w in r.search for w in unwanted)]
        self.table.set_rows(rows)
        title = self.level.title if self.level else ""
        self.table.border_title = Text(f"{title} ({len(rows)} of {len(self.all_rows)})")

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.table.focus()

    @on(RowTable.Selected, "#rows")
    def row_selected(self, event: RowTable.Selected) -> None:
        if not self.drill(event.row.key):
            self.notify("nothing below this row", timeout=2)

    @on(RowTable.Highlighted, "#rows")
    def row_highlighted(self, event: RowTable.Highlighted) -> None:
        level = self.level
        if level is None or event.row is None:
            self.side_findings.set_rows([])
            self.query_one("#spec", Static).update("")
            return
        findings = sorted(level.findings(event.row.key), key=lambda f: (-f.severity.rank, f.check_id))
        self.side_findings.set_rows([_finding_row(f) for f in findings], keep_cursor=False)
        self.side_findings.border_title = f"Findings ({len(findings)})"
        spec = level.spec(event.row.key)
        scroll = self.query_one("#spec-scroll", VerticalScroll)
        if spec is None:
            self.query_one("#spec", Static).update("")
            scroll.border_title = "Spec"
            return
        scroll.border_title = Text(spec.title)
        self.query_one("#spec", Static).update(spec_text(spec.fields))

    @on(RowTable.Selected, "#side-findings")
    def finding_selected(self, event: RowTable.Selected) -> None:
        if isinstance(event.row.key, Finding):
            self.kubeward.show_finding(event.row.key)


def spec_text(fields: dict[str, Any]) -> Text:
    """The spec as YAML with its keys picked out (plain Text: names are never read as markup)."""
    text = Text()
    for line in yaml_lines(fields):
        text.append(line.lead)
        if line.key is not None:
            text.append(line.key, style="bold")
            text.append(":")
            if line.value:
                text.append(" ")
        text.append(line.value)
        text.append("\n")
    text.rstrip()
    return text


def _finding_row(finding: Finding) -> Row:
    from audit.explore import row, severity_text

    return row(finding, severity_text(finding.severity, waived=finding.waiver is not None), finding.check_id,
               finding.message)
