"""The pod watcher against the API server double, over real HTTP with the real client."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import msgspec
import pytest

from audit.live import PodChanges
from audit.model import Inventory
from collectors.kube import KubeCollector, RetryPolicy
from collectors.kubeconfig import load_kube_target
from collectors.watch import PodWatcher, WatchStatus

FAST = RetryPolicy(attempts=3, base_delay=0.02, max_delay=0.2)
WAIT = 20.0
"""Seconds a test waits for the stream before it fails (it never waits this long when it passes)."""


async def collect(kubeconfig: Path, **options: object) -> tuple[Inventory, object]:
    target = load_kube_target(str(kubeconfig), environ={})
    result = await KubeCollector(target.api_client, retry=FAST, **options).collect()  # type: ignore[arg-type]
    return result.inventory, target


def watcher(target, inventory: Inventory, statuses: list[WatchStatus] | None = None) -> PodWatcher:  # type: ignore[no-untyped-def]
    return PodWatcher(target.api_client, inventory, retry=FAST, flush_interval=0.05, timeout=5.0,
                      on_status=(statuses.append if statuses is not None else lambda s: None))


async def next_batch(batches: AsyncIterator[PodChanges]) -> PodChanges:
    return await asyncio.wait_for(anext(batches), WAIT)


async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll the event loop (not the clock) until `condition()` holds; fail after WAIT seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def replica_pod(objects: list[dict]) -> dict:
    pod = next(o for o in objects if o["kind"] == "Pod"
               and any(r["kind"] == "ReplicaSet" for r in o["metadata"].get("ownerReferences", ())))
    return copy.deepcopy(pod)


def make_privileged(pod: dict) -> dict:
    pod["spec"]["containers"][0].setdefault("securityContext", {})["privileged"] = True
    return pod


def watch_requests(double) -> list:  # type: ignore[no-untyped-def]
    return [r for r in double.requests if r.query.get("watch") == ["true"]]


async def test_changes_after_the_list_arrive_as_one_batch(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    inventory, target = await collect(kubeconfig)
    listed = inventory.cluster.pod_list_versions[""]
    # changed between the collection and the watch: the watch still sees it, from the list's version
    pod = make_privileged(replica_pod(demo_objects))
    double.apply(pod)
    workload = next(p for p in inventory.pods if p.name == pod["metadata"]["name"]).workload
    async with aclosing(watcher(target, inventory).batches()) as batches:
        changes = await next_batch(batches)
        assert [p.name for p in changes.pods] == [pod["metadata"]["name"]]
        assert changes.pods[0].spec.containers[0].security_context.privileged is True
        assert changes.pods[0].workload == workload  # owner chain resolved through the inventory
        assert watch_requests(double)[0].query["resourceVersion"] == [listed]
        assert watch_requests(double)[0].query["allowWatchBookmarks"] == ["true"]

        doomed = next(p for p in inventory.pods if p.workload.kind == "StatefulSet")
        double.remove("pods", doomed.name, doomed.namespace)
        # a rollout: a new ReplicaSet (which a pod watch cannot read) and 40 pods at once
        template_hash = "5d9f8c7b6a"
        rs_name = f"{workload.name}-{template_hash}"
        for index in range(40):
            new = copy.deepcopy(pod)
            new["metadata"] = {"name": f"{rs_name}-x{index}", "namespace": workload.namespace,
                               "labels": {**pod["metadata"].get("labels", {}), "pod-template-hash": template_hash},
                               "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name,
                                                    "uid": "u", "controller": True}]}
            double.apply(new)
        seen: list[PodChanges] = []
        while sum(len(c.pods) for c in seen) < 40:
            seen.append(await next_batch(batches))
        assert len(seen) <= 2  # batched, not one re-evaluation per pod
        assert (doomed.namespace, doomed.name) in {key for c in seen for key in c.deleted}
        assert {p.workload for c in seen for p in c.pods} == {workload}
        assert not [r for r in double.requests if r.path == "/api/v1/pods" and "watch" not in r.query][1:]


async def test_gone_relists_and_reports_a_full_replacement(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    inventory, target = await collect(kubeconfig)
    double.apply(make_privileged(replica_pod(demo_objects)))
    double.compact()  # the list's version is compacted away: the watch answers 410 Gone
    async with aclosing(watcher(target, inventory).batches()) as batches:
        changes = await next_batch(batches)
        relisted = str(double.resource_version)
        # the stream task watches again from the relist's version; the batch may come out first
        await until(lambda: watch_requests(double)[-1].query["resourceVersion"][0] == relisted,
                    "the watch to resume from the relist's version")
    assert changes.replaced == ("",)
    assert len(changes.pods) == len(inventory.pods)
    assert next(p for p in changes.pods if p.name == replica_pod(demo_objects)["metadata"]["name"]
                ).spec.containers[0].security_context.privileged is True
    lists = [r for r in double.requests if r.path == "/api/v1/pods" and "watch" not in r.query]
    assert len(lists) == 2  # the collection's and the relist


async def test_server_gone_is_a_status_and_the_watch_resumes_where_it_was(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    inventory, target = await collect(kubeconfig)
    statuses: list[WatchStatus] = []
    async with aclosing(watcher(target, inventory, statuses).batches()) as batches:
        pod = make_privileged(replica_pod(demo_objects))
        double.apply(pod)
        await next_batch(batches)
        seen = str(double.resource_version)
        double.stop()
        await until(lambda: statuses and not statuses[-1].healthy, "the watch to report the server gone")
        assert "retrying" in statuses[-1].message and "reach" in statuses[-1].message
        double.start()  # same port
        double.remove("pods", pod["metadata"]["name"], pod["metadata"]["namespace"])
        changes = await next_batch(batches)
        assert changes.deleted == ((pod["metadata"]["namespace"], pod["metadata"]["name"]),)
        assert statuses[-1].healthy
        resumed = watch_requests(double)[-1]
        assert resumed.query["resourceVersion"] == [seen]  # resumed, not relisted
    assert len([r for r in double.requests if r.path == "/api/v1/pods" and "watch" not in r.query]) == 1


async def test_a_broken_stream_resumes_from_the_last_version(serve, demo_objects) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    inventory, target = await collect(kubeconfig)
    statuses: list[WatchStatus] = []
    double.inject(Fault(path_contains="/api/v1/pods", kind="truncate", times=1))
    pod = make_privileged(replica_pod(demo_objects))
    double.apply(pod)
    async with aclosing(watcher(target, inventory, statuses).batches()) as batches:
        changes = await next_batch(batches)
    assert [p.name for p in changes.pods] == [pod["metadata"]["name"]]
    assert any(not s.healthy and "broke" in s.message for s in statuses)
    versions = [r.query["resourceVersion"] for r in watch_requests(double)]
    assert len(versions) >= 2 and versions[0] == versions[1]


async def test_forbidden_watch_is_a_status_not_a_crash(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    inventory, target = await collect(kubeconfig)
    double.deny("admin", "watch", "pods")
    statuses: list[WatchStatus] = []
    async with aclosing(watcher(target, inventory, statuses).batches()) as batches:
        task = asyncio.ensure_future(anext(batches))
        await until(lambda: statuses and not statuses[-1].healthy, "the 403 to be reported")
        assert "403" in statuses[-1].message
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_namespace_scope_watches_each_namespace(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    inventory, target = await collect(kubeconfig, namespaces=("kube-system", "ci"))
    assert set(inventory.cluster.pod_list_versions) == {"kube-system", "ci"}
    outside = next(o for o in demo_objects if o["kind"] == "Pod"
                   and o["metadata"]["namespace"] not in ("kube-system", "ci"))
    inside = copy.deepcopy(next(o for o in demo_objects if o["kind"] == "Pod"
                                and o["metadata"]["namespace"] == "ci"))
    async with aclosing(watcher(target, inventory).batches()) as batches:
        double.remove("pods", outside["metadata"]["name"], outside["metadata"]["namespace"])
        double.apply(make_privileged(inside))
        changes = await next_batch(batches)
    assert [(p.namespace, p.name) for p in changes.pods] == [("ci", inside["metadata"]["name"])]
    assert not changes.deleted
    assert {r.path for r in watch_requests(double)} == {"/api/v1/namespaces/kube-system/pods",
                                                      "/api/v1/namespaces/ci/pods"}


def test_pod_list_versions_survive_the_snapshot_round_trip() -> None:
    from audit.model import ClusterInfo

    info = ClusterInfo(pod_list_versions={"": "42"})
    assert msgspec.json.decode(msgspec.json.encode(info), type=ClusterInfo) == info
