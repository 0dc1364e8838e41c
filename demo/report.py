"""A demo Report made the way `kubeward demo -o` makes one: the demo cluster served by the API
server double, its images from the demo archive, its vulnerabilities from the demo OSV data.

`frozen=True` pins every clock the Report carries to the demo's own date, so
pictures and snapshots of it are the same on every day they are taken.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from audit.pipeline import AuditOptions, ImageOptions, run_audit
from audit.report import Report
from checks.engine import evaluate
from collectors.kubeconfig import load_kube_target
from demo.apiserver import ApiServerDouble
from demo.cluster import NOW, generate_cluster


def build_demo_report(*, pods: int = 120, seed: int = 7, images: bool = True, audit_log: bool = True,
                      frozen: bool = True) -> Report:
    objects = generate_cluster(pods=pods, seed=seed)
    with tempfile.TemporaryDirectory(prefix="kubeward-demo-report-") as tmp, \
            ApiServerDouble(objects, tls=True) as server:
        directory = Path(tmp)
        target = load_kube_target(str(server.write_kubeconfig(directory / "kubeconfig")), environ={})
        options = AuditOptions(images=None)
        if images:
            options = with_demo_images(objects, directory, options, seed=seed)
        if audit_log:
            options = with_demo_audit_log(objects, directory, options, seed=seed, now=NOW)
        report = asyncio.run(run_audit(target, options))
    return freeze(report) if frozen else report


def with_demo_images(objects: list[dict], directory: Path, options: AuditOptions, *, seed: int) -> AuditOptions:
    """The demo's images come from an archive written for it, and its vulnerabilities from a small
    OSV database of real CVEs for the packages those images hold; nothing is fetched."""
    from collectors.vulndb.database import import_osv
    from demo.images import write_demo_images
    from demo.osv import write_demo_osv

    archive = write_demo_images(objects, directory / "images.tar", seed=seed)
    vulndb = directory / "osv.sqlite"
    import_osv([write_demo_osv(directory / "osv")], vulndb)
    return dataclasses.replace(options, images=ImageOptions(sources=(), archives=(archive,),
                                                            cache_dir=directory / "cache"), vulndb=vulndb)


def with_demo_audit_log(objects: list[dict], directory: Path, options: AuditOptions, *, seed: int,
                        now: datetime) -> AuditOptions:
    """The demo cluster's API server audit log, written as of `now` (three weeks back from it), so the
    dashboard shows who opened shells as well as who could; the `--since` window reaches back from `now`."""
    from demo.auditlog import write_demo_audit_log

    logs = write_demo_audit_log(objects, directory / "audit", now=now, seed=seed)
    return dataclasses.replace(options, audit_logs=(logs,), since=options.since + (datetime.now(UTC) - now))


def freeze(report: Report) -> Report:
    """The report as if collected at the demo's date: clocks pinned, date-dependent checks re-run."""
    replace = msgspec.structs.replace
    inventory = report.inventory
    inventory = replace(inventory, cluster=replace(inventory.cluster, collected_at=NOW, server="https://127.0.0.1"))
    if inventory.exec_evidence is not None:
        inventory = replace(inventory, exec_evidence=replace(inventory.exec_evidence, since=NOW - timedelta(days=30),
                                                             until=NOW))
    if inventory.vulndb is not None:
        inventory = replace(inventory, vulndb=replace(inventory.vulndb, imported_at=NOW - timedelta(days=2),
                                                      path="osv.sqlite"))
    evaluation = evaluate(inventory)
    meta = replace(report.meta, started=NOW, finished=NOW + timedelta(seconds=2), server="https://127.0.0.1")
    return replace(report, meta=meta, inventory=inventory, findings=evaluation.findings,
                   check_stats=evaluation.stats)


def with_findings(report: Report, count: int) -> Report:
    """The report with its findings copied (onto renamed resources) until there are `count`:
    a stand-in for a cluster that size when measuring how the dashboard copes."""
    from audit.findings import fingerprint

    findings = list(report.findings)
    copies = []
    index = 0
    while findings and len(findings) + len(copies) < count:
        original = findings[index % len(findings)]
        generation = index // len(findings) + 1
        resource = msgspec.structs.replace(original.resource, name=f"{original.resource.name}-{generation}")
        copies.append(msgspec.structs.replace(
            original, resource=resource,
            fingerprint=fingerprint(original.check_id, resource, original.container, original.fingerprint)))
        index += 1
    return msgspec.structs.replace(report, findings=(*findings, *copies))
