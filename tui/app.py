"""The kubeward Textual app: collects in one worker, shows what was read."""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from audit.pipeline import AuditOptions, run_audit
from audit.progress import Progress
from audit.report import Report
from audit.styles import GRADE_STYLES, SEVERITY_STYLES
from checks.scoring import score
from collectors.kube import KubeConnectionError
from collectors.kubeconfig import KubeTarget

FINDINGS_SHOWN = 500
"""The first dashboard lists the worst findings only; the findings pane (Line API) lists them all."""


class KubewardApp(App[None]):
    """Audit a live cluster (`target`) or show a saved snapshot (`report`)."""

    CSS_PATH = "app.tcss"
    TITLE = "kubeward"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("r", "rescan", "Rescan", id="app.rescan"),
    ]

    def __init__(
        self,
        *,
        target: KubeTarget | None = None,
        options: AuditOptions | None = None,
        report: Report | None = None,
        source_name: str = "",
    ) -> None:
        super().__init__()
        self.target = target
        """Where to collect from; None when showing a saved report."""
        self.options = options or AuditOptions()
        """How to collect."""
        self.report = report
        """The Report on screen, once there is one."""
        self.source_name = source_name
        """Shown in the title for a saved report."""
        self.error: str | None = None
        """A one-line failure that ended the app, for the CLI to print."""
        self._progress: dict[tuple[str, str], Progress] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="status")
        with Horizontal(id="body"):
            yield DataTable(id="counts", cursor_type="row", zebra_stripes=True)
            with Vertical(id="side"):
                yield DataTable(id="namespaces", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="findings", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="gaps", cursor_type="row")
        yield Footer()

    @property
    def counts_table(self) -> DataTable[Text]:
        return self.query_one("#counts", DataTable)

    @property
    def namespaces_table(self) -> DataTable[Text]:
        return self.query_one("#namespaces", DataTable)

    @property
    def findings_table(self) -> DataTable[Text]:
        return self.query_one("#findings", DataTable)

    @property
    def gaps_table(self) -> DataTable[Text]:
        return self.query_one("#gaps", DataTable)

    @property
    def status(self) -> Static:
        return self.query_one("#status", Static)

    def on_mount(self) -> None:
        self.counts_table.border_title = "Collected"
        self.counts_table.add_columns("kind", "count")
        self.namespaces_table.border_title = "Namespaces"
        self.namespaces_table.add_columns("namespace", "grade", "score", "pods", "workloads", "findings")
        self.findings_table.border_title = "Findings"
        self.findings_table.add_columns("severity", "check", "resource", "container", "message")
        self.gaps_table.border_title = "Coverage gaps"
        self.gaps_table.add_columns("not read", "namespace", "why")
        if self.report is not None:
            self.sub_title = f"{self.source_name} (saved snapshot)"
            self.show_report(self.report)
        else:
            self.action_rescan()

    def action_rescan(self) -> None:
        if self.target is None:
            self.notify("A saved snapshot cannot be rescanned.", severity="warning")
            return
        self.sub_title = f"{self.target.context} · {self.target.server}"
        self._progress.clear()
        self.status.update("connecting…")
        self.collect()

    @work(exclusive=True, group="collect", exit_on_error=False)
    async def collect(self) -> Report:
        assert self.target is not None
        return await run_audit(self.target, self.options, on_progress=self.on_progress)

    def on_progress(self, event: Progress) -> None:
        self._progress[event.key] = event
        if event.task == "cluster":
            return
        done = sum(p.done for p in self._progress.values())
        objects = sum(p.count for p in self._progress.values())
        self.status.update(f"reading {event.source}: {event.task} … {done} lists done, {objects} objects")

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "collect":
            return
        if event.state == WorkerState.SUCCESS:
            report = event.worker.result
            assert isinstance(report, Report)
            self.report = report
            self.show_report(report)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, KubeConnectionError):
                self.error = str(error)
                self.exit()
            else:
                self.status.update(Text(f"collection failed: {error}", style="bold red"))

    def show_report(self, report: Report) -> None:
        inventory = report.inventory
        self.counts_table.clear()
        for kind, count in inventory.counts().items():
            self.counts_table.add_row(Text(kind), Text(str(count), justify="right"))
        workloads = Counter(w.metadata.namespace for w in inventory.workloads if w.kind != "ReplicaSet")
        cluster, scores = score(report.findings, report.check_stats)
        findings_per_ns = Counter(f.resource.namespace for f in report.findings)
        self.namespaces_table.clear()
        for namespace in inventory.namespaces:
            name = namespace.metadata.name
            entry = scores.get(name)
            self.namespaces_table.add_row(
                Text(name),
                Text(entry.grade if entry else "-", style=GRADE_STYLES.get(entry.grade, "") if entry else ""),
                Text(str(entry.score) if entry else "-", justify="right"),
                Text(str(len(inventory.pods_by_namespace.get(name, ()))), justify="right"),
                Text(str(workloads.get(name, 0)), justify="right"),
                Text(str(findings_per_ns.get(name, 0)), justify="right"),
            )
        self.findings_table.clear()
        ranked = sorted(report.findings, key=lambda f: (-f.severity.rank, f.check_id, str(f.resource)))
        for finding in ranked[:FINDINGS_SHOWN]:
            self.findings_table.add_row(
                Text(finding.severity.value, style=SEVERITY_STYLES[finding.severity]),
                Text(finding.check_id),
                Text(str(finding.resource)),
                Text(finding.container or ""),
                Text(finding.message),
            )
        shown = min(len(ranked), FINDINGS_SHOWN)
        self.findings_table.border_title = f"Findings ({shown} of {len(ranked)}, worst first)"
        self.gaps_table.clear()
        for gap in report.gaps:
            self.gaps_table.add_row(
                Text(f"{gap.verb} {gap.resource}"), Text(gap.namespace or "(all)"), Text(gap.message)
            )
        self.gaps_table.border_title = f"Coverage gaps ({len(report.gaps)})"
        counts = inventory.counts()
        self.status.update(Text.assemble(
            "grade ", (cluster.grade, GRADE_STYLES[cluster.grade]), f" ({cluster.score}/100)",
            f" · {counts['pods']} pods on {counts['nodes']} nodes in {counts['namespaces']} namespaces"
            f" · {len(report.findings)} findings · {len(report.gaps)} coverage gaps",
        ))
