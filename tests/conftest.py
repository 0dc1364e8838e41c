"""Shared fixtures: real parts (the API server double, kubectl) and how to demand them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.registry_server", "tests.realparts"]

IN_CI = os.environ.get("CI") == "true"


def require_tool(name: str) -> str:
    """The path of a real tool the test needs. Missing: a failure under CI, a skip elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[object, Path]]]:
    """Start API server doubles for a test: `double, kubeconfig = serve(objects, tls=True)`.
    Every double started here is stopped when the test ends."""
    from demo.apiserver import ApiServerDouble

    started: list[ApiServerDouble] = []

    def start(objects: list[dict] = (), *, user: str = "admin", **options: object) -> tuple[object, Path]:
        double = ApiServerDouble(objects, **options).start()
        started.append(double)
        kubeconfig = double.write_kubeconfig(tmp_path / f"kubeconfig-{len(started)}", user=user)
        return double, kubeconfig

    yield start
    for double in started:
        double.stop()


@pytest.fixture(scope="session")
def demo_objects() -> list[dict]:
    """A small demo cluster, generated once per session (treat as read-only)."""
    from demo.cluster import generate_cluster

    return generate_cluster(pods=300, seed=11)


@pytest.fixture(scope="session")
def demo_report():
    """The demo cluster (120 pods) read through the pipeline with its images and vulnerabilities,
    clocks pinned to the demo's date (treat as read-only)."""
    from demo.report import build_demo_report

    return build_demo_report(pods=120, seed=7)
