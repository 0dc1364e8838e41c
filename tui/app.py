"""The kubeward dashboard: panes over one Report, collected live in one worker or opened from a snapshot.

Panes are Textual modes (each keeps its own stack, so a finding's detail opened
from the Findings pane is still there when you come back): `:` jumps between
them, `?` lists every key, and every action is in the command palette.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from audit.diff import ReportDiff
from audit.explore import Explorer
from audit.findings import Finding, Waiver
from audit.pipeline import AuditOptions, run_audit
from audit.progress import Progress
from audit.query import FindingsView
from audit.report import Report
from audit.waivers import apply_waivers
from collectors.kube import KubeConnectionError
from collectors.kubeconfig import KubeConfigError, KubeTarget, list_contexts, load_kube_target
from collectors.watch import WatchStatus
from tui.screens.choice import ChoiceScreen
from tui.screens.compare import CompareScreen
from tui.screens.detail import DetailScreen
from tui.screens.explorer import ExplorerScreen
from tui.screens.findings import FindingsScreen
from tui.screens.help import HelpScreen
from tui.screens.overview import OverviewScreen
from tui.screens.prompt import PromptScreen
from tui.screens.report_screen import ReportScreen

PANES = ("overview", "findings", "workloads", "pods", "nodes", "images", "access", "matrix")
"""Every pane, by the name `:` jumps to."""

PANE_HELP = {
    "overview": "grade, counts, top risks, namespaces, coverage gaps",
    "findings": "every finding, filter with /",
    "workloads": "namespace → workload → pod → container → layer → package → vulnerability",
    "pods": "every pod, drill down to its containers and images",
    "nodes": "kernel, OS, runtime and kubelet versions; the pods on each node",
    "images": "layers, packages and vulnerabilities of every running image",
    "access": "every container: who can get a shell, does its image have one, who did (audit log)",
    "matrix": "the RBAC exec matrix: subject × namespace × path, and the binding that grants it",
}


def _explorer_pane(root: str):  # type: ignore[no-untyped-def]
    return lambda: ExplorerScreen(root)


class KubewardApp(App[None]):
    """Audit a live cluster (`target`) or show a saved snapshot (`report`)."""

    CSS_PATH = "app.tcss"
    TITLE = "kubeward"
    MODES = {
        "overview": OverviewScreen,
        "findings": FindingsScreen,
        **{name: _explorer_pane(name) for name in ("workloads", "pods", "nodes", "images", "access", "matrix")},
    }
    DEFAULT_MODE = "overview"
    BINDINGS = [
        Binding("colon", "jump", "Jump", id="app.jump"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("e", "export", "Export", id="app.export"),
        Binding("d", "compare", "Compare", id="app.compare"),
        Binding("r", "rescan", "Rescan", id="app.rescan"),
        Binding("c", "context", "Context", id="app.context"),
        Binding("n", "namespaces", "Namespaces", id="app.namespaces"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    status: reactive[Text] = reactive(Text(""), always_update=True)
    """The line under every pane: progress while collecting, then what is shown."""

    def __init__(
        self,
        *,
        target: KubeTarget | None = None,
        options: AuditOptions | None = None,
        report: Report | None = None,
        source_name: str = "",
        kubeconfig: str | None = None,
        keymap_path: Path | None = None,
        waivers: Sequence[Waiver] | None = None,
        waivers_path: str = "",
        watch: bool = False,
    ) -> None:
        super().__init__()
        self.target = target
        """Where to collect from; None when showing a saved report."""
        self.options = options or AuditOptions()
        """How to collect."""
        self.report = report
        """The Report on screen, once there is one."""
        self.source_name = source_name
        """The file a saved report came from."""
        self.kubeconfig = kubeconfig
        """The `--kubeconfig` given, for switching contexts with `c`."""
        self.error: str | None = None
        """A one-line failure that ended the app, for the CLI to print."""
        self.explorer: Explorer | None = None
        """Indexes of the report for the browser panes."""
        self.findings_view: FindingsView | None = None
        """The report's findings as rows, for the findings pane."""
        self.generation = 0
        """How many reports have been shown; panes redraw when theirs is older."""
        self.history: list[str] = []
        """Panes visited, for Esc at the top of a pane."""
        self.keymap_path = keymap_path if keymap_path is not None else default_keymap_path()
        """Where binding ids are remapped (`app.export: x`)."""
        self.waivers = tuple(waivers) if waivers is not None else None
        """The reviewers' decisions (`--waivers`), applied to every report shown."""
        self.waivers_path = waivers_path
        """The file they came from, named in the findings they raise."""
        self.partial = False
        """True while the report shown lacks what is still being collected (images, audit logs)."""
        self.watch = watch
        """Keep the pods current after each collection (`--watch`)."""
        self._watch_status: Text | None = None
        self._watch_applied = 0
        self._progress: dict[tuple[str, str], Progress] = {}
        self._collect_started: datetime | None = None

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry names from the cluster and the user (`[admin]`, paths): never markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # -- start ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._load_keymap()
        if self.report is not None:
            self.sub_title = f"{self.source_name} (saved snapshot, read-only)"
            self.prepare(self.report)
        else:
            self.action_rescan()

    def _load_keymap(self) -> None:
        if not self.keymap_path.is_file():
            return
        try:
            keymap = yaml.safe_load(self.keymap_path.read_text())
            if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
                raise ValueError("expected a mapping of binding id to keys, e.g. `app.export: x`")
        except (OSError, ValueError, yaml.YAMLError) as error:
            self.notify(f"{self.keymap_path}: {str(error).splitlines()[0]}", severity="error", title="keymap")
            return
        self.set_keymap({str(k): v for k, v in keymap.items()})

    # -- the report ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False, description="index the report")
    def prepare(self, report: Report) -> tuple[Report, Explorer, FindingsView]:
        """Index a report off the event loop (50,000 findings take a moment), then show it."""
        from checks.catalogue import ordered

        if self.waivers is not None:
            today = datetime.now(UTC).date()
            report = apply_waivers(report, self.waivers, today, source=self.waivers_path or "waivers file")
        # Building the indexes makes a few hundred thousand small objects next to the Report's
        # own; the cyclic collector would rescan the whole heap again and again meanwhile (most
        # of the time, measured). None of it is cyclic garbage, so collect after, then move the
        # long-lived Report out of the collector's way.
        gc.disable()
        try:
            explorer = Explorer(report)
            view = FindingsView(report.findings, {c.id: c.name for c in ordered()})
            explorer.warm()
        finally:
            gc.enable()
        gc.freeze()
        return report, explorer, view

    def show(self, report: Report, explorer: Explorer, view: FindingsView) -> None:
        self.report, self.explorer, self.findings_view = report, explorer, view
        self.generation += 1
        if not self.partial:
            self.status = self._summary(report)
        if isinstance(self.screen, ReportScreen):
            self.screen.sync()
        for screen in self.screen_stack:
            if isinstance(screen, ReportScreen) and screen is not self.screen:
                screen.sync()

    def _summary(self, report: Report) -> Text:
        counts = report.inventory.counts()
        text = Text()
        if self.target is None:
            text.append(f"snapshot {self.source_name}", style="bold")
            if report.meta.finished:
                text.append(f" taken {report.meta.finished:%Y-%m-%d %H:%M} UTC")
        else:
            text.append(f"{report.meta.context}", style="bold")
            if report.meta.finished:
                seconds = (report.meta.finished - report.meta.started).total_seconds() if report.meta.started else 0
                text.append(f" collected {report.meta.finished.astimezone():%H:%M:%S} in {seconds:.1f}s")
        text.append(f" · {counts['pods']} pods · {len(report.findings)} findings")
        if report.gaps:
            text.append(f" · {len(report.gaps)} coverage gaps", style="bold yellow")
        if self._watch_status is not None:
            text.append(" · ").append_text(self._watch_status)
        return text

    # -- collecting ---------------------------------------------------------------------

    def action_rescan(self) -> None:
        if self.target is None:
            self.notify("A saved snapshot cannot be rescanned.", severity="warning")
            return
        self.sub_title = f"{self.target.context} · {self.target.server}"
        self._stop_watch()
        self._progress.clear()
        self._collect_started = datetime.now(UTC)
        self.status = Text("connecting…")
        self.collect()

    @work(exclusive=True, group="collect", exit_on_error=False, description="collect the cluster")
    async def collect(self) -> Report:
        assert self.target is not None
        return await run_audit(self.target, self.options, on_progress=self.on_progress, on_partial=self.on_partial)

    def on_partial(self, report: Report) -> None:
        """The API objects are read and checked: show them while images and logs are still read."""
        self.partial = True
        self.prepare(report)

    def on_progress(self, event: Progress) -> None:
        if threading.get_ident() != self._thread_id:
            self.call_from_thread(self._record_progress, event)
        else:
            self._record_progress(event)

    def _record_progress(self, event: Progress) -> None:
        self._progress[event.key] = event
        by_source: dict[str, list[Progress]] = {}
        for progress in self._progress.values():
            if progress.task != "cluster":
                by_source.setdefault(progress.source, []).append(progress)
        text = Text("collecting ", style="bold")
        for source, events in by_source.items():
            done = sum(p.done for p in events)
            failed = sum(p.failed for p in events)
            text.append(f" {source} ", style="reverse")
            text.append(f" {done}/{len(events)} done, {sum(p.count for p in events)} objects")
            if failed:
                text.append(f", {failed} failed", style="bold red")
            text.append("  ")
        self.status = text

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            if worker.group == "collect":
                assert isinstance(worker.result, Report)
                self.partial = False
                self.prepare(worker.result)
                self._start_watch(worker.result)
                if worker.result.gaps:
                    self.notify(f"{len(worker.result.gaps)} things could not be read; see the overview's"
                                " coverage gaps", severity="warning", title="incomplete")
            elif worker.group == "prepare":
                self.show(*worker.result)  # type: ignore[misc]
            elif worker.group == "export":
                self.notify(f"wrote {worker.result}", title="export")
            elif worker.group == "compare":
                diff, name = worker.result  # type: ignore[misc]
                self.push_screen(CompareScreen(diff, name))
        elif event.state == WorkerState.ERROR:
            error = worker.error
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if worker.group == "collect" and isinstance(error, KubeConnectionError) and self.report is None:
                self.error = message
                self.exit()
                return
            self.notify(message, severity="error", title=f"{worker.group} failed", timeout=10)
            if worker.group == "collect":
                self.status = Text.assemble(("collection failed: ", "bold red"), message,
                                            " · showing the previous result" if self.report else "")

    # -- watching (`--watch`) -------------------------------------------------------------

    def _start_watch(self, report: Report) -> None:
        if self.watch and self.target is not None:
            self._watch_applied = 0
            self._watch_status = Text("watching", style="bold green")
            self.watch_pods(report)

    def _stop_watch(self) -> None:
        self.workers.cancel_group(self, "watch")
        self._watch_status = None

    @work(group="watch", exclusive=True, exit_on_error=False, description="watch the pods")
    async def watch_pods(self, report: Report) -> None:
        """Apply the pod watch's batches to the collected report and show each result."""
        from audit.live import apply_pod_changes
        from collectors.watch import PodWatcher

        assert self.target is not None
        watcher = PodWatcher(self.target.api_client, report.inventory, timeout=self.options.timeout,
                             on_status=self._watch_state)
        async with contextlib.aclosing(watcher.batches()) as batches:
            async for changes in batches:
                report = await asyncio.to_thread(apply_pod_changes, report, changes, self.options.config)
                self._watch_applied += changes.events
                self._watch_status = Text.assemble(
                    ("watching", "bold green"),
                    f" · {self._watch_applied} changes applied · last {datetime.now():%H:%M:%S}")
                self.prepare(report)

    def _watch_state(self, state: WatchStatus) -> None:
        if state.healthy:
            text = Text("watching", style="bold green")
            if self._watch_applied:
                text.append(f" · {self._watch_applied} changes applied")
        else:
            text = Text.assemble(("watch: ", "bold red"), state.message)
        self._watch_status = text
        if self.report is not None:
            self.status = self._summary(self.report)

    # -- navigation ---------------------------------------------------------------------

    def switch_pane(self, pane: str) -> None:
        if pane == self.current_mode:
            return
        self.history.append(self.current_mode)
        self.switch_mode(pane)

    def action_back(self) -> None:
        """Esc at the top of a pane: the pane visited before."""
        if self.history:
            self.switch_mode(self.history.pop())

    def action_jump(self) -> None:
        def jump(answer: str | None) -> None:
            if not answer:
                return
            word = answer.split()[0].lower().removeprefix(":")
            matches = [p for p in PANES if p.startswith(word)]
            if word in ("q", "quit"):
                self.exit()
            elif matches:
                self.switch_pane(matches[0])
            else:
                self.notify(f"no pane {word!r}; panes: {', '.join(PANES)}", severity="warning")

        self.push_screen(PromptScreen(":", suggestions=PANES, placeholder=" ".join(PANES)), jump)

    def show_finding(self, finding: Finding) -> None:
        if self.report is not None:
            self.push_screen(DetailScreen(finding, self.report.inventory))

    def show_findings(self, query: str) -> None:
        """The findings pane, filtered by `query`."""
        self.switch_pane("findings")
        self.call_after_refresh(self._filter_findings, query)

    def _filter_findings(self, query: str) -> None:
        screen = self.screen
        if isinstance(screen, FindingsScreen):
            screen.set_filter(query)

    def browse(self, pane: str, keys: Sequence[Any]) -> None:
        """Open a browser pane at its root and drill through `keys`."""
        self.switch_pane(pane)
        self.call_after_refresh(self._browse, keys)

    def _browse(self, keys: Sequence[Any]) -> None:
        screen = self.screen
        if isinstance(screen, ExplorerScreen):
            screen.show_report()
            while len(screen.trail.levels) > 1:
                screen.action_back()
            for key in keys:
                if not screen.drill(key):
                    break

    def action_help(self) -> None:
        keys: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for active in self.active_bindings.values():
            binding = active.binding
            label = self.get_key_display(binding)
            if binding.id and binding.id not in seen:
                seen.add(binding.id)
                keys.append((label, binding.description or binding.action, binding.id))
        for pane in PANES:
            keys.append((f":{pane}", PANE_HELP[pane], ""))
        keys.append(("ctrl+p", "command palette: every action by name", ""))
        self.push_screen(HelpScreen(keys))

    # -- actions that need a question -------------------------------------------------------

    def action_export(self) -> None:
        if self.report is None:
            self.notify("nothing to export yet", severity="warning")
            return
        formats = _export_formats()
        context = (self.report.meta.context or "snapshot").replace("/", "_")
        default = f"kubeward-{context}-{datetime.now():%Y%m%d-%H%M}.{'xlsx' if 'xlsx' in formats else 'json'}"
        self.push_screen(PromptScreen(f"export to (formats by suffix: {', '.join(formats)})", value=default),
                         self._export)

    def _export(self, path: str | None) -> None:
        if path and self.report is not None:
            self.export(self.report, Path(path).expanduser())

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, description="export the report")
    def export(self, report: Report, path: Path) -> Path:
        try:
            from audit.export import export_report
        except ImportError:
            from audit.report import save_report

            return save_report(report, path)
        return export_report(report, path)

    def action_compare(self) -> None:
        if self.report is None:
            self.notify("nothing to compare yet", severity="warning")
            return
        self.push_screen(PromptScreen("compare with an earlier snapshot (report JSON)",
                                      placeholder="path/to/earlier-report.json"), self._compare)

    def _compare(self, path: str | None) -> None:
        if path and self.report is not None:
            self.compare(self.report, Path(path).expanduser())

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="compare with a snapshot")
    def compare(self, report: Report, path: Path) -> tuple[ReportDiff, str]:
        from audit.diff import diff_reports
        from audit.report import load_report

        return diff_reports(load_report(path), report), str(path)

    def action_context(self) -> None:
        if self.target is None:
            self.notify("a saved snapshot has no cluster to switch", severity="warning")
            return
        try:
            contexts = list_contexts(self.kubeconfig)
        except KubeConfigError as error:
            self.notify(str(error), severity="error")
            return
        self.push_screen(ChoiceScreen("switch to context", contexts, self.target.context), self._switch_context)

    def _switch_context(self, context: str | None) -> None:
        if not context or self.target is None or context == self.target.context:
            return
        try:
            self.target = load_kube_target(self.kubeconfig, context)
        except KubeConfigError as error:
            self.notify(str(error), severity="error")
            return
        self.action_rescan()

    def action_namespaces(self) -> None:
        current = ",".join(self.options.namespaces)
        if self.target is None:
            self.push_screen(PromptScreen("show findings of namespaces (comma-separated; empty: all)"),
                             lambda answer: answer is not None and self.show_findings(
                                 f"ns:{answer}" if answer else ""))
            return
        self.push_screen(PromptScreen("audit namespaces (comma-separated; empty: all)", value=current,
                                      suggestions=self._namespace_names()), self._scope)

    def _namespace_names(self) -> list[str]:
        return [n.metadata.name for n in self.report.inventory.namespaces] if self.report else []

    def _scope(self, answer: str | None) -> None:
        if answer is None:
            return
        namespaces = tuple(n.strip() for n in answer.split(",") if n.strip())
        self.options = dataclasses.replace(self.options, namespaces=namespaces)
        self.action_rescan()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane in PANES:
            yield SystemCommand(f"Go to {pane}", PANE_HELP[pane], lambda p=pane: self.switch_pane(p))
        yield SystemCommand("Export", "write the report (xlsx, csv, json, sarif, cyclonedx by suffix)",
                            self.action_export)
        yield SystemCommand("Compare", "compare with an earlier snapshot: new, resolved, changed findings",
                            self.action_compare)
        yield SystemCommand("Rescan", "collect the cluster again", self.action_rescan)
        yield SystemCommand("Switch context", "audit another kubeconfig context", self.action_context)
        yield SystemCommand("Namespaces", "limit the audit to some namespaces", self.action_namespaces)
        yield SystemCommand("Keys", "every key and its binding id", self.action_help)


def _export_formats() -> list[str]:
    try:
        from audit.export import FORMATS
    except ImportError:
        return ["json"]
    return list(FORMATS)


def default_keymap_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".config")
    return Path(base) / "kubeward" / "keymap.yaml"
