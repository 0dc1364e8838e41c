"""The first dashboard: it collects in a worker and shows what was read."""

from __future__ import annotations

import pytest
from textual.worker import WorkerFailed

from audit.pipeline import AuditOptions
from collectors.kubeconfig import load_kube_target
from tests.audit.test_report import sample_report
from tui.app import KubewardApp


def cell_texts(table) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_live_collection_fills_the_tables(serve, demo_objects) -> None:
    _, kubeconfig = serve(demo_objects, tls=True)
    target = load_kube_target(str(kubeconfig), environ={})
    app = KubewardApp(target=target, options=AuditOptions(images=None))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.report is not None
        counts = dict((row[0], row[1]) for row in cell_texts(app.counts_table))
        assert counts["pods"] == str(sum(o["kind"] == "Pod" for o in demo_objects))
        namespaces = {row[0] for row in cell_texts(app.namespaces_table)}
        assert {o["metadata"]["name"] for o in demo_objects if o["kind"] == "Namespace"} == namespaces
        assert "pods on" in str(app.status.render())
        await pilot.press("q")


async def test_saved_report_opens_offline_and_shows_gaps() -> None:
    report = sample_report()
    app = KubewardApp(report=report, source_name="report.json")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        rows = cell_texts(app.gaps_table)
        assert rows == [["list roles.rbac.authorization.k8s.io", "shop", "roles is forbidden"]]
        await pilot.press("r")  # a snapshot cannot be rescanned: nothing starts
        await pilot.pause()
        assert not app.workers._workers


async def test_connection_failure_ends_the_app_with_one_line(serve) -> None:
    double, kubeconfig = serve([])
    target = load_kube_target(str(kubeconfig), environ={})
    double.stop()
    app = KubewardApp(target=target, options=AuditOptions(timeout=2, images=None))
    async with app.run_test(size=(100, 30)) as pilot:
        with pytest.raises(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.return_code == 0 and not app.is_running
    assert app.error is not None and app.error.startswith("cannot reach")
