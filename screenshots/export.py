"""Regenerate the screenshots in this folder from the demo cluster.

    python screenshots/export.py

Writes one SVG per pane (and a PNG beside it when `rsvg-convert`, Debian
package librsvg2-bin, is installed), from the demo report with its clocks
pinned, so the pictures only change when the dashboard does. Never edit the
images by hand.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from audit.report import Report  # noqa: E402
from demo.report import build_demo_report  # noqa: E402
from tui.app import KubewardApp  # noqa: E402

SIZE = (150, 44)
PANES: dict[str, list[str]] = {
    "overview": [],
    "findings": ["colon", *"findings", "enter", "slash", *"sev:high -kube-system", "enter"],
    "workloads": ["colon", *"workloads", "enter", "down", "enter", "down", "down", "enter"],
    "image-layers": ["colon", *"images", "enter", "down", "down", "enter", "enter"],
    "nodes": ["colon", *"nodes", "enter"],
    "images": ["colon", *"images", "enter", "down", "down"],
    "access": ["colon", *"access", "enter"],
    "detail": ["colon", *"findings", "enter", "enter"],
    "help": ["question_mark"],
}


async def export_pane(report: Report, name: str, keys: list[str], keymap: Path) -> Path:
    app = KubewardApp(report=report, source_name="demo-report.json", keymap_path=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press(*keys)
        await app.workers.wait_for_complete()
        await pilot.pause()
        svg = HERE / f"{name}.svg"
        app.save_screenshot(filename=svg.name, path=str(HERE))
    return svg


def to_png(svg: Path) -> Path | None:
    """A PNG of the SVG. rsvg-convert collapses runs of non-breaking spaces in Textual's SVG,
    which shifts columns, so it is given a copy with plain, preserved spaces."""
    converter = shutil.which("rsvg-convert")
    if converter is None:
        return None
    text = svg.read_text().replace("&#160;", " ")
    text = re.sub(r"<svg ", '<svg xml:space="preserve" ', text, count=1)
    png = svg.with_suffix(".png")
    with tempfile.NamedTemporaryFile("w", suffix=".svg") as plain:
        plain.write(text)
        plain.flush()
        subprocess.run([converter, "-o", str(png), plain.name], check=True)
    return png


def main() -> None:
    report = build_demo_report(pods=400, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        keymap = Path(tmp) / "no-keymap.yaml"
        for name, keys in PANES.items():
            svg = asyncio.run(export_pane(report, name, keys, keymap))
            png = to_png(svg)
            print(svg.relative_to(HERE.parent), "and", png.relative_to(HERE.parent) if png else "(no PNG)")


if __name__ == "__main__":
    main()
