"""`--watch` in the dashboard: pod changes on the API server double reach the report on screen."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest
from textual.worker import WorkerState

from audit.pipeline import AuditOptions
from collectors.kubeconfig import load_kube_target
from tests.collectors.test_watch import make_privileged, replica_pod
from tui.app import KubewardApp

SIZE = (140, 44)
WAIT = 30.0


async def until(app: KubewardApp, pilot, condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until `condition()` holds; fail after WAIT seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}; status: {app.status}")
        await pilot.pause()


def watchers(app: KubewardApp) -> list:  # type: ignore[no-untyped-def]
    return [w for w in app.workers if w.group == "watch" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]


def pods_of(app: KubewardApp) -> dict:  # type: ignore[no-untyped-def]
    assert app.report is not None
    return {(p.namespace, p.name): p for p in app.report.inventory.pods}


async def test_watched_pod_changes_reach_the_report_and_its_findings(serve, demo_objects, tmp_path: Path) -> None:
    double, kubeconfig = serve(demo_objects, tls=True)
    target = load_kube_target(str(kubeconfig), environ={})
    app = KubewardApp(target=target, options=AuditOptions(images=None), keymap_path=tmp_path / "none.yaml",
                      watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(app, pilot, lambda: app.report is not None and "watching" in str(app.status), "the first report")
        first = app.report
        assert first is not None
        pod = make_privileged(replica_pod(demo_objects))
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        workload = pods_of(app)[key].workload
        assert not [f for f in first.findings if f.check_id == "KW-ISO-001" and key[1] in f.pods]
        doomed = next(p for p in first.inventory.pods if p.workload.kind == "StatefulSet")
        added = copy.deepcopy(pod)
        added["metadata"]["name"] = f"{key[1]}-surge"
        double.apply(pod)
        double.apply(added)
        double.remove("pods", doomed.name, doomed.namespace)

        await until(app, pilot, lambda: (doomed.namespace, doomed.name) not in pods_of(app)
                    and (key[0], added["metadata"]["name"]) in pods_of(app), "the changes to be shown")
        report = app.report
        assert report is not None
        assert pods_of(app)[key].spec.containers[0].security_context.privileged is True
        privileged = [f for f in report.findings if f.check_id == "KW-ISO-001" and f.resource == workload]
        assert len(privileged) == 1 and {key[1], added["metadata"]["name"]} <= set(privileged[0].pods)
        assert pods_of(app)[(key[0], added["metadata"]["name"])].workload == workload
        assert "3 changes applied" in str(app.status)
        assert app.findings_view is not None and app.generation >= 2

        # The server goes away: the status says so, nothing crashes. While it is away the pods it
        # holds change and its history is compacted, so the watch comes back to a 410 and relists.
        double.stop()
        await until(app, pilot, lambda: "watch:" in str(app.status), "the watch to report the server gone")
        assert "retrying" in str(app.status)
        double.remove("pods", key[1], key[0])
        double.compact()
        double.start()
        await until(app, pilot, lambda: key not in pods_of(app), "the relist to replace the pods")
        await until(app, pilot, lambda: "watch:" not in str(app.status), "the watch to recover")
        assert len(app.report.inventory.pods) == len(double.objects("pods"))  # type: ignore[union-attr]
        assert not [f for f in app.report.findings  # type: ignore[union-attr]
                    if f.check_id == "KW-ISO-001" and key[1] in f.pods]
        assert app.error is None and app.is_running

        # `r` stops the watch, collects again, and watches again from the new collection
        before = len([r for r in double.requests if r.path == "/api/v1/pods" and "watch" not in r.query])
        generation = app.generation
        await pilot.press("r")
        await until(app, pilot, lambda: app.generation > generation and "watching" in str(app.status)
                    and watchers(app), "the rescan and the new watch")
        assert len(watchers(app)) == 1
        assert len([r for r in double.requests if r.path == "/api/v1/pods" and "watch" not in r.query]) == before + 1


async def test_without_watch_nothing_is_watched(serve, demo_objects, tmp_path: Path) -> None:
    double, kubeconfig = serve(demo_objects)
    target = load_kube_target(str(kubeconfig), environ={})
    app = KubewardApp(target=target, options=AuditOptions(images=None), keymap_path=tmp_path / "none.yaml")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.report is not None and not watchers(app)
        assert "watching" not in str(app.status)
    assert not [r for r in double.requests if r.query.get("watch")]
