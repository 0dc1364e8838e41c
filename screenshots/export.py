"""Regenerate the screenshots in this folder from the demo cluster.

    python screenshots/export.py

Writes one SVG per screen (and a PNG beside it when `rsvg-convert`, Debian
package librsvg2-bin, is installed). Never edit the images by hand.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from audit.pipeline import AuditOptions  # noqa: E402
from collectors.kubeconfig import load_kube_target  # noqa: E402
from demo.apiserver import ApiServerDouble  # noqa: E402
from demo.cluster import generate_cluster  # noqa: E402
from tui.app import KubewardApp  # noqa: E402

SIZE = (130, 40)


async def export_overview(kubeconfig: Path) -> list[Path]:
    target = load_kube_target(str(kubeconfig), environ={})
    app = KubewardApp(target=target, options=AuditOptions(images=None))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        svg = HERE / "overview.svg"
        app.save_screenshot(filename=svg.name, path=str(HERE))
    return [svg]


def to_png(svg: Path) -> Path | None:
    converter = shutil.which("rsvg-convert")
    if converter is None:
        return None
    png = svg.with_suffix(".png")
    subprocess.run([converter, "--zoom", "1.5", "-o", str(png), str(svg)], check=True)
    return png


def main() -> None:
    objects = generate_cluster(pods=400, seed=7)
    with tempfile.TemporaryDirectory() as tmp, ApiServerDouble(objects, tls=True) as server:
        kubeconfig = server.write_kubeconfig(Path(tmp) / "kubeconfig")
        written = asyncio.run(export_overview(kubeconfig))
    for svg in written:
        png = to_png(svg)
        print(svg.relative_to(HERE.parent), "and", png.relative_to(HERE.parent) if png else "(no PNG)")


if __name__ == "__main__":
    main()
