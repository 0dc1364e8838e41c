"""The command line, run as a user runs it: a subprocess of the installed console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audit.report import load_report

KUBEWARD = str(Path(sys.executable).with_name("kubeward"))


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBEWARD, *args], capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kubeward: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_scan_writes_a_report(serve, demo_objects, tmp_path: Path) -> None:
    double, kubeconfig = serve(demo_objects, tls=True)
    out = tmp_path / "report.json"
    result = run("scan", "--no-images", "--kubeconfig", str(kubeconfig), "-o", str(out))
    assert result.returncode == 0, result.stderr
    report = load_report(out)
    assert len(report.inventory.pods) == sum(o["kind"] == "Pod" for o in demo_objects)
    assert report.meta.context == "kubeward-demo"
    assert report.meta.server == double.url
    assert "Report written to" in result.stdout
    assert "pods" in result.stdout


def test_scan_never_loads_textual(serve, demo_objects, tmp_path: Path) -> None:
    _, kubeconfig = serve(demo_objects)
    code = (
        "import sys\n"
        "from audit.cli import main\n"
        # image scanning on, against a Docker engine that is not there: the image code is loaded, nothing leaves
        f"rc = main(['scan', '--kubeconfig', {str(kubeconfig)!r}, '-o', {str(tmp_path / 'r.json')!r},"
        f" '--image-source', 'docker', '--docker-host', 'unix://{tmp_path}/none.sock'])\n"
        "assert rc == 0, rc\n"
        "import audit.pipeline, audit.report, audit.live, collectors.kube, collectors.watch, checks\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if m.startswith('textual'))\n"
        "print('headless')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("headless")


def test_namespace_flag(serve, demo_objects, tmp_path: Path) -> None:
    _, kubeconfig = serve(demo_objects)
    out = tmp_path / "report.json"
    result = run("--kubeconfig", str(kubeconfig), "scan", "--no-images", "-n", "kube-system", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.namespace for p in load_report(out).inventory.pods} == {"kube-system"}


def test_malformed_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters:\n  - name: [unclosed\n")
    assert_one_line_error(run("scan", "--kubeconfig", str(path)), str(path), "malformed YAML")


def test_unknown_context(serve) -> None:
    _, kubeconfig = serve([])
    assert_one_line_error(run("scan", "--kubeconfig", str(kubeconfig), "--context", "prod"),
                          "context 'prod' not found")


def test_unreachable_server(serve) -> None:
    double, kubeconfig = serve([])
    url = double.url
    double.stop()
    assert_one_line_error(run("scan", "--kubeconfig", str(kubeconfig), "--request-timeout", "2"),
                          f"cannot reach {url}")


def test_wrong_token(serve, tmp_path: Path) -> None:
    _, kubeconfig = serve([], tls=True)
    kubeconfig.write_text(kubeconfig.read_text().replace("kubeward-admin-token", "stale"))
    assert_one_line_error(run("scan", "--kubeconfig", str(kubeconfig)), "401 Unauthorized")


def test_untrusted_certificate(serve) -> None:
    _, kubeconfig = serve([], tls=True)
    kubeconfig.write_text(
        "\n".join(line for line in kubeconfig.read_text().splitlines() if "certificate-authority-data" not in line)
    )
    assert_one_line_error(run("scan", "--kubeconfig", str(kubeconfig)), "TLS verification failed")


@pytest.mark.parametrize("content", [b"", b"{\"schema\": \"kubeward.report\", \"schema_version\": 7}", b"\x00\x01"])
def test_open_rejects_a_file_that_is_not_a_report(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(content)
    assert_one_line_error(run("open", str(path)), str(path))


def test_demo_scan_headless(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    result = run("demo", "--pods", "120", "-o", str(out))
    assert result.returncode == 0, result.stderr
    report = load_report(out)
    assert len(report.inventory.pods) == 120
    assert report.gaps == ()
    # the demo's images come from its own archive, and its vulnerabilities from its own OSV data
    inventory = report.inventory
    assert {image.digest for image in inventory.images} == {
        s.digest for p in inventory.pods
        for s in (*p.status.init_container_statuses, *p.status.container_statuses,
                  *p.status.ephemeral_container_statuses) if s.digest}
    assert {m.display_id for m in inventory.vulnerabilities} >= {"CVE-2023-5363"}
    assert any(f.check_id == "KW-VULN-001" for f in report.findings)
    assert "Images with known vulnerabilities" in result.stdout
    without = run("demo", "--pods", "60", "--no-images", "-o", str(tmp_path / "plain.json"))
    assert without.returncode == 0 and load_report(tmp_path / "plain.json").inventory.images == ()


def test_demo_serve_prints_a_working_kubeconfig(tmp_path: Path) -> None:
    process = subprocess.Popen([KUBEWARD, "demo", "--serve", "--pods", "60"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        kubeconfig = process.stdout.readline().strip()
        assert Path(kubeconfig).is_file()
        out = tmp_path / "r.json"
        result = run("scan", "--no-images", "--kubeconfig", kubeconfig, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert len(load_report(out).inventory.pods) == 60
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_image_scan_of_an_archive(tmp_path: Path) -> None:
    import json

    from tests.realparts import docker_archive, image_config, layer_tar, sha256

    status = Path("/var/lib/dpkg/status").read_bytes()
    layers = [
        layer_tar({"etc/os-release": Path("/etc/os-release").read_bytes(), "var/lib/dpkg/status": status,
                   "bin/sh": "dash"}),
        layer_tar({"app/main.py": b"print('hi')\n"}),
    ]
    config = image_config([sha256(layer) for layer in layers], config={"User": "app"})
    archive = tmp_path / "app.tar"
    archive.write_bytes(docker_archive([(layers, config, ["shop/app:1.0"])]))
    out = tmp_path / "image.json"
    result = subprocess.run(
        [KUBEWARD, "image", "scan", str(archive), "-o", str(out)], capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    [image] = json.loads(out.read_text())
    names = {p["package"]["name"] for p in image["packages"]}
    installed = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}\n"],
                               capture_output=True, text=True, check=True).stdout
    assert names == {line.split()[1] for line in installed.splitlines() if line.startswith("ii")}
    assert image["config"]["user"] == "app"
    assert "shop/app:1.0" in result.stdout
    assert "shell: yes" in result.stdout


def test_image_scan_of_something_that_is_not_an_image(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    result = subprocess.run([KUBEWARD, "image", "scan", str(junk)], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert_one_line_error(result, str(junk))


def test_image_scan_of_a_registry_reference(registry, tmp_path: Path) -> None:
    from tests.collectors.images.test_collector import push_app

    push_app(registry, "shop/cli")
    result = subprocess.run(
        [KUBEWARD, "image", "scan", f"{registry.address}/shop/cli:1.0", "--image-source", "registry"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert "OS: Debian GNU/Linux 12 (bookworm)" in result.stdout
    assert "RUN apt-get install -y curl" in result.stdout
    missing = subprocess.run(
        [KUBEWARD, "image", "scan", f"{registry.address}/shop/none:1", "--image-source", "registry"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert_one_line_error(missing, "registry: not found")


def test_db_import_and_status(tmp_path: Path) -> None:
    fixtures = Path(__file__).parents[1] / "collectors" / "vulndb" / "fixtures" / "osv"
    db = tmp_path / "osv.sqlite"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    imported = subprocess.run([KUBEWARD, "db", "import", str(fixtures), "--db", str(db)],
                              capture_output=True, text=True, timeout=60, env=env)
    assert imported.returncode == 0, imported.stderr
    assert "imported 7 records (1 withdrawn" in imported.stdout
    assert "skipped" in imported.stdout and "damaged.json" in imported.stdout
    status = subprocess.run([KUBEWARD, "db", "status", "--db", str(db)], capture_output=True, text=True,
                            timeout=60, env=env)
    assert status.returncode == 0, status.stderr
    assert "Debian:12" in status.stdout and "7 records" in status.stdout
    missing = subprocess.run([KUBEWARD, "db", "status", "--db", str(tmp_path / "none.sqlite")],
                             capture_output=True, text=True, timeout=60, env=env)
    assert_one_line_error(missing, "no vulnerability database")


def test_scan_prints_the_images_with_known_vulnerabilities(serve, registry, tmp_path: Path) -> None:
    from collectors.vulndb.database import import_osv
    from tests.collectors.images.test_collector import pod, push_app

    db = tmp_path / "osv.sqlite"
    import_osv([Path(__file__).parents[1] / "collectors" / "vulndb" / "fixtures" / "osv"], db)
    digest, _ = push_app(registry, "shop/summary")
    image = f"{registry.address}/shop/summary:1.0"
    _, kubeconfig = serve([pod("app", image, f"{registry.address}/shop/summary@{digest}")])
    result = subprocess.run(
        [KUBEWARD, "scan", "--kubeconfig", str(kubeconfig), "--image-source", "registry", "--vulndb", str(db)],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200",
             "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert "Images with known vulnerabilities (1, worst first)" in result.stdout
    assert image in result.stdout and "no fix yet" in result.stdout


def test_open_with_a_bad_waivers_file_says_so_before_the_dashboard(demo_report, tmp_path: Path) -> None:
    from audit.report import save_report

    report = save_report(demo_report, tmp_path / "r.json")
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n- check_id: KW-ISO-001\n  reason: accepted\n")
    assert_one_line_error(run("open", str(report), "--waivers", str(waivers)), str(waivers))
    assert_one_line_error(run("--waivers", str(tmp_path / "missing.yaml"), "--kubeconfig", str(tmp_path / "none")))
