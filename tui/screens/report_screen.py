"""The base of every pane: it shows the app's current Report and redraws when a new one arrives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from audit.explore import Explorer
    from tui.app import KubewardApp


class ReportScreen(Screen[None]):
    """A pane. Subclasses implement `show_report`, called once per Report they have not shown yet."""

    shown_generation = -1
    """Which of the app's reports this pane last drew (the app counts them)."""

    @property
    def kubeward(self) -> KubewardApp:
        from tui.app import KubewardApp

        assert isinstance(self.app, KubewardApp)
        return self.app

    @property
    def explorer(self) -> Explorer | None:
        return self.kubeward.explorer

    def on_screen_resume(self) -> None:
        self.sync()

    def sync(self) -> None:
        """Draw the app's report if this pane has not drawn it yet."""
        app = self.kubeward
        if app.explorer is not None and self.shown_generation != app.generation:
            self.shown_generation = app.generation
            self.show_report()

    def show_report(self) -> None:
        raise NotImplementedError
