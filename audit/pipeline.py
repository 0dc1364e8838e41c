"""The audit pipeline: collectors → Inventory → checks → Report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from audit import __version__
from audit.findings import CoverageGap
from audit.images import ImageInventory
from audit.model import Inventory
from audit.progress import Progress, ProgressCallback, ignore_progress
from audit.report import Report, ReportMeta
from audit.trivy import compare_with_trivy
from checks.config import Config
from checks.engine import evaluate
from checks.rbac import exec_matrix
from collectors.auditlog.reader import DEFAULT_WINDOW, AuditLogResult, read_audit_logs
from collectors.images.cache import LayerCache
from collectors.images.collector import ArchiveSource, ImageCollector, ImageReader
from collectors.images.docker_engine import DockerEngine
from collectors.images.manifest import ImageSourceError
from collectors.images.registry import RegistryClient
from collectors.kube import KubeCollector, RetryPolicy
from collectors.kubeconfig import KubeTarget
from collectors.vulndb.database import VulnDB, VulnDBError
from collectors.vulndb.scan import database_info, match_images


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
    images: ImageOptions | None = field(default_factory=lambda: ImageOptions())
    """How to read the running images; None turns image scanning off (`--no-images`)."""
    vulndb: Path | None = None
    """The OSV database to match the images' packages against (`kubeward db import`)."""
    audit_logs: Sequence[Path] = ()
    """API server audit log files or directories to read exec sessions from (`--audit-log`)."""
    since: timedelta = DEFAULT_WINDOW
    """How far back from now the audit logs are read (`--since`)."""


@dataclass(frozen=True)
class ImageOptions:
    sources: Sequence[str] = ("docker", "registry")
    """Where to look for an image, in order."""
    docker_host: str | None = None
    """The Docker engine (default: DOCKER_HOST, else the local socket)."""
    insecure_registries: Sequence[str] = ()
    """Registries (host:port or CIDR) that may be spoken to over plain HTTP."""
    concurrency: int = 4
    cache_dir: Path | None = None
    archives: Sequence[Path] = ()
    """Image tarballs or OCI layouts to read images from first (`--image-archive`)."""


async def run_audit(
    target: KubeTarget,
    options: AuditOptions = AuditOptions(),
    *,
    on_progress: ProgressCallback = ignore_progress,
    on_partial: Callable[[Report], None] | None = None,
) -> Report:
    """Collect the cluster and evaluate it. Raises KubeConnectionError when the
    cluster cannot be read at all; everything less becomes a coverage gap.

    `on_partial`, when given, receives a first Report as soon as the API objects are read
    and evaluated, before images and audit logs (which can take minutes) are."""
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
    inventory, gaps = result.inventory, list(result.gaps)
    if on_partial is not None and (options.images is not None or options.audit_logs):
        first = await asyncio.to_thread(evaluate, inventory, options.config)
        on_partial(Report(meta=ReportMeta(tool_version=__version__, context=target.context, server=target.server,
                                          started=started, finished=datetime.now(UTC)),
                          inventory=inventory, findings=first.findings, gaps=tuple(gaps),
                          check_stats=first.stats, exec_matrix=await asyncio.to_thread(exec_matrix, inventory)))
    # the audit log is read in a thread while the images are collected
    audit_log = asyncio.ensure_future(read_exec_evidence(options, on_progress)) if options.audit_logs else None
    if options.images is not None:
        images, image_gaps = await collect_images(inventory, options.images, on_progress=on_progress)
        inventory = msgspec.structs.replace(inventory, images=images)
        gaps.extend(image_gaps)
        if images and options.vulndb is not None:
            inventory, vuln_gaps = await asyncio.to_thread(match_vulnerabilities, inventory, options.vulndb)
            gaps.extend(vuln_gaps)
    if inventory.trivy_reports and inventory.vulndb is not None:
        # Trivy Operator's reports are a second opinion: compared only once we have our own matches.
        inventory = msgspec.structs.replace(inventory, trivy_comparison=compare_with_trivy(
            inventory.trivy_reports, inventory.images, inventory.vulnerabilities))
    if audit_log is not None:
        evidence, log_gaps = await audit_log
        inventory = msgspec.structs.replace(inventory, exec_evidence=evidence)
        gaps.extend(log_gaps)
    # CPU-bound; a thread keeps the TUI's event loop responsive while it runs
    evaluation = await asyncio.to_thread(evaluate, inventory, options.config)
    matrix = await asyncio.to_thread(exec_matrix, inventory)
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
        inventory=inventory,
        findings=evaluation.findings,
        gaps=tuple(gaps),
        check_stats=evaluation.stats,
        exec_matrix=matrix,
    )


async def read_exec_evidence(options: AuditOptions, on_progress: ProgressCallback = ignore_progress) -> AuditLogResult:
    """Read the audit logs in a thread; its progress messages are handed back to the event loop."""
    loop = asyncio.get_running_loop()

    def from_thread(event: Progress) -> None:
        loop.call_soon_threadsafe(on_progress, event)

    return await asyncio.to_thread(read_audit_logs, options.audit_logs, window=options.since, on_progress=from_thread)


def match_vulnerabilities(inventory: Inventory, path: Path) -> tuple[Inventory, list[CoverageGap]]:
    """The inventory with its images' known vulnerabilities; a missing or unreadable database is a
    coverage gap (every image then counts as not checked, never as clean)."""
    try:
        with VulnDB(path) as db:
            matches, gaps = match_images(inventory.images, db)
            info = database_info(db)
    except VulnDBError as error:
        return inventory, [CoverageGap(source="vulndb", verb="read", resource=str(path), reason="unavailable",
                                       message=f"{error}: vulnerabilities were not matched")]
    return msgspec.structs.replace(inventory, vulnerabilities=matches, vulndb=info), list(gaps)


def open_image_sources(options: ImageOptions) -> tuple[list[tuple[str, ImageReader]], list[Callable[[], None]]]:
    """The configured image sources, in order, and what closes them. Blocking (it pings Docker)."""
    sources: list[tuple[str, ImageReader]] = []
    closers: list[Callable[[], None]] = []
    if options.archives:
        sources.append(("archive", ArchiveSource(options.archives)))
    for name in options.sources:
        if name == "docker":
            try:
                engine = DockerEngine.connect(options.docker_host, timeout=20.0)
            except ImageSourceError:
                continue
            closers.append(engine.close)
            sources.append(("docker", lambda ref, platform, scan, cache, e=engine: e.read_image(
                ref, scan=scan, cache=cache)))
        elif name == "registry":
            client = RegistryClient(insecure=frozenset(options.insecure_registries), timeout=60.0)
            closers.append(client.close)
            sources.append(("registry", lambda ref, platform, scan, cache, c=client: c.read_image(
                ref, platform=platform, scan=scan, cache=cache)))
    return sources, closers


async def collect_images(
    inventory: Inventory, options: ImageOptions, *, on_progress: ProgressCallback = ignore_progress
) -> tuple[tuple[ImageInventory, ...], tuple[CoverageGap, ...]]:
    """Read the running images from the configured sources. A Docker engine that does not answer
    is left out quietly: most audits run from machines that have none, and every image it would
    have served is still tried in its registry (and named in a gap if that fails too)."""
    sources, closers = await asyncio.to_thread(open_image_sources, options)
    cache = LayerCache(options.cache_dir)
    try:
        collector = ImageCollector(sources=sources, cache=cache, concurrency=options.concurrency,
                                   on_progress=on_progress)
        return await collector.collect(inventory)
    finally:
        for close in closers:
            close()
        cache.close()
