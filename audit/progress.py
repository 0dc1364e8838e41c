"""Progress events: small messages the collectors emit while they work.

The CLI turns them into a rich progress display, the TUI into a status line.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    """Which collector: `kube`, `images` …"""
    task: str
    """What it is doing: `pods`, `deployments.apps` …"""
    count: int = 0
    """Objects read so far for this task."""
    done: bool = False
    failed: bool = False
    message: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Events with the same key replace one another (only the latest matters)."""
        return (self.source, self.task)


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The default callback when nobody is watching."""
