"""The Kubernetes collector against the API server double, over real HTTP(S)."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import pytest

from audit.progress import Progress
from collectors import resources as R
from collectors.kube import KubeCollector, KubeConnectionError, RetryPolicy
from collectors.kubeconfig import load_kube_target

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


def collector_for(kubeconfig: Path, **options: object) -> KubeCollector:
    target = load_kube_target(str(kubeconfig), environ={})
    options.setdefault("retry", FAST_RETRY)
    return KubeCollector(target.api_client, context=target.context, server=target.server, **options)


def kinds_of(objects: list[dict]) -> collections.Counter[str]:
    return collections.Counter(o["kind"] for o in objects)


def pod_requests(double: object) -> list[object]:
    return [r for r in double.requests if r.path == "/api/v1/pods"]


async def test_collects_every_kind(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects, tls=True)
    events: list[Progress] = []
    result = await collector_for(kubeconfig, on_progress=events.append).collect()
    inv = result.inventory
    expected = kinds_of(demo_objects)
    assert result.gaps == ()
    assert len(inv.pods) == expected["Pod"]
    assert len(inv.nodes) == expected["Node"]
    assert len(inv.namespaces) == expected["Namespace"]
    assert collections.Counter(w.kind for w in inv.workloads) == {
        k: expected[k] for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
        if expected[k]
    }
    assert collections.Counter(r.kind for r in inv.roles) == {
        k: expected[k] for k in ("Role", "ClusterRole")
    }
    assert collections.Counter(b.kind for b in inv.role_bindings) == {
        k: expected[k] for k in ("RoleBinding", "ClusterRoleBinding")
    }
    assert len(inv.service_accounts) == expected["ServiceAccount"]
    assert len(inv.services) == expected["Service"]
    assert len(inv.network_policies) == expected["NetworkPolicy"]
    assert len(inv.runtime_classes) == expected["RuntimeClass"]
    assert len(inv.pod_disruption_budgets) == expected["PodDisruptionBudget"]
    assert inv.cluster.server == double.url
    assert inv.cluster.version.git_version.startswith("v1.")
    # progress: every list reports done
    done = {e.task for e in events if e.done}
    assert {r.qualified for r in R.COLLECTED} <= done


async def test_owner_chains_reach_the_top_workload(serve, demo_objects) -> None:
    _, kubeconfig = serve(demo_objects)
    inv = (await collector_for(kubeconfig).collect()).inventory
    by_uid = {o["metadata"]["uid"]: o for o in demo_objects if "uid" in o["metadata"]}
    kinds_at_top = collections.Counter(p.workload.kind for p in inv.pods)
    static_pods = 0
    assert kinds_at_top["Deployment"] > 0 and kinds_at_top["DaemonSet"] > 0
    for pod in inv.pods:
        source = next(o for o in demo_objects if o["kind"] == "Pod" and o["metadata"]["name"] == pod.name
                      and o["metadata"]["namespace"] == pod.namespace)
        refs = source["metadata"].get("ownerReferences", [])
        if not refs:
            assert pod.owner_chain == ()
            assert pod.workload.kind == "Pod"
            continue
        assert pod.owner_chain[0].kind == refs[0]["kind"]
        assert pod.owner_chain[0].name == refs[0]["name"]
        if refs[0]["kind"] == "Node":  # a static pod is its own workload
            assert pod.owner_chain[0].namespace is None
            assert pod.workload.kind == "Pod"
            static_pods += 1
        if refs[0]["kind"] == "ReplicaSet":
            assert [r.kind for r in pod.owner_chain] == ["ReplicaSet", "Deployment"]
        if refs[0]["kind"] == "Job" and pod.owner_chain[-1].kind == "CronJob":
            assert len(pod.owner_chain) == 2
    assert by_uid  # the generator hands out uids the chain could use
    assert static_pods > 0


async def test_paginates_across_pages(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    result = await collector_for(kubeconfig, page_size=40).collect()
    pods = kinds_of(demo_objects)["Pod"]
    assert len(result.inventory.pods) == pods
    requests = pod_requests(double)
    assert len(requests) == -(-pods // 40)
    assert sum("continue" in r.query for r in requests) == len(requests) - 1
    assert all(r.query["limit"] == ["40"] for r in requests)
    names = [(p.namespace, p.name) for p in result.inventory.pods]
    assert len(set(names)) == pods


async def test_expired_continue_token_restarts_the_list(serve, demo_objects) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    double.inject(Fault(path_contains="/api/v1/pods", kind="expire-continue", only_continue=True, times=1))
    result = await collector_for(kubeconfig, page_size=100).collect()
    assert result.gaps == ()
    assert len(result.inventory.pods) == kinds_of(demo_objects)["Pod"]
    statuses = [(("continue" in r.query), r.status) for r in pod_requests(double)]
    assert (True, 410) in statuses
    after = statuses[statuses.index((True, 410)) + 1]
    assert after == (False, 200)  # started over from the first page


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_are_retried(serve, demo_objects, status: int) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    double.inject(Fault(path_contains="/apis/apps/v1/deployments", kind="status", status=status,
                        retry_after=0 if status == 429 else None, times=2))
    result = await collector_for(kubeconfig).collect()
    assert result.gaps == ()
    statuses = [r.status for r in double.requests if r.path == "/apis/apps/v1/deployments"]
    assert statuses == [status, status, 200]


async def test_retry_after_is_honoured(serve, demo_objects) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    double.inject(Fault(path_contains="/api/v1/nodes", kind="status", status=429, retry_after=1, times=1))
    start = time.monotonic()
    result = await collector_for(kubeconfig, retry=RetryPolicy(attempts=3, base_delay=0.01)).collect()
    assert time.monotonic() - start >= 1.0
    assert result.gaps == ()


async def test_persistent_server_error_becomes_a_gap(serve, demo_objects) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    double.inject(Fault(path_contains="/apis/batch/v1/cronjobs", kind="status", status=500, times=None))
    result = await collector_for(kubeconfig).collect()
    assert [(g.verb, g.resource, g.reason, g.status) for g in result.gaps] == [
        ("list", "cronjobs.batch", "error", 500)
    ]
    assert not [w for w in result.inventory.workloads if w.kind == "CronJob"]
    assert len(result.inventory.pods) == kinds_of(demo_objects)["Pod"]
    assert len([r for r in double.requests if r.path == "/apis/batch/v1/cronjobs"]) == FAST_RETRY.attempts


async def test_truncated_body_is_retried(serve, demo_objects) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    double.inject(Fault(path_contains="/api/v1/namespaces", kind="truncate", times=1))
    result = await collector_for(kubeconfig).collect()
    assert result.gaps == ()
    assert len(result.inventory.namespaces) == kinds_of(demo_objects)["Namespace"]


async def test_slow_answer_becomes_a_timeout_gap(serve, demo_objects) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    double.inject(Fault(path_contains="/apis/policy/v1/poddisruptionbudgets", kind="slow", delay=3.0, times=None))
    result = await collector_for(kubeconfig, timeout=0.5).collect()
    assert [(g.resource, g.reason) for g in result.gaps] == [("poddisruptionbudgets.policy", "timeout")]
    assert len(result.inventory.pods) == kinds_of(demo_objects)["Pod"]


async def test_forbidden_lists_become_gaps_naming_verb_resource_namespace(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects, users={"alice-token": "alice"}, user="alice")
    double.deny("alice", "list", "roles")
    double.deny("alice", "list", "pods", namespace="kube-system")
    collector = collector_for(kubeconfig, namespaces=("kube-system", "ci"))
    result = await collector.collect()
    gaps = {(g.verb, g.resource, g.namespace, g.reason, g.status) for g in result.gaps}
    assert gaps == {
        ("list", "roles.rbac.authorization.k8s.io", "kube-system", "forbidden", 403),
        ("list", "roles.rbac.authorization.k8s.io", "ci", "forbidden", 403),
        ("list", "pods", "kube-system", "forbidden", 403),
    }
    message = next(g.message for g in result.gaps if g.resource == "pods")
    assert message == ('pods is forbidden: User "alice" cannot list resource "pods" in API group ""'
                       ' in the namespace "kube-system"')
    assert {p.namespace for p in result.inventory.pods} == {"ci"}


async def test_missing_api_group_is_a_gap(serve, demo_objects) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve(demo_objects)
    double.inject(Fault(path_contains="/apis/node.k8s.io/", kind="status", status=404, times=None))
    result = await collector_for(kubeconfig).collect()
    assert [(g.resource, g.reason, g.message) for g in result.gaps] == [
        ("runtimeclasses.node.k8s.io", "not-found", "the server does not serve runtimeclasses in node.k8s.io/v1")
    ]


async def test_namespace_scope(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    result = await collector_for(kubeconfig, namespaces=("kube-system",)).collect()
    inv = result.inventory
    assert {p.namespace for p in inv.pods} == {"kube-system"}
    assert [n.metadata.name for n in inv.namespaces] == ["kube-system"]
    assert inv.cluster.namespaces_scope == ("kube-system",)
    namespaced = [r for r in double.requests if r.path.startswith("/api/v1/") and "pods" in r.path]
    assert [r.path for r in namespaced] == ["/api/v1/namespaces/kube-system/pods"]
    assert len(inv.nodes) == kinds_of(demo_objects)["Node"]  # cluster-scoped kinds are still read


async def test_only_reads_and_never_secrets(serve, demo_objects) -> None:
    from contextlib import aclosing

    from collectors.watch import PodWatcher

    assert any(o["kind"] == "Secret" for o in demo_objects)
    double, kubeconfig = serve(demo_objects)
    await collector_for(kubeconfig).collect()
    scoped = await collector_for(kubeconfig, namespaces=("ci",)).collect()
    # and `--watch`: a watch, a 410 and its relist, over the namespaced inventory
    target = load_kube_target(str(kubeconfig), environ={})
    pod = next(o for o in demo_objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "ci")
    double.apply(pod)
    double.compact()
    watcher = PodWatcher(target.api_client, scoped.inventory, retry=FAST_RETRY, flush_interval=0.01)
    async with aclosing(watcher.batches()) as batches:
        assert (await asyncio.wait_for(anext(batches), 20)).replaced == ("ci",)
    assert double.requests
    assert {r.method for r in double.requests} == {"GET"}
    verbs = {"watch" if r.watch or r.query.get("watch") == ["true"] else "get/list" for r in double.requests}
    assert verbs == {"get/list", "watch"}
    assert {r.path for r in double.requests if r.query.get("watch")} == {"/api/v1/namespaces/ci/pods"}
    assert not [r for r in double.requests if "secret" in r.path.lower() or "secret" in str(r.query).lower()]


async def test_unreachable_server(tmp_path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    with pytest.raises(KubeConnectionError, match=f"cannot reach http://127.0.0.1:{port}: connection refused"):
        await collector_for(kubeconfig, timeout=2).collect()


async def test_wrong_token(serve) -> None:
    _, kubeconfig = serve([], tls=True)
    bad = kubeconfig.with_name("bad")
    bad.write_text(kubeconfig.read_text().replace("kubeward-admin-token", "expired-token"))
    with pytest.raises(KubeConnectionError, match=r"rejected the credentials .*401 Unauthorized"):
        await collector_for(bad).collect()


async def test_untrusted_certificate(serve) -> None:
    double, kubeconfig = serve([], tls=True)
    other, _ = serve([], tls=True)
    foreign = kubeconfig.with_name("foreign")
    double.write_kubeconfig(foreign, ca_pem=other.ca_pem)
    with pytest.raises(KubeConnectionError, match=r"TLS verification failed .*certificate verify failed"):
        await collector_for(foreign).collect()


async def test_slow_server_at_preflight(serve) -> None:
    from demo.apiserver import Fault

    double, kubeconfig = serve([])
    double.inject(Fault(path_contains="/version", kind="slow", delay=3.0, times=None))
    with pytest.raises(KubeConnectionError, match=r"did not answer within 0.5s"):
        await collector_for(kubeconfig, timeout=0.5).collect()


async def test_collected_inventory_survives_the_snapshot_round_trip(serve, demo_objects) -> None:
    from audit.report import Report, ReportMeta, dumps, loads

    _, kubeconfig = serve(demo_objects, tls=True)
    inventory = (await collector_for(kubeconfig).collect()).inventory
    report = Report(meta=ReportMeta(tool_version="test"), inventory=inventory)
    again = loads(dumps(report))
    assert again == report
    assert again.inventory.pods_by_workload.keys() == inventory.pods_by_workload.keys()


async def test_last_applied_annotation_and_literal_env_values_are_not_kept(serve, demo_objects) -> None:
    from audit.report import Report, ReportMeta, dumps

    literal_values = {
        env["value"]
        for o in demo_objects if o["kind"] in ("Pod", "Deployment")
        for c in (o["spec"].get("containers") or o["spec"].get("template", {}).get("spec", {}).get("containers", []))
        for env in c.get("env", []) if "fake" in env.get("value", "")
    }
    assert literal_values
    assert any("kubectl.kubernetes.io/last-applied-configuration" in o["metadata"].get("annotations", {})
               for o in demo_objects)
    _, kubeconfig = serve(demo_objects)
    inventory = (await collector_for(kubeconfig).collect()).inventory
    text = dumps(Report(meta=ReportMeta(tool_version="test"), inventory=inventory)).decode()
    assert "last-applied-configuration" not in text
    assert not [v for v in literal_values if v in text]


async def test_exec_credential_plugin(serve, demo_objects) -> None:
    """Auth plugins are the official client's: an exec plugin's token reaches the server."""
    import yaml

    double, kubeconfig = serve(demo_objects[:50], tls=True, users={"plugin-issued-token": "ops"}, user="ops")
    config = yaml.safe_load(kubeconfig.read_text())
    credential = ('{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",'
                  ' "status": {"token": "plugin-issued-token"}}')
    config["users"][0]["user"] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh",
        "args": ["-c", f"echo '{credential}'"], "interactiveMode": "Never",
    }}
    kubeconfig.write_text(yaml.safe_dump(config))
    result = await collector_for(kubeconfig).collect()
    assert result.gaps == ()
    assert {r.user for r in double.requests} == {"ops"}


async def test_in_cluster_service_account(serve, demo_objects, tmp_path, monkeypatch) -> None:
    import collectors.kubeconfig as kubeconfig_module

    sa = "system:serviceaccount:kubeward:auditor"
    double, _ = serve(demo_objects, tls=True, users={"sa-token": sa}, user=sa)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("sa-token")
    (account / "ca.crt").write_bytes(double.ca_pem)
    (account / "namespace").write_text("kubeward")
    monkeypatch.setattr(kubeconfig_module, "SERVICE_ACCOUNT_DIR", account)
    env = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "127.0.0.1",
           "KUBERNETES_SERVICE_PORT": str(double.port)}
    target = load_kube_target(environ=env)
    assert (target.context, target.namespace, target.server) == ("in-cluster", "kubeward", double.url)
    collector = KubeCollector(target.api_client, context=target.context, server=target.server, retry=FAST_RETRY)
    result = await collector.collect()
    assert result.gaps == ()
    assert {r.user for r in double.requests} == {sa}
