"""One finding in full: evidence in the object's YAML with the offending field marked,
rationale, remediation and references."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from audit.evidence import finding_evidence
from audit.findings import Finding
from audit.model import Inventory
from audit.styles import SEVERITY_STYLES


class DetailScreen(Screen[None]):
    """Pushed over a pane; Esc returns to it."""

    BINDINGS = [Binding("escape", "dismiss", "Back", id="detail.back")]

    def __init__(self, finding: Finding, inventory: Inventory) -> None:
        super().__init__()
        self.finding = finding
        """The finding shown."""
        self.inventory = inventory
        """Where its object is looked up for the evidence."""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(self._heading(), id="heading")
            yield Static(self._evidence(), id="evidence")
            yield Static(self._advice(), id="advice")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#evidence", Static).border_title = "Evidence"
        self.query_one("#advice", Static).border_title = "Why it matters and what to do"

    def _heading(self) -> Text:
        from checks.engine import REGISTRY

        f = self.finding
        check = REGISTRY.get(f.check_id)
        text = Text.assemble((f.severity.value.upper(), SEVERITY_STYLES[f.severity]), "  ", (f.check_id, "bold"),
                             "  ", check.title if check else "", "\n\n")
        text.append(f.message)
        text.append("\n\n")
        rows = [("resource", str(f.resource)), ("category", f.category.value)]
        if f.container:
            rows.append(("container", f.container))
        if f.field_path:
            rows.append(("field", f.field_path))
        if f.observed is not None:
            rows.append(("observed", _short(f.observed)))
        if f.pods:
            more = f" … and {len(f.pods) - 5} more" if len(f.pods) > 5 else ""
            rows.append(("pods", ", ".join(f.pods[:5]) + more))
        rows.append(("fingerprint", f.fingerprint))
        if f.waiver is not None:
            w = f.waiver
            rows.append(("waived", f"{w.status} by {w.owner} until {w.expires}: {w.reason}"
                                   + (f" ({w.ticket})" if w.ticket else "")))
        for label, value in rows:
            text.append(f"{label:>12}  ", style="dim")
            text.append(value)
            text.append("\n")
        return text

    def _evidence(self) -> Text:
        lines = finding_evidence(self.inventory, self.finding)
        if not lines:
            return Text("the object is not in this snapshot", style="dim italic")
        text = Text()
        for line in lines:
            if line is None:
                text.append("  …\n", style="dim")
            elif line.marked:
                text.append(f"▶ {line.text}\n", style="bold reverse")
            else:
                text.append(f"  {line.text}\n")
        text.rstrip()
        return text

    def _advice(self) -> Group | Text:
        from checks.engine import REGISTRY

        check = REGISTRY.get(self.finding.check_id)
        if check is None:
            return Text("no catalogue entry for this check", style="dim")
        text = Text()
        text.append("Rationale\n", style="bold")
        text.append(check.rationale.strip() + "\n\n")
        text.append("Remediation\n", style="bold")
        text.append(check.remediation.strip() + "\n")
        if check.references:
            text.append("\nReferences\n", style="bold")
            for ref in check.references:
                text.append("• ")
                text.append(ref.title, style=f"link {ref.url}")
                text.append(f"  {ref.url}\n", style="dim")
        text.rstrip()
        return text


def _short(value: object, limit: int = 300) -> str:
    pairs = value.items() if isinstance(value, dict) else None
    text = ", ".join(f"{k}: {_plain(v)}" for k, v in pairs) if pairs is not None else _plain(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)
