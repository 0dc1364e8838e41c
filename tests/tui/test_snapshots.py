"""SVG snapshots of each main pane on the small demo cluster (clocks pinned).

Review a changed snapshot in the report pytest writes before updating it with
`pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.app import KubewardApp

SIZE = (150, 44)

PANES = {
    "overview": [],
    "findings": ["colon", *"findings", "enter"],
    "findings-filtered": ["colon", *"findings", "enter", "slash", *"sev:high cat:iso", "enter", "b"],
    "workloads": ["colon", *"workloads", "enter", "down", "enter", "down", "down"],
    "nodes": ["colon", *"nodes", "enter"],
    "images": ["colon", *"images", "enter", "down", "down"],
    "image-layers": ["colon", *"images", "enter", "down", "down", "enter", "enter"],
    "access": ["colon", *"access", "enter"],
    "detail": ["colon", *"findings", "enter", "enter"],
    "help": ["question_mark"],
}


@pytest.mark.parametrize("pane", PANES)
def test_pane_snapshot(pane: str, demo_report, snap_compare, tmp_path: Path) -> None:
    app = KubewardApp(report=demo_report, source_name="report.json", keymap_path=tmp_path / "none.yaml")

    async def loaded(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, press=PANES[pane], terminal_size=SIZE, run_before=loaded)


def test_light_theme_is_readable(demo_report, snap_compare, tmp_path: Path) -> None:
    app = KubewardApp(report=demo_report, source_name="report.json", keymap_path=tmp_path / "none.yaml")

    async def loaded(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.theme = "textual-light"
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, press=["colon", *"findings", "enter"], terminal_size=SIZE, run_before=loaded)
