"""`--watch` benchmark: a 500-pod rollout applied to the 10,000-pod demo's Report.

    python -m bench.live [--pods 10000] [--rollout 500] [--runs 3] [--write docs/benchmarks.md]

Baseline, measured in the same run: a full `evaluate` of the new inventory (what
re-evaluating everything after each batch would cost). Goal: well under it.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime

import msgspec

from audit import __version__
from audit.live import PodChanges, apply_pod_changes
from audit.model import Inventory, Pod
from audit.report import Report, ReportMeta
from bench.checks import build_inventory
from bench.markdown import publish
from bench.measure import median_seconds
from checks.engine import evaluate

SECTION = "## Live: a pod rollout applied to the 10,000-pod Report"


def rollout(inventory: Inventory, size: int) -> tuple[PodChanges, int]:
    """Replace `size` pods of the largest Deployments with new ones (new names, new image tag), as a
    rolling update does; returns the changes and how many workloads they touch."""
    by_workload = sorted(((ref, pods) for ref, pods in inventory.pods_by_workload.items() if ref.kind == "Deployment"),
                         key=lambda item: -len(item[1]))
    old: list[Pod] = []
    workloads = 0
    for _, pods in by_workload:
        if len(old) >= size:
            break
        old.extend(pods[: size - len(old)])
        workloads += 1
    new = []
    for pod in old:
        containers = tuple(msgspec.structs.replace(c, image=f"{c.image.split(':')[0]}:rolled")
                           for c in pod.spec.containers)
        new.append(msgspec.structs.replace(
            pod, metadata=msgspec.structs.replace(pod.metadata, name=f"{pod.name}-r", uid=f"{pod.metadata.uid}-r"),
            spec=msgspec.structs.replace(pod.spec, containers=containers)))
    deleted = tuple((p.namespace, p.name) for p in old)
    return PodChanges(pods=tuple(new), deleted=deleted, events=2 * len(old)), workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--rollout", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", metavar="MARKDOWN", help="replace the Live section of this file")
    args = parser.parse_args()
    inventory = build_inventory(args.pods, 2_000)
    evaluation = evaluate(inventory)
    report = Report(meta=ReportMeta(tool_version=__version__), inventory=inventory, findings=evaluation.findings,
                    check_stats=evaluation.stats)
    changes, workloads = rollout(inventory, args.rollout)
    after = apply_pod_changes(report, changes)
    live_s = median_seconds(lambda: apply_pod_changes(report, changes), args.runs)
    full_s = median_seconds(lambda: evaluate(after.inventory), args.runs)
    text = "\n".join([
        SECTION,
        "",
        f"`python -m bench.live --pods {args.pods} --rollout {args.rollout}` — {platform.python_implementation()}"
        f" {platform.python_version()}, {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d}.",
        "",
        f"{len(inventory.pods):,} pods, {len(report.findings):,} findings; the rollout replaces"
        f" {len(changes.deleted)} pods of {workloads} Deployments ({changes.events} watch events, one batch).",
        "",
        "| what | median seconds | ratio |",
        "| --- | ---: | ---: |",
        f"| full `evaluate` of the new inventory (baseline) | {full_s:.3f} | 1.00 |",
        f"| `apply_pod_changes` (POD and WORKLOAD checks of {workloads} workloads) | {live_s:.3f} |"
        f" {live_s / full_s:.2f} |",
        "",
    ])
    publish(text, args.write)


if __name__ == "__main__":
    main()
