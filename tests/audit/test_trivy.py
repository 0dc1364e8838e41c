"""kubeward's matches beside Trivy Operator's reports: the join, the comparison, the pipeline and the summary."""

from __future__ import annotations

from pathlib import Path

import msgspec
from rich.console import Console

from audit.images import ImageInventory
from audit.model import VulnerabilityReport
from audit.pipeline import AuditOptions, ImageOptions, run_audit
from audit.report import dumps, loads
from audit.summary import print_summary
from audit.trivy import compare_with_trivy
from audit.vulns import VulnMatch
from collectors import resources as R
from collectors.kubeconfig import load_kube_target
from tests.collectors.images.test_collector import pod
from tests.collectors.test_trivy_reports import vulnerability_report

NGINX = "sha256:" + "1" * 64
APP = "sha256:" + "2" * 64


def report(name: str, **fields: object) -> VulnerabilityReport:
    return msgspec.convert(vulnerability_report(name, "shop", **fields), VulnerabilityReport)


def match(image: str, vuln_id: str, *aliases: str, package: str = "libssl3") -> VulnMatch:
    return VulnMatch(image=image, package=package, version="1", ecosystem="Debian:12", vuln_id=vuln_id,
                     aliases=aliases)


IMAGES = [ImageInventory(digest=NGINX, references=("nginx:1.25",)),
          ImageInventory(digest=APP, references=("registry.example:5000/shop/app:2.1",))]


def vulns(*ids: str) -> tuple[tuple[str, str, str, str, str], ...]:
    return tuple((vid, "libssl3", "1", "", "HIGH") for vid in ids)


def test_agreement_is_by_any_id_of_a_record_and_packages_do_not_matter() -> None:
    reports = [report("rs-web-app", vulnerabilities=(
        ("CVE-2023-5363", "libssl3", "1", "2", "HIGH"), ("CVE-2023-5363", "openssl", "1", "2", "HIGH"),
        ("CVE-2024-0001", "zlib1g", "1", "", "LOW")))]
    matches = [match(NGINX, "DEBIAN-CVE-2023-5363", "CVE-2023-5363"), match(NGINX, "GHSA-xxxx-yyyy-zzzz",
                                                                            package="requests")]
    comparison = compare_with_trivy(reports, IMAGES, matches)
    [nginx] = comparison.images
    assert (nginx.image, nginx.reference, nginx.reports) == (NGINX, "nginx:1.25", 1)
    assert (nginx.both, nginx.only_kubeward, nginx.only_trivy) == (
        ("CVE-2023-5363",), ("GHSA-xxxx-yyyy-zzzz",), ("CVE-2024-0001",))
    assert (comparison.reports, comparison.both, comparison.only_kubeward, comparison.only_trivy) == (1, 1, 1, 1)


def test_reports_without_a_digest_are_joined_by_registry_repository_and_tag() -> None:
    reports = [
        # Docker Hub as Trivy spells it, against the short name pods use.
        report("rs-web-app", digest="", server="index.docker.io", repository="library/nginx", tag="1.25",
               vulnerabilities=vulns("CVE-2023-5363")),
        report("rs-app-app", digest="", server="registry.example:5000", repository="shop/app", tag="2.1"),
        # Same repository, another tag: not this image.
        report("rs-old-app", digest="", server="index.docker.io", repository="library/nginx", tag="1.24"),
        # A digest kubeward never read.
        report("rs-gone-app", digest="sha256:" + "9" * 64, repository="library/redis", tag="7"),
    ]
    comparison = compare_with_trivy(reports, IMAGES, [match(NGINX, "CVE-2023-5363")])
    assert {(c.image, c.both) for c in comparison.images} == {(NGINX, ("CVE-2023-5363",)), (APP, ())}
    assert comparison.unmatched == ("index.docker.io/library/nginx:1.24",
                                    f"index.docker.io/library/redis:7@sha256:{'9' * 64}")


def test_several_reports_of_one_image_are_one_comparison() -> None:
    reports = [report("rs-web-app", vulnerabilities=vulns("CVE-1")),
               report("rs-api-app", vulnerabilities=vulns("CVE-2"))]
    reports = [msgspec.structs.replace(r, report=msgspec.structs.replace(
        r.report, artifact=msgspec.structs.replace(r.report.artifact, digest=NGINX))) for r in reports]
    [nginx] = compare_with_trivy(reports, IMAGES, [match(NGINX, "CVE-2"), match(APP, "CVE-3")]).images
    assert (nginx.reports, nginx.both, nginx.only_trivy, nginx.only_kubeward) == (2, ("CVE-2",), ("CVE-1",), ())


async def test_the_pipeline_compares_and_the_summary_says_so(serve, tmp_path: Path) -> None:
    """Alpine 3.18 with libssl3 3.1.3-r0 from an image archive, the OSV test records, and Trivy's report
    served by the API server double: CVE-2023-5363 found by both, one CVE only Trivy knows."""
    from collectors.vulndb.database import import_osv
    from tests.realparts import docker_archive, image_config, layer_tar, sha256

    db = tmp_path / "osv.sqlite"
    import_osv([Path(__file__).parents[1] / "collectors" / "vulndb" / "fixtures" / "osv"], db)
    layers = [layer_tar({"etc/os-release": b'ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME="Alpine Linux v3.18"\n',
                         "lib/apk/db/installed": b"P:libssl3\nV:3.1.3-r0\nA:x86_64\no:openssl\n\n"})]
    archive = tmp_path / "images.tar"
    archive.write_bytes(docker_archive([(layers, image_config([sha256(layers[0])]), ["shop/tls:1.0"])]))
    digest = "sha256:" + "4" * 64
    trivy = vulnerability_report("replicaset-tls-6f7d-app", "shop", digest=digest, repository="shop/tls",
                                 tag="1.0", vulnerabilities=(
                                     ("CVE-2023-5363", "libssl3", "3.1.3-r0", "3.1.4-r0", "HIGH"),
                                     ("CVE-2023-5678", "libssl3", "3.1.3-r0", "3.1.4-r1", "MEDIUM")))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    _, kubeconfig = serve([namespace, pod("tls", "shop/tls:1.0", f"docker.io/shop/tls@{digest}"), trivy],
                          extra_resources=[R.VULNERABILITY_REPORTS])
    options = AuditOptions(images=ImageOptions(sources=(), archives=(archive,), cache_dir=tmp_path / "cache"),
                           vulndb=db)
    result = await run_audit(load_kube_target(str(kubeconfig), environ={}), options)

    comparison = result.inventory.trivy_comparison
    assert comparison is not None
    [image] = comparison.images
    assert (image.image, image.both, image.only_kubeward, image.only_trivy) == (
        digest, ("CVE-2023-5363",), (), ("CVE-2023-5678",))
    assert loads(dumps(result)) == result  # the reports and the comparison survive the snapshot

    console = Console(record=True, width=160)
    print_summary(result, console)
    text = console.export_text()
    assert ("Trivy Operator: 1 reports, 1 images compared: 1 vulnerabilities found by both, 0 only by kubeward, "
            "1 only by Trivy") in text
    assert "CVE-2023-5678" in text


async def test_no_database_no_comparison(serve, tmp_path: Path) -> None:
    """Without our own matches every Trivy finding would look like a disagreement: nothing is compared."""
    digest = "sha256:" + "5" * 64
    trivy = vulnerability_report("rs-x-app", "shop", digest=digest, vulnerabilities=vulns("CVE-2023-5363"))
    _, kubeconfig = serve([pod("x", "nginx:1.25", f"docker.io/library/nginx@{digest}"), trivy],
                          extra_resources=[R.VULNERABILITY_REPORTS])
    result = await run_audit(load_kube_target(str(kubeconfig), environ={}), AuditOptions(images=None))
    assert result.inventory.trivy_reports is not None and len(result.inventory.trivy_reports) == 1
    assert result.inventory.trivy_comparison is None
    console = Console(record=True, width=160)
    print_summary(result, console)
    assert "Trivy Operator" not in console.export_text()
