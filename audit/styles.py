"""Rich styles for severities and grades, shared by the CLI summary and the TUI."""

from audit.findings import Severity

SEVERITY_STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
GRADE_STYLES = {"A": "bold green", "B": "green", "C": "yellow", "D": "red", "F": "bold red"}
