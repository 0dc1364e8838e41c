"""The demo cluster's Report, made once per session by the real command line (`kubeward demo -o`):
images from the demo's archive, vulnerabilities from its OSV data, a literal secret planted in env."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audit.report import Report, load_report

KUBEWARD = str(Path(sys.executable).with_name("kubeward"))
DEMO_PODS = "200"


def kubeward(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBEWARD, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "COLUMNS": "200"})


def demo_report(directory: Path, *extra: str, name: str = "demo.json") -> Path:
    path = directory / name
    result = kubeward("demo", "--pods", DEMO_PODS, "--seed", "11", "-o", str(path), *extra)
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="session")
def demo_report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_report(tmp_path_factory.mktemp("demo-report"))


@pytest.fixture(scope="session")
def report(demo_report_path: Path) -> Report:
    return load_report(demo_report_path)
