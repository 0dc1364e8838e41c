"""The overview: grade, counts by category × severity, the top risks, namespaces, coverage gaps."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from audit.explore import Column, NamespacesLevel, Row, number, row, severity_text
from audit.findings import Finding, Severity
from audit.query import category_severity_counts
from audit.styles import GRADE_STYLES, SEVERITY_STYLES
from tui.screens.report_screen import ReportScreen
from tui.widgets.row_table import RowTable
from tui.widgets.status_line import StatusLine

TOP_RISKS = 10
MATRIX_COLUMNS = (Column("CATEGORY"), *(Column(s.value.upper(), "right") for s in Severity), Column("TOTAL", "right"))
RISK_COLUMNS = (Column("SEVERITY"), Column("CHECK"), Column("RESOURCE", max_width=40), Column("MESSAGE", max_width=300))
GAP_COLUMNS = (Column("SOURCE"), Column("COULD NOT"), Column("NAMESPACE"), Column("WHY", max_width=300))


class OverviewScreen(ReportScreen):
    """The first pane: how bad is it, where, and what could not be seen."""

    AUTO_FOCUS = "#risks"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="banner")
        with Horizontal(id="overview-top"):
            with Vertical(id="overview-left"):
                yield Static(id="grade")
                yield RowTable(MATRIX_COLUMNS, id="matrix", empty_text="no findings")
            yield RowTable(RISK_COLUMNS, id="risks", empty_text="no findings")
        with Horizontal(id="overview-bottom"):
            yield RowTable(NamespacesLevel.columns, id="namespaces", empty_text="no namespaces read")
            yield RowTable(GAP_COLUMNS, id="gaps", empty_text="none: everything was read")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        titles = {"#matrix": "Findings by category", "#risks": f"Top {TOP_RISKS} risks",
                  "#namespaces": "Namespaces (Enter: browse)", "#gaps": "Coverage gaps"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one("#banner").display = False
        self.query_one("#grade", Static).update(Text("collecting…", style="dim"))
        self.sync()

    def table(self, name: str) -> RowTable:
        return self.query_one(f"#{name}", RowTable)

    def show_report(self) -> None:
        explorer = self.explorer
        assert explorer is not None
        report = explorer.report
        cluster = explorer.scores[0]
        counts = report.inventory.counts()
        grade = Text.assemble(("Grade ", "bold"), (f" {cluster.grade} ", f"reverse {GRADE_STYLES[cluster.grade]}"),
                              f"  score {cluster.score}/100\n")
        grade.append(f"{counts['pods']} pods · {counts['nodes']} nodes · {counts['namespaces']} namespaces"
                     f" · {counts['images']} images\n")
        grade.append(f"{len(report.findings)} findings", style="bold")
        waived = sum(1 for f in report.findings if f.waiver is not None)
        if waived:
            grade.append(f" ({waived} waived)")
        grade.append("\n")
        grade.append_text(_db_age(report))
        self.query_one("#grade", Static).update(grade)

        matrix: list[Row] = []
        for category, by_severity in sorted(category_severity_counts(report.findings).items()):
            cells = [number(by_severity[s], SEVERITY_STYLES[s] if by_severity[s] else "dim") for s in Severity]
            matrix.append(row(category, category, *cells, number(sum(by_severity.values()))))
        self.table("matrix").set_rows(matrix)

        top = heapq.nsmallest(TOP_RISKS, (f for f in report.findings if f.waiver is None),
                              key=lambda f: (-f.severity.rank, -len(f.pods), f.check_id,
                                             f.resource.namespace or "", f.resource.kind, f.resource.name))
        self.table("risks").set_rows([row(f, severity_text(f.severity), f.check_id, str(f.resource), f.message)
                                      for f in top])
        self.table("namespaces").set_rows(explorer.root("workloads").rows())
        self.table("gaps").set_rows([row(i, g.source, f"{g.verb} {g.resource}", g.namespace or "(all)", g.message)
                                     for i, g in enumerate(report.gaps)])
        self.table("gaps").border_title = f"Coverage gaps ({len(report.gaps)})"
        banner = self.query_one("#banner", Static)
        banner.display = bool(report.gaps)
        if report.gaps:
            sources = sorted({g.source for g in report.gaps})
            banner.update(Text(f"⚠ {len(report.gaps)} things could not be read ({', '.join(sources)}): the findings"
                               " below are incomplete — see Coverage gaps", style="bold"))

    @on(RowTable.Selected, "#risks")
    def open_risk(self, event: RowTable.Selected) -> None:
        if isinstance(event.row.key, Finding):
            self.kubeward.show_finding(event.row.key)

    @on(RowTable.Selected, "#namespaces")
    def open_namespace(self, event: RowTable.Selected) -> None:
        self.kubeward.browse("workloads", [event.row.key])

    @on(RowTable.Selected, "#matrix")
    def open_category(self, event: RowTable.Selected) -> None:
        self.kubeward.show_findings(f"cat:{event.row.key}")


def _db_age(report) -> Text:  # type: ignore[no-untyped-def]
    info = report.inventory.vulndb
    if info is None or info.imported_at is None:
        return Text("vulnerability database: none used", style="yellow")
    collected = report.meta.finished or datetime.now(UTC)
    days = (collected - info.imported_at).total_seconds() / 86400
    return Text(f"vulnerability database: {info.records} records, imported {days:.0f} days before the scan",
                style="yellow" if days > 7 else "")
