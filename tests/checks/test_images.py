"""The image checks' helper logic and fixtures: the OS end-of-life table (checked against Debian's
distro-info-data), OS identification, end-of-support judgement on a given day, image age, the root-user
rule, and the KW-IMG fixtures run with their `KubewardImage` documents turned into the Inventory's images."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import msgspec
import pytest

import checks.images
from audit.findings import Severity
from audit.images import ImageInventory, OSRelease
from audit.model import ClusterInfo, Inventory
from checks.engine import REGISTRY, all_checks, evaluate
from checks.images import (
    AGE_LOW_DAYS,
    AGE_MEDIUM_DAYS,
    DISTRIBUTIONS,
    executable_paths,
    identify,
    image_age,
    is_root_user,
    support_lapse,
)
from collectors.kube import inventory_from_objects
from tests.checks.test_fixtures import FIXTURES, load_fixture
from tests.conftest import IN_CI

DISTRO_INFO = Path("/usr/share/distro-info")


def images_of(docs: list[dict[str, Any]]) -> tuple[ImageInventory, ...]:
    """The `kind: KubewardImage` documents of a fixture as ImageInventory structs."""
    return tuple(
        msgspec.convert({k: v for k, v in d.items() if k != "kind"}, type=ImageInventory, strict=False)
        for d in docs if d.get("kind") == "KubewardImage"
    )


def inventory_with_images(objects: list[dict[str, Any]], cluster: ClusterInfo) -> Inventory:
    """What the fixture loader does once it knows `KubewardImage`: objects plus the images."""
    inventory = inventory_from_objects(objects, cluster=cluster)
    return msgspec.structs.replace(inventory, images=images_of(objects))


def _os(id: str, version_id: str = "", pretty_name: str = "", path: str = "etc/os-release") -> OSRelease:
    return OSRelease(id=id, version_id=version_id, pretty_name=pretty_name, path=path)


# --- the table against Debian's own data -------------------------------------------------------------


def _distro_info(name: str) -> list[dict[str, str]]:
    path = DISTRO_INFO / f"{name}.csv"
    if not path.exists():
        message = f"{path} is missing (Debian package distro-info-data; scripts/test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _distribution(name: str) -> Any:
    return next(d for d in DISTRIBUTIONS if d.name == name)


def test_debian_dates_agree_with_distro_info() -> None:
    debian = _distribution("Debian")
    rows = {r["version"]: r for r in _distro_info("debian") if r["version"] in debian.releases}
    assert {"10", "11", "12", "13"} <= set(rows)
    for release, row in rows.items():
        lifecycle = debian.releases[release]
        assert (str(lifecycle.regular_until), str(lifecycle.eol)) == (row["eol"], row["eol-lts"]), release
        assert row["eol-elts"] in (lifecycle.note or ""), release


def test_ubuntu_dates_agree_with_distro_info() -> None:
    ubuntu = _distribution("Ubuntu")
    rows = {r["version"].removesuffix(" LTS"): r for r in _distro_info("ubuntu")
            if r["version"].removesuffix(" LTS") in ubuntu.releases}
    assert {"20.04", "22.04", "24.04"} <= set(rows)
    for release, row in rows.items():
        lifecycle = ubuntu.releases[release]
        lts = row["version"].endswith(" LTS")
        assert str(lifecycle.eol) == (row["eol-server"] if lts else row["eol"]), release
        if lts:
            assert row["eol-esm"] in (lifecycle.note or ""), release


def test_every_released_ubuntu_since_1404_is_in_the_table() -> None:
    ubuntu = _distribution("Ubuntu")
    released = {
        r["version"].removesuffix(" LTS") for r in _distro_info("ubuntu")
        if r["release"] and date.fromisoformat(r["release"]) <= date(2026, 4, 30)
        and float(r["version"].split()[0]) >= 14.04
    }
    assert released <= set(ubuntu.releases)


def test_table_is_consistent() -> None:
    names = [d.name for d in DISTRIBUTIONS]
    assert len(names) == len(set(names))
    for d in DISTRIBUTIONS:
        assert d.source.startswith("https://")
        assert d.rolling or d.releases, d.name
        for release, lifecycle in d.releases.items():
            assert release.replace(".", "").isdigit(), (d.name, release)
            assert len(release.split(".")) <= d.components, (d.name, release)
            if lifecycle.regular_until is not None:
                assert lifecycle.regular_until <= lifecycle.eol


# --- identification -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("os_release", "expected"), [
    (_os("debian", "12", "Debian GNU/Linux 12 (bookworm)"), ("Debian", "12")),
    (_os("debian", "12", "Distroless"), ("Debian", "12")),
    (_os("debian", "12.8", path="etc/debian_version"), ("Debian", "12")),
    (_os("debian", "bookworm/sid", path="etc/debian_version"), ("Debian", None)),
    (_os("debian", "", "Debian GNU/Linux trixie/sid"), ("Debian", None)),
    (_os("ubuntu", "22.04", "Ubuntu 22.04.5 LTS"), ("Ubuntu", "22.04")),
    (_os("alpine", "3.19.1", "Alpine Linux v3.19"), ("Alpine Linux", "3.19")),
    (_os("alpine", "3.20.3", path="etc/alpine-release"), ("Alpine Linux", "3.20")),
    (_os("alpine", "3.21.0_alpha20240807", "Alpine Linux edge"), ("Alpine Linux", None)),
    (_os("rhel", "8.10", "Red Hat Enterprise Linux 8.10 (Ootpa)"), ("Red Hat Enterprise Linux", "8")),
    (_os("rocky", "9.3", "Rocky Linux 9.3 (Blue Onyx)"), ("Rocky Linux", "9")),
    (_os("almalinux", "8.10", "AlmaLinux 8.10 (Cerulean Leopard)"), ("AlmaLinux", "8")),
    (_os("centos", "8", "CentOS Stream 8"), ("CentOS Stream", "8")),
    (_os("centos", "8", "CentOS Linux 8"), ("CentOS Linux", "8")),
    (_os("centos", "7", "CentOS Linux 7 (Core)"), ("CentOS Linux", "7")),
    (_os("amzn", "2", "Amazon Linux 2"), ("Amazon Linux", "2")),
    (_os("amzn", "2018.03", "Amazon Linux AMI 2018.03"), ("Amazon Linux", "2018.03")),
    (_os("amzn", "2023", "Amazon Linux 2023.6.20241121"), ("Amazon Linux", "2023")),
    (_os("wolfi", "20230201", "Wolfi"), ("Wolfi", "20230201")),
    # No os-release: the one-line etc/redhat-release names the distribution and its release.
    (_os("rhel", "", "CentOS release 6.10 (Final)", "etc/redhat-release"), ("CentOS Linux", "6")),
    (_os("rhel", "", "CentOS Linux release 7.9.2009 (Core)", "etc/redhat-release"), ("CentOS Linux", "7")),
    (_os("rhel", "", "CentOS Stream release 8", "etc/redhat-release"), ("CentOS Stream", "8")),
    (_os("rhel", "", "Red Hat Enterprise Linux Server release 6.10 (Santiago)", "etc/redhat-release"),
     ("Red Hat Enterprise Linux", "6")),
    (_os("rhel", "", "Rocky Linux release 8.9 (Green Obsidian)", "etc/redhat-release"), ("Rocky Linux", "8")),
])
def test_identify(os_release: OSRelease, expected: tuple[str, str | None]) -> None:
    found = identify(os_release)
    assert found is not None
    assert (found[0].name, found[1]) == expected


@pytest.mark.parametrize("os_release", [
    _os("fedora", "41", "Fedora Linux 41 (Container Image)"),
    _os("opensuse-leap", "15.6"),
    _os("", ""),
    _os("rhel", "", "Fedora release 39 (Thirty Nine)", "etc/redhat-release"),
])
def test_unknown_distributions_are_not_identified(os_release: OSRelease) -> None:
    assert identify(os_release) is None


# --- end of support on a given day ---------------------------------------------------------------------------


@pytest.mark.parametrize(("os_release", "today", "severity"), [
    # Debian: past LTS → high; past regular support, in LTS → low; the last day itself is still supported.
    (_os("debian", "10"), date(2026, 11, 26), Severity.HIGH),
    (_os("debian", "11"), date(2026, 8, 31), Severity.LOW),
    (_os("debian", "11"), date(2026, 9, 1), Severity.HIGH),
    (_os("debian", "12"), date(2026, 7, 11), None),
    (_os("debian", "12"), date(2026, 7, 12), Severity.LOW),
    (_os("debian", "12", "Distroless"), date(2026, 11, 26), Severity.LOW),
    (_os("debian", "13"), date(2026, 11, 26), None),
    # Ubuntu: standard support decides, whatever ESM offers.
    (_os("ubuntu", "20.04"), date(2025, 5, 29), None),
    (_os("ubuntu", "20.04"), date(2025, 5, 30), Severity.HIGH),
    (_os("ubuntu", "24.04"), date(2026, 11, 26), None),
    (_os("ubuntu", "25.04"), date(2026, 11, 26), Severity.HIGH),
    (_os("alpine", "3.21.4"), date(2026, 11, 1), None),
    (_os("alpine", "3.21.4"), date(2026, 11, 2), Severity.HIGH),
    (_os("rhel", "7.9"), date(2026, 11, 26), Severity.HIGH),
    (_os("rhel", "9.4"), date(2026, 11, 26), None),
    (_os("centos", "8", "CentOS Stream 8"), date(2024, 5, 31), None),
    (_os("centos", "8", "CentOS Linux 8"), date(2024, 5, 31), Severity.HIGH),
    (_os("amzn", "2"), date(2026, 11, 26), Severity.HIGH),
    (_os("amzn", "2023"), date(2026, 11, 26), None),
    # Not judged: rolling, unknown release, no release named.
    (_os("wolfi", "20230201"), date(2099, 1, 1), None),
    (_os("debian", "99"), date(2099, 1, 1), None),
    (_os("alpine", "3.21.0_alpha20240807", "Alpine Linux edge"), date(2099, 1, 1), None),
])
def test_support_lapse(os_release: OSRelease, today: date, severity: Severity | None) -> None:
    lapse = support_lapse(os_release, today)
    assert (lapse.severity if lapse else None) == severity


def test_lapse_labels_name_distroless() -> None:
    lapse = support_lapse(_os("debian", "12", "Distroless"), date(2026, 11, 26))
    assert lapse is not None and lapse.label == "Debian 12 (Distroless)"
    lapse = support_lapse(_os("debian", "10", "Debian GNU/Linux 10 (buster)"), date(2026, 11, 26))
    assert lapse is not None and lapse.label == "Debian 10"


# --- age, user, executables ------------------------------------------------------------------------------------


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.mark.parametrize(("created", "severity"), [
    (None, None),
    (_at("1970-01-01T00:00:00"), None),
    (_at("1970-01-01T00:00:01"), None),
    (_at("1980-01-01T00:00:01"), None),
    (_at("2027-01-01T00:00:00"), None),
    (_at("2026-10-27T00:00:00"), None),
    (_at("2026-05-30T23:59:59"), None),  # exactly 180 days
    (_at("2026-05-29T00:00:00"), Severity.LOW),
    (_at("2025-11-26T00:00:00"), Severity.LOW),  # exactly 365 days
    (_at("2025-11-25T00:00:00"), Severity.MEDIUM),
    (_at("2019-03-01T00:00:00"), Severity.MEDIUM),
])
def test_image_age(created: datetime | None, severity: Severity | None) -> None:
    age = image_age(created, date(2026, 11, 26))
    assert (age.severity if age else None) == severity
    if age is not None:
        assert age.days > AGE_LOW_DAYS
        assert (age.days > AGE_MEDIUM_DAYS) == (severity is Severity.MEDIUM)


@pytest.mark.parametrize(("user", "root"), [
    ("", True), ("root", True), ("0", True), ("0:0", True), ("root:root", True), ("0:1000", True), (" ", True),
    ("65532", False), ("65532:65532", False), ("nonroot", False), ("1000:0", False), ("nginx", False),
])
def test_is_root_user(user: str, root: bool) -> None:
    assert is_root_user(user) is root


def test_executable_paths_are_absolute_and_sorted() -> None:
    image = msgspec.convert({
        "digest": "sha256:" + "a" * 64,
        "executables": [
            {"path": "usr/bin/dash", "kind": "shell", "name": "dash"},
            {"path": "bin/sh", "kind": "shell", "name": "sh"},
            {"path": "usr/bin/apt", "kind": "package-manager", "name": "apt"},
        ],
    }, type=ImageInventory)
    assert executable_paths(image, "shell") == ("/bin/sh", "/usr/bin/dash")
    assert executable_paths(image, "package-manager") == ("/usr/bin/apt",)
    assert executable_paths(image, "tool") == ()


# --- evidence in the fixture findings ---------------------------------------------------------------------


def test_messages_name_what_was_found() -> None:
    """The evidence in the messages and observed values of a few fixture findings."""
    all_checks()
    by_check: dict[str, list[Any]] = {}
    for check_id in ("KW-IMG-001", "KW-IMG-002", "KW-IMG-004", "KW-IMG-005"):
        path = next((FIXTURES / check_id / "fail").glob("*.yaml"))
        objects, config, cluster, _ = load_fixture(path)
        by_check[check_id] = list(
            evaluate(inventory_with_images(objects, cluster), config, checks=[REGISTRY[check_id]]).findings)

    def one(check_id: str, resource: str, container: str) -> Any:
        return next(f for f in by_check[check_id] if str(f.resource) == resource and f.container == container)

    storefront = one("KW-IMG-001", "Deployment/shop/storefront", "web")
    assert storefront.observed == "debian 11"
    assert "Debian 11, whose security support ended 2026-08-31, Debian LTS included" in storefront.message
    price = one("KW-IMG-001", "Pod/shop/price-api", "api")
    assert "Debian 12 (Distroless)" in price.message and "Debian LTS" in price.message
    billing = one("KW-IMG-001", "Pod/shop/legacy-billing", "billing")
    assert billing.observed == "CentOS release 6.10 (Final)" and "CentOS Linux 6" in billing.message
    printer = one("KW-IMG-001", "Pod/shop/label-printer", "printer")
    assert "Ubuntu Pro" in printer.message

    ledger = one("KW-IMG-002", "Deployment/payments/ledger", "app")
    assert ledger.observed == ["/bin/bash", "/bin/sh"]
    assert "/bin/bash, /bin/sh" in ledger.message and "curl" not in ledger.message

    reports = one("KW-IMG-004", "Deployment/finance/reports", "reports")
    assert "542 days ago (2025-06-02)" in reports.message
    assert reports.observed == "2025-06-02T08:14:55+00:00"

    importer = one("KW-IMG-005", "Pod/web/importer", "importer")
    assert "USER root" in importer.message and "runAsNonRoot is false (set on the container)" in importer.message
    frontend = one("KW-IMG-005", "Deployment/web/frontend", "nginx")
    assert "no USER" in frontend.message and frontend.observed == ""


def test_each_image_is_judged_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pods sharing an image share one judgement (the per-digest memo), whatever the pod count."""
    all_checks()
    path = FIXTURES / "KW-IMG-001" / "fail" / "past-support.yaml"
    objects, config, cluster, _ = load_fixture(path)
    inventory = inventory_with_images(objects, cluster)
    calls: list[str] = []

    def counting(os_release: OSRelease, today: date) -> Any:
        calls.append(os_release.id)
        return support_lapse(os_release, today)

    monkeypatch.setattr(checks.images, "support_lapse", counting)
    evaluate(inventory, config, checks=[REGISTRY["KW-IMG-001"]])
    containers = sum(len(p.spec.containers) + len(p.spec.init_containers) for p in inventory.pods)
    assert (len(calls), containers) == (len(inventory.images), 7)  # the two storefront pods share one image


def test_collected_day_is_today() -> None:
    """End of life is judged on the day of collection, so a saved snapshot re-evaluates the same way."""
    all_checks()
    path = FIXTURES / "KW-IMG-001" / "fail" / "past-support.yaml"
    objects, config, _, _ = load_fixture(path)
    earlier = ClusterInfo(collected_at=datetime.combine(date(2024, 1, 1), time(), UTC))
    result = evaluate(inventory_with_images(objects, earlier), config, checks=[REGISTRY["KW-IMG-001"]])
    # On 2024-01-01 only CentOS 6 (2020) had ended; Debian 11, Ubuntu 20.04, Alpine 3.20, Debian 12 and
    # Amazon Linux 2 were all still supported.
    assert [str(f.resource) for f in result.findings] == ["Pod/shop/legacy-billing"]
