"""Where the browser is: `workloads › shop › Deployment/cart › cart-7d9 › app`."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class Breadcrumbs(Static):
    """The trail of levels opened in a browser pane; the last one is where the cursor is."""

    DEFAULT_CSS = """
    Breadcrumbs {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def show(self, crumbs: Sequence[str]) -> None:
        text = Text()
        for i, crumb in enumerate(crumbs):
            if i:
                text.append(" › ", style="dim")
            text.append(crumb, style="bold" if i == len(crumbs) - 1 else "")
        self.update(text)

    @property
    def plain(self) -> str:
        return str(self.render())
