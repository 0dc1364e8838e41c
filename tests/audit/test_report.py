"""The Report is a lossless JSON snapshot, and bad files give one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from audit.findings import Category, CoverageGap, Finding, Severity, fingerprint
from audit.model import Inventory, ObjectRef, Pod
from audit.report import SCHEMA_VERSION, Report, ReportError, ReportMeta, dumps, load_report, loads, save_report

POD_JSON = {
    "metadata": {
        "name": "web-7d4b9-abcde",
        "namespace": "shop",
        "uid": "0b6f3c2e-1111-2222-3333-444455556666",
        "creationTimestamp": "2026-09-01T10:00:00Z",
        "labels": {"app": "web"},
        "annotations": {"container.apparmor.security.beta.kubernetes.io/web": "unconfined"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9",
                             "uid": "u", "controller": True}],
    },
    "spec": {
        "hostPID": True,
        "serviceAccountName": "web",
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "web", "image": "nginx:1.27",
            "env": [{"name": "PASSWORD", "value": "hunter2"},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
            "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                "runAsUser": 0, "procMount": "Unmasked"},
            "volumeMounts": [{"name": "root", "mountPath": "/host", "readOnly": True}],
            "ports": [{"containerPort": 80, "hostPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
        }],
        "volumes": [{"name": "root", "hostPath": {"path": "/", "type": "Directory"}}],
    },
    "status": {"phase": "Running", "containerStatuses": [
        {"name": "web", "image": "nginx:1.27", "ready": True,
         "imageID": "docker.io/library/nginx@sha256:" + "a" * 64}]},
}


def sample_report() -> Report:
    pod = msgspec.convert(POD_JSON, type=Pod, strict=False)
    pod = msgspec.structs.replace(pod, owner_chain=(
        ObjectRef(kind="ReplicaSet", name="web-7d4b9", namespace="shop"),
        ObjectRef(kind="Deployment", name="web", namespace="shop"),
    ))
    finding = Finding.create(
        check_id="KW-ISO-001", category=Category.ISOLATION, severity=Severity.CRITICAL,
        resource=pod.workload, container="web", message="privileged container",
        field_path="spec.template.spec.containers[0].securityContext.privileged", observed=True,
        pods=(pod.name,),
    )
    gap = CoverageGap(source="kube", verb="list", resource="roles.rbac.authorization.k8s.io",
                      namespace="shop", reason="forbidden", message="roles is forbidden", status=403)
    return Report(
        meta=ReportMeta(tool_version="0.1.0", context="prod", server="https://127.0.0.1:6443",
                        started=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
                        finished=datetime(2026, 11, 26, 10, 0, 3, tzinfo=UTC)),
        inventory=Inventory(pods=(pod,)),
        findings=(finding,),
        gaps=(gap,),
    )


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    report = sample_report()
    path = save_report(report, tmp_path / "report.json")
    again = load_report(path)
    assert again == report
    assert dumps(again) == dumps(report)
    pod = again.inventory.pods[0]
    assert pod.spec.host_pid is True
    assert pod.spec.containers[0].security_context.capabilities.add == ("NET_ADMIN",)
    assert pod.workload == ObjectRef(kind="Deployment", name="web", namespace="shop")
    assert pod.status.container_statuses[0].digest == "sha256:" + "a" * 64


def test_snapshot_speaks_kubernetes_field_names() -> None:
    data = msgspec.json.decode(dumps(sample_report()))
    assert data["schema"] == "kubeward.report"
    assert data["schema_version"] == SCHEMA_VERSION
    spec = data["inventory"]["pods"][0]["spec"]
    assert spec["hostPID"] is True
    assert spec["containers"][0]["securityContext"]["procMount"] == "Unmasked"
    assert data["inventory"]["pods"][0]["metadata"]["annotations"] == POD_JSON["metadata"]["annotations"]


def test_literal_env_values_are_never_kept() -> None:
    text = dumps(sample_report())
    assert b"hunter2" not in text
    env = sample_report().inventory.pods[0].spec.containers[0].env
    assert [e.name for e in env] == ["PASSWORD", "TOKEN"]
    assert env[1].value_from.secret_key_ref.name == "api"


def test_fingerprint_is_stable_and_discriminating() -> None:
    ref = ObjectRef(kind="Deployment", name="web", namespace="shop")
    a = fingerprint("KW-ISO-001", ref, "web", "privileged")
    assert a == fingerprint("KW-ISO-001", ref, "web", "privileged")
    others = {
        fingerprint("KW-ISO-002", ref, "web", "privileged"),
        fingerprint("KW-ISO-001", ObjectRef(kind="Deployment", name="web", namespace="other"), "web", "privileged"),
        fingerprint("KW-ISO-001", ref, "sidecar", "privileged"),
        fingerprint("KW-ISO-001", ref, "web", "hostPID"),
    }
    assert a not in others and len(others) == 4
    assert sample_report().findings[0].fingerprint == loads(dumps(sample_report())).findings[0].fingerprint


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a kubeward report"),
        (b"{not json", "not a kubeward report"),
        (b"[1, 2, 3]", "not a kubeward report"),
        (b'{"schema": "something.else", "schema_version": 1}', "not a kubeward report"),
        (b'{"schema": "kubeward.report", "schema_version": 99}', "schema version 99 is not supported"),
        (b'{"schema": "kubeward.report", "schema_version": 1, "meta": {"tool_version": 3}}', "damaged report"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ReportError, match=message) as info:
        load_report(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_truncated_report_is_reported_as_damaged(tmp_path: Path) -> None:
    data = dumps(sample_report())
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReportError, match=r"cut\.json: (damaged|not a kubeward) report"):
        load_report(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot read report"):
        load_report(tmp_path / "nope.json")


def test_save_replaces_only_with_a_complete_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.json"
    save_report(sample_report(), path)
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", broken_fsync)
    with pytest.raises(OSError):
        save_report(Report(meta=ReportMeta(tool_version="x")), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
