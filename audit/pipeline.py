"""The audit pipeline: collectors → Inventory → checks → Report."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from audit import __version__
from audit.progress import Progress, ProgressCallback, ignore_progress
from audit.report import Report, ReportMeta
from checks.config import Config
from checks.engine import evaluate
from checks.rbac import exec_matrix
from collectors.kube import KubeCollector, RetryPolicy
from collectors.kubeconfig import KubeTarget


@dataclass(frozen=True)
class AuditOptions:
    """How to read the cluster; the CLI and the TUI both build one."""

    namespaces: Sequence[str] = ()
    """Empty: every namespace."""
    timeout: float = 30.0
    concurrency: int = 6
    page_size: int = 500
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    config: Config = field(default_factory=Config)
    """The check configuration (disabled checks, severities, sensitive and untrusted labels)."""


async def run_audit(
    target: KubeTarget,
    options: AuditOptions = AuditOptions(),
    *,
    on_progress: ProgressCallback = ignore_progress,
) -> Report:
    """Collect the cluster and evaluate it. Raises KubeConnectionError when the
    cluster cannot be read at all; everything less becomes a coverage gap."""
    started = datetime.now(UTC)
    collector = KubeCollector(
        target.api_client,
        context=target.context,
        server=target.server,
        namespaces=tuple(options.namespaces),
        page_size=options.page_size,
        timeout=options.timeout,
        concurrency=options.concurrency,
        retry=options.retry,
        on_progress=on_progress,
    )
    result = await collector.collect()
    # CPU-bound; a thread keeps the TUI's event loop responsive while it runs
    evaluation = await asyncio.to_thread(evaluate, result.inventory, options.config)
    matrix = exec_matrix(result.inventory)
    on_progress(Progress(source="checks", task="evaluate", count=len(evaluation.findings), done=True,
                         message=f"{len(evaluation.stats)} checks in {evaluation.seconds:.2f}s"))
    return Report(
        meta=ReportMeta(
            tool_version=__version__,
            context=target.context,
            server=target.server,
            started=started,
            finished=datetime.now(UTC),
        ),
        inventory=result.inventory,
        findings=evaluation.findings,
        gaps=result.gaps,
        check_stats=evaluation.stats,
        exec_matrix=matrix,
    )
