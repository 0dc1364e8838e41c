"""The report on screen compared with an earlier snapshot: new, resolved and changed findings,
counted per category and namespace, and images whose vulnerabilities changed."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from audit.diff import ReportDiff
from audit.explore import Column, Row, number, row, severity_text
from audit.findings import Finding
from tui.widgets.row_table import RowTable

CHANGE_COLUMNS = (Column("CHANGE"), Column("SEVERITY"), Column("CHECK"), Column("RESOURCE", max_width=48),
                  Column("MESSAGE", max_width=300))
COUNT_COLUMNS = (Column("GROUP", max_width=30), Column("NEW", "right"), Column("RESOLVED", "right"),
                 Column("CHANGED", "right"))
IMAGE_COLUMNS = (Column("IMAGE", max_width=50), Column("APPEARED", max_width=60), Column("WENT", max_width=60))


class CompareScreen(Screen[None]):
    """Pushed over a pane by `d`; Enter on a new or changed finding opens its detail."""

    BINDINGS = [Binding("escape", "dismiss", "Back", id="compare.back")]
    AUTO_FOCUS = "#changes"

    def __init__(self, diff: ReportDiff, old_name: str) -> None:
        super().__init__()
        self.diff = diff
        """The comparison shown."""
        self.old_name = old_name
        """The earlier snapshot's file."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-summary")
        yield RowTable(CHANGE_COLUMNS, id="changes", empty_text="no finding changed")
        with Horizontal(id="compare-counts"):
            yield RowTable(COUNT_COLUMNS, id="by-category", empty_text="no change")
            yield RowTable(COUNT_COLUMNS, id="by-namespace", empty_text="no change")
            yield RowTable(IMAGE_COLUMNS, id="images", empty_text="no image's vulnerabilities changed")
        yield Footer()

    def on_mount(self) -> None:
        diff = self.diff
        summary = Text.assemble("compared with ", (self.old_name, "bold"), ": ",
                                (f"{len(diff.new)} new", "bold red" if diff.new else ""), " · ",
                                (f"{len(diff.resolved)} resolved", "bold green" if diff.resolved else ""), " · ",
                                f"{len(diff.changed)} changed severity · {diff.unchanged} unchanged")
        self.query_one("#compare-summary", Static).update(summary)
        rows: list[Row] = []
        rows += [row(f, Text("new", style="bold red"), severity_text(f.severity), f.check_id, str(f.resource),
                     f.message) for f in diff.new]
        rows += [row(c.new, Text("changed", style="yellow"),
                     Text.assemble(severity_text(c.old.severity), " → ", severity_text(c.new.severity)),
                     c.new.check_id, str(c.new.resource), c.new.message) for c in diff.changed]
        rows += [row(("resolved", f.fingerprint), Text("resolved", style="green"), severity_text(f.severity),
                     f.check_id, str(f.resource), f.message) for f in diff.resolved]
        changes = self.query_one("#changes", RowTable)
        changes.set_rows(rows)
        changes.border_title = "Findings"
        for name, counts in (("by-category", diff.by_category), ("by-namespace", diff.by_namespace)):
            table = self.query_one(f"#{name}", RowTable)
            table.set_rows([row(group, group, number(c.new), number(c.resolved), number(c.changed))
                            for group, c in sorted(counts.items())])
            table.border_title = name.replace("-", " ")
        images = self.query_one("#images", RowTable)
        images.set_rows([row(i.reference, i.reference, ", ".join(i.appeared), ", ".join(i.went))
                         for i in diff.images])
        images.border_title = "Images whose vulnerabilities changed"

    @on(RowTable.Selected, "#changes")
    def open_finding(self, event: RowTable.Selected) -> None:
        if isinstance(event.row.key, Finding):
            self.app.show_finding(event.row.key)  # type: ignore[attr-defined]
