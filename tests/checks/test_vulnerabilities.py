"""KW-VULN-001 … 003 over directly built Inventories (the fixture harness cannot express matches)."""

from __future__ import annotations

from datetime import UTC, datetime

import checks.vulnerabilities  # noqa: F401  (registration)
from audit.images import ImageInventory, LayerRef
from audit.model import ClusterInfo, Inventory
from audit.vulns import VulnDBInfo, VulnMatch
from checks.engine import REGISTRY, evaluate


class VulnInventory(Inventory, frozen=True, kw_only=True):
    """The Inventory with the vulnerability fields, whether or not audit.model declares them yet."""

    vulnerabilities: tuple[VulnMatch, ...] = ()
    vulndb: VulnDBInfo | None = None


NGINX = ImageInventory(
    digest="sha256:aa", references=("nginx:1.27",), base_layers=1,
    layers=(LayerRef(digest="l0", created_by="ADD rootfs.tar.xz /"),
            LayerRef(digest="l1", created_by="RUN apt-get install -y curl")),
)


def vuln(**kw: object) -> VulnMatch:
    base = dict(image="sha256:aa", package="openssl", version="3.0.11-1~deb12u1", ecosystem="Debian:12",
                layer=0, vuln_id="DEBIAN-CVE-2023-5363", aliases=("CVE-2023-5363",), severity="high",
                fixed_version="3.0.11-1~deb12u2")
    return VulnMatch(**{**base, **kw})  # type: ignore[arg-type]


def run(check_id: str, inventory: Inventory) -> list:
    return list(evaluate(inventory, checks=[REGISTRY[check_id]]).findings)


def test_fixable_vulnerability_in_the_base_image() -> None:
    inv = VulnInventory(images=(NGINX,), vulnerabilities=(vuln(), vuln(vuln_id="X-1", fixed_version=None)))
    (finding,) = run("KW-VULN-001", inv)
    assert finding.message == ("openssl 3.0.11-1~deb12u1 in nginx:1.27 has CVE-2023-5363 "
                               "(high, fixed in 3.0.11-1~deb12u2): in the base image.")
    assert str(finding.resource) == "Image/nginx:1.27"
    assert finding.severity == "high"
    assert finding.observed["in_base"] is True


def test_no_fix_in_own_layer_and_unknown_severity_is_medium() -> None:
    inv = VulnInventory(images=(NGINX,), vulnerabilities=(
        vuln(package="curl", version="7.88.1-10", layer=1, vuln_id="DEBIAN-CVE-1", aliases=(),
             severity="unknown", fixed_version=None), vuln()))
    (finding,) = run("KW-VULN-002", inv)
    assert finding.message == ("curl 7.88.1-10 in nginx:1.27 has DEBIAN-CVE-1 (severity unknown, no fix yet): "
                               "added by build step 2: RUN apt-get install -y curl.")
    assert finding.severity == "medium"


def test_match_for_an_image_not_in_the_inventory_is_ignored() -> None:
    assert run("KW-VULN-001", VulnInventory(vulnerabilities=(vuln(),))) == []


def test_stale_database() -> None:
    collected = datetime(2024, 6, 30, tzinfo=UTC)
    stale = VulnDBInfo(path="/db.sqlite", imported_at=datetime(2024, 6, 1, tzinfo=UTC), records=5)
    fresh = VulnDBInfo(path="/db.sqlite", imported_at=datetime(2024, 6, 25, tzinfo=UTC), records=5)
    (finding,) = run("KW-VULN-003", VulnInventory(cluster=ClusterInfo(collected_at=collected), vulndb=stale))
    assert finding.observed["age_days"] == 29
    assert run("KW-VULN-003", VulnInventory(cluster=ClusterInfo(collected_at=collected), vulndb=fresh)) == []
    assert run("KW-VULN-003", VulnInventory(cluster=ClusterInfo(collected_at=collected))) == []
