"""Trivy Operator's VulnerabilityReports read by the Kubernetes collector from the API server double, over HTTP."""

from __future__ import annotations

from collectors import resources as R
from tests.collectors.test_kube import collector_for

DIGEST = "sha256:" + "ab" * 32
CRD_PATH = "/apis/aquasecurity.github.io/v1alpha1"


def vulnerability_report(name: str, namespace: str, *, digest: str = DIGEST, repository: str = "library/nginx",
                         tag: str = "1.25", server: str = "index.docker.io",
                         vulnerabilities: tuple[tuple[str, str, str, str, str], ...] = ()) -> dict:
    """A VulnerabilityReport as Trivy Operator writes it (fields kubeward does not read included)."""
    return {
        "apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport",
        "metadata": {"name": name, "namespace": namespace, "labels": {
            "trivy-operator.resource.kind": "ReplicaSet", "trivy-operator.resource.name": name.rsplit("-", 1)[0],
            "trivy-operator.resource.namespace": namespace, "trivy-operator.container.name": "app"}},
        "report": {
            "artifact": {"repository": repository, "tag": tag, "digest": digest},
            "registry": {"server": server},
            "os": {"family": "debian", "name": "12.4"},
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.57.1"},
            "summary": {"criticalCount": 0, "highCount": len(vulnerabilities), "mediumCount": 0, "lowCount": 0,
                        "unknownCount": 0},
            "updateTimestamp": "2026-11-20T08:00:00Z",
            "vulnerabilities": [
                {"vulnerabilityID": vid, "resource": resource, "installedVersion": installed,
                 "fixedVersion": fixed, "severity": severity, "title": f"{vid} in {resource}",
                 "publishedDate": "2023-10-25T18:17:43Z", "lastModifiedDate": "2024-01-01T00:00:00Z",
                 "primaryLink": f"https://avd.aquasec.com/nvd/{vid.lower()}", "score": 7.5}
                for vid, resource, installed, fixed, severity in vulnerabilities],
        },
    }


OPENSSL = ("CVE-2023-5363", "libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "HIGH")
REPORTS = [
    vulnerability_report("replicaset-web-7d9f-app", "shop", vulnerabilities=(OPENSSL,)),
    vulnerability_report("replicaset-api-5c4b-app", "payments", digest="", tag="1.25"),
]
NAMESPACES = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("shop", "payments")]


async def test_reports_are_read_where_trivy_operator_is_installed(serve) -> None:
    double, kubeconfig = serve([*NAMESPACES, *REPORTS], tls=True, extra_resources=[R.VULNERABILITY_REPORTS])
    result = await collector_for(kubeconfig).collect()
    assert result.gaps == ()
    reports = result.inventory.trivy_reports
    assert reports is not None
    by_name = {r.metadata.name: r for r in reports}
    web = by_name["replicaset-web-7d9f-app"]
    assert (web.metadata.namespace, web.report.artifact.repository, web.report.artifact.tag,
            web.report.artifact.digest, web.report.registry.server) == (
        "shop", "library/nginx", "1.25", DIGEST, "index.docker.io")
    [vulnerability] = web.report.vulnerabilities
    assert (vulnerability.vulnerability_id, vulnerability.resource, vulnerability.installed_version,
            vulnerability.fixed_version, vulnerability.severity) == OPENSSL
    assert web.metadata.labels["trivy-operator.container.name"] == "app"
    assert by_name["replicaset-api-5c4b-app"].report.artifact.digest == ""
    assert [r.path for r in double.requests if "aquasecurity" in r.path] == [
        CRD_PATH, f"{CRD_PATH}/vulnerabilityreports"]


async def test_an_installed_operator_without_reports_is_an_empty_tuple(serve) -> None:
    _, kubeconfig = serve(NAMESPACES, extra_resources=[R.VULNERABILITY_REPORTS])
    result = await collector_for(kubeconfig).collect()
    assert (result.inventory.trivy_reports, result.gaps) == ((), ())


async def test_a_cluster_without_the_crd_is_no_coverage_gap(serve, demo_objects) -> None:
    double, kubeconfig = serve(demo_objects)
    result = await collector_for(kubeconfig).collect()
    assert result.gaps == ()
    assert result.inventory.trivy_reports is None
    # Discovery said 404; the list was never tried.
    assert [(r.path, r.status) for r in double.requests if "aquasecurity" in r.path] == [(CRD_PATH, 404)]


async def test_a_forbidden_list_is_a_coverage_gap(serve) -> None:
    double, kubeconfig = serve([*NAMESPACES, *REPORTS], extra_resources=[R.VULNERABILITY_REPORTS],
                               users={"alice-token": "alice"}, user="alice")
    double.deny("alice", "list", "vulnerabilityreports")
    result = await collector_for(kubeconfig).collect()
    assert result.inventory.trivy_reports is None  # unknown, not "Trivy found nothing"
    assert [(g.verb, g.resource, g.reason, g.status) for g in result.gaps] == [
        ("list", "vulnerabilityreports.aquasecurity.github.io", "forbidden", 403)]


async def test_namespace_scope_reaches_the_reports(serve) -> None:
    double, kubeconfig = serve([*NAMESPACES, *REPORTS], extra_resources=[R.VULNERABILITY_REPORTS])
    result = await collector_for(kubeconfig, namespaces=("shop",)).collect()
    assert [r.metadata.name for r in result.inventory.trivy_reports or ()] == ["replicaset-web-7d9f-app"]
    assert f"{CRD_PATH}/namespaces/shop/vulnerabilityreports" in {r.path for r in double.requests}


async def test_only_reads_and_never_secrets_with_trivy_installed(serve, demo_objects) -> None:
    double, kubeconfig = serve([*demo_objects, *REPORTS], extra_resources=[R.VULNERABILITY_REPORTS])
    await collector_for(kubeconfig).collect()
    await collector_for(kubeconfig, namespaces=("shop",)).collect()
    assert {r.method for r in double.requests} == {"GET"}
    assert not [r for r in double.requests if "secret" in r.path.lower() or "secret" in str(r.query).lower()]
