"""The one-line status under every pane: collection progress, then what is shown."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class StatusLine(Static):
    """Mirrors the app's `status` (a reactive on the app), so every pane shows the same line."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $boost;
        color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._show)

    def _show(self, status: Text) -> None:
        self.update(status)
