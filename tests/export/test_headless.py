"""The exporters, the panes' views and the audit-log code are part of the headless core: the TUI
calls them, and nothing here loads Textual."""

from __future__ import annotations

import subprocess
import sys


def test_the_headless_core_never_loads_textual() -> None:
    code = (
        "import sys\n"
        "import audit.export, audit.export.xlsx, audit.export.csv, audit.export.sarif, audit.export.cyclonedx\n"
        "import audit.waivers, audit.review, audit.diff\n"
        "import audit.explore, audit.query, audit.evidence  # what the panes show, without the panes\n"
        "import collectors.auditlog.reader, audit.container_access, checks.exec_evidence, demo.auditlog\n"
        "import audit.summary, audit.pipeline\n"
        "from audit.export import FORMATS, export_report\n"
        "assert FORMATS == ('xlsx', 'csv', 'json', 'sarif', 'cyclonedx')\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if m.startswith('textual'))\n"
        "print('headless')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "headless"
