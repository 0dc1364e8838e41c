"""`?`: every key of the pane underneath and of the app, with the id to remap it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from audit.query import __doc__ as FILTER_HELP


class HelpScreen(ModalScreen[None]):
    """A list of (key, what it does, binding id) rows, and the filter syntax."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, keys: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.keys = keys
        """(key, description, binding id) for every active binding."""

    def compose(self) -> ComposeResult:
        table = Table(show_edge=False, expand=True, box=None, header_style="bold")
        table.add_column("key", no_wrap=True)
        table.add_column("does")
        table.add_column("id (remap in keymap.yaml)", style="dim")
        for key, description, binding_id in self.keys:
            table.add_row(Text(key, style="bold"), Text(description), Text(binding_id))
        syntax = (FILTER_HELP or "").split("Filter syntax", 1)[-1]
        with VerticalScroll(id="help"):
            yield Static(table)
            yield Static(Text("\nFilter syntax" + syntax.rstrip(), style=""))
