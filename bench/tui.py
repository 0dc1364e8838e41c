"""Dashboard benchmark: the panes driven with Pilot over a 10,000-pod demo report with 50,000 findings.

    python -m bench.tui [--pods 10000] [--findings 50000] [--write docs/benchmarks.md]

Measured: the report indexed (in a thread) and the overview painted; the
findings pane's first paint; one filter keystroke until the table shows the
result; drilling into a namespace and a workload. Baseline, measured in the
same run: Textual's built-in DataTable loading the same finding rows (what a
pane built on it would cost before its first paint). Goals: first paint ≤ 1 s
after data, a keystroke ≤ 100 ms, a drill ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from audit.query import FindingsView
from audit.report import Report
from bench.markdown import publish
from demo.report import build_demo_report, with_findings
from tui.app import KubewardApp
from tui.screens.explorer import ExplorerScreen
from tui.screens.findings import FindingsScreen
from tui.widgets.row_table import RowTable

SECTION = "## Dashboard: 10,000 pods, 50,000 findings"
SIZE = (160, 50)


class PaintClock:
    """When a RowTable last drew a line: the end of an update as the user sees it."""

    def __init__(self) -> None:
        self.last = 0.0
        original = RowTable.render_line
        clock = self

        def render_line(table: RowTable, y: int):  # type: ignore[no-untyped-def]
            strip = original(table, y)
            clock.last = time.perf_counter()
            return strip

        RowTable.render_line = render_line  # type: ignore[method-assign]

    async def until_painted(self, pilot, started: float) -> float:  # type: ignore[no-untyped-def]
        """Seconds from `started` to the last line drawn once the app is idle again."""
        await pilot.pause()
        await pilot.pause()
        return self.last - started


async def measure_app(report: Report) -> dict[str, float]:
    times: dict[str, float] = {}
    clock = PaintClock()
    app = KubewardApp(source_name="bench.json", keymap_path=Path("/nonexistent/keymap.yaml"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        started = time.perf_counter()
        app.prepare(report)  # as when a collection ends: the report arrives
        await app.workers.wait_for_complete()
        times["report arrives: indexed (in a thread) and the overview painted"] = await clock.until_painted(
            pilot, started)

        started = time.perf_counter()
        app.switch_pane("findings")
        times["findings pane: first paint of every finding"] = await clock.until_painted(pilot, started)
        screen = app.screen
        assert isinstance(screen, FindingsScreen) and len(screen.table.rows) == len(report.findings)

        await pilot.press("slash")
        await pilot.pause()
        keystrokes = []
        for char in "privileged":
            started = time.perf_counter()
            await pilot.press(char)
            keystrokes.append(await clock.until_painted(pilot, started))
        assert screen.query_text == "privileged"
        times["filter: one keystroke to the table redrawn (median of 10)"] = statistics.median(keystrokes)
        times["filter: one keystroke to the table redrawn (slowest of 10)"] = max(keystrokes)

        started = time.perf_counter()
        await pilot.press("escape")
        times["filter cleared (every row back)"] = await clock.until_painted(pilot, started)
        started = time.perf_counter()
        await pilot.press("s")
        times["sort by another column"] = await clock.until_painted(pilot, started)

        app.switch_pane("workloads")
        await pilot.pause()
        browser = app.screen
        assert isinstance(browser, ExplorerScreen)
        explorer = app.explorer
        assert explorer is not None
        busiest = max(browser.table.rows, key=lambda r: len(explorer.findings_by_namespace.get(r.key, [])))
        started = time.perf_counter()
        browser.drill(busiest.key)
        times["drill into the namespace with most findings"] = await clock.until_painted(pilot, started)
        workload = max(browser.table.rows, key=lambda r: len(explorer.pods_by_workload.get(r.key, [])))
        started = time.perf_counter()
        browser.drill(workload.key)
        times["drill into its largest workload (its pods)"] = await clock.until_painted(pilot, started)
        started = time.perf_counter()
        await pilot.press("escape")
        times["back (Esc)"] = await clock.until_painted(pilot, started)
        for pane, what in (("pods", "every pod"), ("access", "every container's exec risk")):
            started = time.perf_counter()
            app.switch_pane(pane)
            times[f":{pane} pane: first paint of {what}"] = await clock.until_painted(pilot, started)
    return times


class _DataTableApp(App[None]):
    def __init__(self, report: Report) -> None:
        super().__init__()
        self.view = FindingsView(report.findings)

    def compose(self) -> ComposeResult:
        yield DataTable()


async def measure_datatable(report: Report) -> float:
    app = _DataTableApp(report)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)
        rows = app.view.rows()
        started = time.perf_counter()
        table.add_columns("severity", "check", "category", "namespace", "resource", "container", "message")
        table.add_rows([r.cells for r in rows])
        await pilot.pause()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--findings", type=int, default=50_000)
    parser.add_argument("--write", metavar="MARKDOWN", help="replace the Dashboard section of this file")
    args = parser.parse_args()
    report = build_demo_report(pods=args.pods, seed=7)
    collected = len(report.findings)
    report = with_findings(report, args.findings)
    times = asyncio.run(measure_app(report))
    baseline = asyncio.run(measure_datatable(report))
    first_paint = times["findings pane: first paint of every finding"]
    lines = [
        SECTION,
        "",
        f"Generated by `python -m bench.tui --write docs/benchmarks.md`. Measured {datetime.now(UTC):%Y-%m-%d}"
        f" on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, driven with"
        f" Textual's Pilot at {SIZE[0]}×{SIZE[1]}. The demo report of {len(report.inventory.pods):,} pods has"
        f" {collected:,} findings (one per workload, not per replica); its findings are copied onto renamed"
        f" resources up to {len(report.findings):,} to measure the issue's scale.",
        "",
        "| step | time |",
        "| --- | ---: |",
        *(f"| {name} | {seconds * 1000:,.0f} ms |" for name, seconds in times.items()),
        f"| baseline: DataTable loading the same {len(report.findings):,} rows | {baseline * 1000:,.0f} ms |",
        f"| **ratio findings pane first paint / DataTable load** | **{first_paint / baseline:.3f}×** |",
        "",
        "Goals: first paint ≤ 1 s after data, a filter keystroke ≤ 100 ms, a drill ≤ 100 ms.",
        "",
    ]
    text = "\n".join(lines)
    publish(text, args.write)


if __name__ == "__main__":
    main()
