"""A one-line question: `:` jump, `n` namespaces, `e` export path, `d` snapshot to compare with."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; Enter answers, Esc cancels (None)."""

    DEFAULT_CSS = """
    PromptScreen {
        align: center bottom;
    }
    PromptScreen > Vertical {
        width: 100%;
        height: auto;
        background: $panel;
        border-top: tall $accent;
        padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, question: str, *, value: str = "", suggestions: Sequence[str] = (),
                 placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        """Shown above the input."""
        self.value = value
        """The input's initial text."""
        self.suggestions = list(suggestions)
        """Completions offered as you type (→ accepts)."""
        self.placeholder = placeholder
        """Shown in the empty input."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Input(self.value, placeholder=self.placeholder, id="answer",
                        suggester=SuggestFromList(self.suggestions, case_sensitive=False) if self.suggestions else None)

    @on(Input.Submitted, "#answer")
    def answer(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
