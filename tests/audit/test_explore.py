"""The browser's levels, checked against the Report they are built from."""

from __future__ import annotations

from audit.explore import Explorer
from audit.model import ObjectRef


def vulnerable_container(report):
    """A (pod, container, image, match) whose image has a known vulnerability in one of its layers."""
    inventory = report.inventory
    vulnerable = {m.image: m for m in inventory.vulnerabilities}
    for pod in inventory.pods:
        for container in pod.spec.containers:
            image = inventory.image_of(pod, container.name)
            if image is not None and image.digest in vulnerable and pod.workload.kind != "Pod":
                return pod, container, image, vulnerable[image.digest]
    raise AssertionError("the demo has no vulnerable running image")


def test_drill_from_namespace_to_vulnerability(demo_report) -> None:
    explorer = Explorer(demo_report)
    pod, container, image, match = vulnerable_container(demo_report)
    level = explorer.root("workloads")
    assert {r.key for r in level.rows()} == {n.metadata.name for n in demo_report.inventory.namespaces}
    path = [pod.namespace, pod.workload, (pod.namespace, pod.name), container.name, match.layer]
    for key in path:
        assert key in {r.key for r in level.rows()}, (type(level).__name__, key)
        level = level.child(key)
        assert level is not None
    packages = {r.key: demo_report.inventory.images_by_digest[image.digest].packages[r.key].package
                for r in level.rows()}
    assert all(demo_report.inventory.images_by_digest[image.digest].packages[k].layer == match.layer for k in packages)
    key = next(k for k, p in packages.items() if (p.name, p.version) == (match.package, match.version))
    level = level.child(key)
    assert level is not None
    expected = {m.vuln_id for m in demo_report.inventory.vulnerabilities
                if m.image == image.digest and m.package == match.package and m.version == match.version}
    assert {r.key for r in level.rows()} == expected
    assert level.child(match.vuln_id) is None
    assert all(f.observed["vulnerability"] == match.vuln_id for f in level.findings(match.vuln_id))


def test_workload_rows_and_their_findings(demo_report) -> None:
    explorer = Explorer(demo_report)
    namespace = "kube-system"
    level = explorer.root("workloads").child(namespace)
    refs = {r.key for r in level.rows()}
    assert {p.workload for p in demo_report.inventory.pods if p.namespace == namespace} <= refs
    assert all(ref.namespace == namespace and ref.kind != "ReplicaSet" for ref in refs)
    for ref in refs:
        assert level.findings(ref) == [f for f in demo_report.findings if f.resource == ref]
        spec = level.spec(ref)
        assert spec is not None and "containers" in spec.fields


def test_pod_findings_are_its_workloads_findings_that_name_it(demo_report) -> None:
    explorer = Explorer(demo_report)
    for pod in demo_report.inventory.pods[:50]:
        expected = [f for f in demo_report.findings
                    if f.resource == ObjectRef(kind="Pod", name=pod.name, namespace=pod.namespace)
                    or (pod.workload.kind != "Pod" and f.resource == pod.workload
                        and (not f.pods or pod.name in f.pods))]
        assert sorted(f.fingerprint for f in explorer.pod_findings(pod)) == sorted(f.fingerprint for f in expected)


def test_nodes_images_and_access_roots(demo_report) -> None:
    explorer = Explorer(demo_report)
    inventory = demo_report.inventory
    nodes = explorer.root("nodes")
    assert [r.key for r in nodes.rows()] == [n.name for n in inventory.nodes]
    busiest = max(inventory.nodes, key=lambda n: len(inventory.pods_by_node.get(n.name, [])))
    assert len(nodes.child(busiest.name).rows()) == len(inventory.pods_by_node[busiest.name])

    images = explorer.root("images")
    rows = {r.key: r for r in images.rows()}
    assert set(rows) == {i.digest for i in inventory.images}
    for digest, row in rows.items():
        distinct = {m.vuln_id for m in inventory.vulnerabilities if m.image == digest}
        vulns_cell = [c.plain for c in row.cells][images.columns.index(next(c for c in images.columns
                                                                            if c.name == "VULNS"))]
        assert vulns_cell == str(len(distinct))
        assert len(images.child(digest).rows()) == len(inventory.images_by_digest[digest].layers)

    access = explorer.root("matrix")
    assert len(access.rows()) == len(demo_report.exec_matrix)
    grant = demo_report.exec_matrix[0]
    pods = access.child(0).rows()
    assert all(grant.namespace in ("*", key[0]) for key in (r.key for r in pods))


def test_every_level_answers_for_every_row(demo_report) -> None:
    """Spec and findings answer for any row of any level two steps down from each root: the
    findings are the report's own, every spec has a title and fields, rows match their columns."""
    explorer = Explorer(demo_report)
    known = {f.fingerprint for f in demo_report.findings}

    def check(level, rows) -> None:  # type: ignore[no-untyped-def]
        for row in rows:
            assert len(row.cells) == len(level.columns), (type(level).__name__, row.key)
            assert {f.fingerprint for f in level.findings(row.key)} <= known
            spec = level.spec(row.key)
            assert spec is None or (spec.title and isinstance(spec.fields, dict)), (type(level).__name__, row.key)

    for root in Explorer.ROOTS:
        level = explorer.root(root)
        rows = level.rows()[:40]
        assert rows, root
        check(level, rows)
        for row in rows:
            child = level.child(row.key)
            if child is not None:
                check(child, child.rows()[:10])


def test_access_ranks_can_shell_did_above_can_alone(demo_report) -> None:
    explorer = Explorer(demo_report)
    level = explorer.root("access")
    rows = level.rows()
    assert len(rows) == len(explorer.container_access) > 0
    pods = {(p.namespace, p.name): p for p in demo_report.inventory.pods}
    for namespace, pod, container in (r.key for r in rows):
        if (namespace, pod) in pods:  # else a pod the log saw that has been deleted since
            names = {c.name for c in (*pods[namespace, pod].spec.containers, *pods[namespace, pod].spec.init_containers,
                                      *pods[namespace, pod].spec.ephemeral_containers)}
            assert container in names
    scores = [explorer.access_by_container[r.key].score for r in rows]
    assert scores == sorted(scores, reverse=True)
    top = explorer.access_by_container[rows[0].key]
    assert top.did and top.can and top.has_shell, "the demo's audit log has a shell opened where RBAC allows it"
    sessions = level.child(rows[0].key)
    assert sessions is not None
    keys = [r.key for r in sessions.rows()]
    assert ("session", 0) in keys and ("grant", 0) in keys
    identity = top.sessions[0].identity
    assert any(identity in line for line in level.spec(rows[0].key).fields["did exec (audit log)"])
