"""Guards against the dashboard regressing to "every row into a widget": 50,000 findings must
stay cheap. The bounds are generous (about ten times what bench/tui.py measures); the
benchmark is where speed is measured."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from demo.report import with_findings
from tui.app import KubewardApp
from tui.screens.findings import FindingsScreen
from tui.widgets.row_table import RowTable

pytestmark = pytest.mark.perf
SIZE = (140, 40)


async def test_fifty_thousand_findings_paint_and_filter_without_drawing_them_all(demo_report, monkeypatch,
                                                                                 tmp_path: Path) -> None:
    report = with_findings(demo_report, 50_000)
    drawn: list[int] = []
    original = RowTable.render_line

    def counting(table: RowTable, y: int):  # type: ignore[no-untyped-def]
        drawn.append(y)
        return original(table, y)

    monkeypatch.setattr(RowTable, "render_line", counting)
    app = KubewardApp(report=report, source_name="r.json", keymap_path=tmp_path / "none.yaml")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        drawn.clear()
        started = time.perf_counter()
        app.switch_pane("findings")
        await pilot.pause()
        first_paint = time.perf_counter() - started
        screen = app.screen
        assert isinstance(screen, FindingsScreen) and len(screen.table.rows) == 50_000
        assert 0 < len(drawn) <= 4 * SIZE[1], "the table drew more lines than fit on screen"
        assert first_paint < 2.0

        await pilot.press("slash")
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("p")
        await pilot.pause()
        keystroke = time.perf_counter() - started
        assert screen.query_text == "p" and len(screen.table.rows) < 50_000
        assert keystroke < 1.0
