"""The `kubeward` command line.

    kubeward [--kubeconfig F] [--context C] [-n NS | -A]    the dashboard on a live cluster
    kubeward scan -o report.json                            headless audit, writes the Report
    kubeward open report.json                               the dashboard on a saved snapshot
    kubeward demo [--pods N] [--serve | -o report.json]     the built-in demo cluster
    kubeward checks [--markdown]                            the check catalogue
    kubeward export report.json -o review.xlsx              a saved Report as XLSX, CSV, SARIF, CycloneDX
    kubeward review import reviewed.xlsx -o waivers.yaml    reviewers' decisions into the waivers file
    kubeward diff old.json new.json [--fail-on high]        what changed between two snapshots

Textual is imported only by the commands that open the dashboard, so `scan`
never loads it. Every expected failure prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from audit import __version__
from audit.export import FORMATS as EXPORT_FORMATS
from audit.export import ExportError, export_report, guess_format
from audit.findings import Finding, Severity, Waiver
from audit.pipeline import AuditOptions, ImageOptions, run_audit
from audit.progress import Progress, ProgressCallback, ignore_progress
from audit.report import Report, ReportError, load_report, write_atomic
from audit.review import ReviewError
from audit.styles import SEVERITY_STYLES
from audit.summary import print_images, print_summary
from audit.waivers import WaiverError, apply_waivers, load_waivers, print_waiver_summary
from checks.config import Config, ConfigError, load_config
from collectors.kube import KubeConnectionError
from collectors.kubeconfig import KubeConfigError, KubeTarget, load_kube_target

EXIT_USAGE = 2
SEVERITY_NAMES = tuple(s.value for s in Severity)


class CliError(Exception):
    """An expected failure: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeward",
        description="Audit a Kubernetes cluster for container-security risk.",
    )
    parser.add_argument("--version", action="version", version=f"kubeward {__version__}")
    _add_cluster_options(parser, suppress=False)
    _add_watch_option(parser)
    parser.add_argument("--waivers", metavar="FILE", help="show the findings this waivers file (YAML) covers as waived")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = commands.add_parser("scan", help="audit without the dashboard and write the Report")
    _add_cluster_options(scan, suppress=True)
    scan.add_argument("-o", "--output", metavar="PATH", help="write the Report here (JSON unless --format or the"
                                                             " suffix says otherwise)")
    _add_review_options(scan)

    image = commands.add_parser("image", help="scan one image on its own")
    image_commands = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    image_scan = image_commands.add_parser("scan", help="scan an image archive, OCI layout or reference")
    image_scan.add_argument("image", metavar="PATH|REF",
                            help="a docker-archive or OCI-layout tarball or directory, or an image reference")
    image_scan.add_argument("-o", "--output", metavar="PATH", help="write the image inventory (JSON) here")
    _add_image_options(image_scan, suppress=True)

    db = commands.add_parser("db", help="the offline vulnerability database (OSV)")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_import = db_commands.add_parser("import", help="import OSV dumps (all.zip) or directories of OSV JSON")
    db_import.add_argument("paths", metavar="PATH", nargs="+")
    db_update = db_commands.add_parser("update", help="download the OSV dumps and import them")
    db_update.add_argument("--ecosystem", metavar="NAME", action="append",
                           help="an OSV ecosystem to download (repeatable; default: those the images of"
                                " --from-report use, else all that kubeward matches)")
    db_update.add_argument("--from-report", metavar="REPORT.json",
                           help="download only the ecosystems this Report's images need")
    db_update.add_argument("--base-url", metavar="URL", help="where the dumps are (default: the OSV bucket)")
    db_status = db_commands.add_parser("status", help="records per ecosystem and the age of the import")
    for sub in (db_import, db_update, db_status):
        sub.add_argument("--db", metavar="FILE", help="the database file (default: in the user's data directory)")

    cache = commands.add_parser("cache", help="show or clear the layer cache")
    cache.add_argument("action", nargs="?", choices=("show", "clear"), default="show")

    open_ = commands.add_parser("open", help="open a saved Report in the dashboard, offline")
    open_.add_argument("report", metavar="REPORT.json")
    open_.add_argument("--waivers", metavar="FILE", help="show the findings this waivers file (YAML) covers as waived")

    checks = commands.add_parser("checks", help="print the check catalogue")
    checks.add_argument("--markdown", action="store_true", help="as Markdown (docs/checks.md)")

    demo = commands.add_parser("demo", help="audit the built-in demo cluster")
    demo.add_argument("--config", metavar="FILE", help="check configuration (YAML)")
    demo.add_argument("--no-images", action="store_true",
                      help="skip the demo's images (made up for the demo, served from an image archive)")
    demo.add_argument("--pods", type=_positive_int, default=400, metavar="N",
                      help="size of the demo cluster in pods (default 400)")
    demo.add_argument("--seed", type=int, default=7, help="the demo cluster is generated from this seed")
    mode = demo.add_mutually_exclusive_group()
    mode.add_argument("--serve", action="store_true",
                      help="only serve the demo cluster; print the kubeconfig path and wait")
    mode.add_argument("-o", "--output", metavar="PATH",
                      help="scan the demo cluster headless and write the Report here")
    _add_review_options(demo)
    _add_watch_option(demo)

    export = commands.add_parser("export", help="write a saved Report as XLSX, CSV, JSON, SARIF or CycloneDX")
    export.add_argument("report", metavar="REPORT.json")
    export.add_argument("-o", "--output", metavar="PATH", required=True, help="where to write the export")
    export.add_argument("--format", choices=EXPORT_FORMATS, help="the export format (default: from the suffix)")
    export.add_argument("--waivers", metavar="FILE", help="apply this waivers file (YAML) first")

    review = commands.add_parser("review", help="the review round trip: the reviewed spreadsheet into waivers")
    review_commands = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    review_import = review_commands.add_parser("import", help="read a reviewed XLSX export into a waivers file")
    review_import.add_argument("workbook", metavar="REVIEWED.xlsx")
    review_import.add_argument("-o", "--output", metavar="FILE",
                               help="the waivers file to write (default: the --waivers file, else waivers.yaml)")
    review_import.add_argument("--waivers", metavar="FILE", help="an existing waivers file to merge the decisions into")
    review_import.add_argument("--report", metavar="REPORT.json",
                               help="a newer Report: rows whose finding it no longer has are reported, not imported")

    diff = commands.add_parser("diff", help="what changed between two saved Reports")
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    diff.add_argument("--fail-on", metavar="SEVERITY", choices=SEVERITY_NAMES,
                      help="exit 1 when a new unwaived finding at or above this severity appears")
    return parser


def _add_review_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=EXPORT_FORMATS,
                        help="the format of -o (default: from its suffix, else json)")
    parser.add_argument("--waivers", metavar="FILE", help="apply this waivers file (YAML) to the findings")
    parser.add_argument("--fail-on", metavar="SEVERITY", choices=SEVERITY_NAMES,
                        help="exit 1 when an unwaived finding at or above this severity exists"
                             f" ({', '.join(SEVERITY_NAMES)})")


def _add_cluster_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On subcommands the defaults are suppressed so that options given before the
    # subcommand are not overwritten by the subcommand's defaults.
    default: dict[str, object] = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)",
                        **default)
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current-context)",
                        **default)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", metavar="NS", action="append", dest="namespaces",
                       help="audit only this namespace (repeatable)", **default)
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="audit every namespace (the default)", **default)
    parser.add_argument("--request-timeout", type=float, metavar="SECONDS",
                        help="seconds to wait for one API response (default 30)", **default)
    parser.add_argument("--config", metavar="FILE", help="check configuration (YAML)", **default)
    parser.add_argument("--vulndb", metavar="FILE",
                        help="the OSV database to match images against (default: the one `kubeward db import` made)",
                        **default)
    parser.add_argument("--audit-log", metavar="PATH", action="append", dest="audit_logs",
                        help="an API server audit log (plain, rotated or .gz file, or a directory of them) to read"
                             " exec sessions from (repeatable)", **default)
    parser.add_argument("--since", metavar="DURATION",
                        help="how far back to read the audit logs: 30d, 12h, 90m … (default 30d)", **default)
    _add_image_options(parser, suppress=suppress)


def _add_watch_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", action="store_true",
                        help="after collecting, keep the pods current (watch streams) and re-evaluate the findings"
                             " of the workloads whose pods change")


def _add_image_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: dict[str, object] = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("--no-images", action="store_true", help="do not read the running images", **default)
    parser.add_argument("--image-source", metavar="LIST",
                        help="where to read images, in order (default: docker,registry)", **default)
    parser.add_argument("--insecure-registry", metavar="HOST", action="append",
                        help="a registry (host:port or CIDR) that may be read over plain HTTP (repeatable)",
                        **default)
    parser.add_argument("--docker-host", metavar="URL", help="the Docker engine (default: DOCKER_HOST)", **default)
    parser.add_argument("--image-archive", metavar="PATH", action="append",
                        help="read images from this docker-archive / OCI-layout tarball or directory first"
                             " (repeatable)", **default)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (CliError, KubeConfigError, KubeConnectionError, ReportError, ConfigError, WaiverError, ReviewError,
            ExportError) as exc:
        print(f"kubeward: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kubeward: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "open":
        report = load_report(args.report)
        return _run_tui(report=report, title=args.report, waivers_path=args.waivers)
    if args.command == "demo":
        return _demo(args)
    if args.command == "checks":
        return _checks(markdown=args.markdown)
    if args.command == "cache":
        return _cache(args.action)
    if args.command == "db":
        return _db(args)
    if args.command == "image":
        return _image_scan(args)
    if args.command == "export":
        return _export(args)
    if args.command == "review":
        return _review_import(args)
    if args.command == "diff":
        return _diff(args)
    target = load_kube_target(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    options = _options(args)
    if args.command == "scan":
        return _scan(target, options, getattr(args, "output", None), review=_review_options(args))
    return _run_tui(target=target, options=options, kubeconfig=getattr(args, "kubeconfig", None),
                    waivers_path=getattr(args, "waivers", None), watch=getattr(args, "watch", False))


def _options(args: argparse.Namespace) -> AuditOptions:
    namespaces = getattr(args, "namespaces", None) or ()
    timeout = getattr(args, "request_timeout", None)
    config_path = getattr(args, "config", None)
    config = load_config(config_path) if config_path else Config()
    images_off = getattr(args, "no_images", False)
    vulndb = getattr(args, "vulndb", None)
    audit_logs, since = _audit_log_options(args)
    return AuditOptions(namespaces=tuple(namespaces), timeout=timeout or 30.0, config=config,
                        images=None if images_off else _image_options(args),
                        vulndb=Path(vulndb) if vulndb else default_vulndb_path(),
                        audit_logs=audit_logs, since=since)


def _audit_log_options(args: argparse.Namespace) -> tuple[tuple[Path, ...], timedelta]:
    """`--audit-log` paths, checked before the cluster is read, and the `--since` window."""
    from collectors.auditlog.files import AuditLogPathError, audit_log_files
    from collectors.auditlog.window import DEFAULT_WINDOW, parse_duration

    paths = tuple(Path(p) for p in getattr(args, "audit_logs", None) or ())
    try:
        audit_log_files(paths)
        since = getattr(args, "since", None)
        return paths, parse_duration(since) if since else DEFAULT_WINDOW
    except (AuditLogPathError, ValueError) as error:
        raise CliError(str(error)) from None


def _image_options(args: argparse.Namespace) -> ImageOptions:
    sources = tuple(s.strip() for s in (getattr(args, "image_source", None) or "docker,registry").split(",") if s)
    unknown = sorted(set(sources) - {"docker", "registry"})
    if unknown:
        raise CliError(f"unknown image source {', '.join(unknown)} (choose from docker, registry)")
    archives = tuple(Path(p) for p in getattr(args, "image_archive", None) or ())
    for archive in archives:
        if not archive.exists():
            raise CliError(f"image archive {archive}: no such file or directory")
    return ImageOptions(sources=sources, docker_host=getattr(args, "docker_host", None),
                        insecure_registries=tuple(getattr(args, "insecure_registry", None) or ()),
                        archives=archives)


@dataclass(frozen=True)
class _ReviewOptions:
    """`--format`, `--waivers` and `--fail-on` of scan and demo, checked before the audit starts."""

    fmt: str | None = None
    waivers: tuple[Waiver, ...] | None = None
    waivers_path: str = ""
    fail_on: Severity | None = None


def _review_options(args: argparse.Namespace) -> _ReviewOptions:
    path = getattr(args, "waivers", None)
    fail_on = getattr(args, "fail_on", None)
    output = getattr(args, "output", None)
    fmt = getattr(args, "format", None)
    if fmt and not output:
        raise CliError("--format needs -o PATH")
    return _ReviewOptions(fmt=fmt or (guess_format(output) or "json" if output else None),
                          waivers=load_waivers(path) if path else None, waivers_path=path or "",
                          fail_on=Severity(fail_on) if fail_on else None)


def _scan(target: KubeTarget, options: AuditOptions, output: str | None,
          review: _ReviewOptions = _ReviewOptions()) -> int:
    err = Console(stderr=True)
    with _progress_display(err) as on_progress:
        report = asyncio.run(run_audit(target, options, on_progress=on_progress))
    if review.waivers is not None:
        report = apply_waivers(report, review.waivers, datetime.now(UTC).date(), source=review.waivers_path)
    if output:
        export_report(report, output, review.fmt)
    print_summary(report, Console(), output=output)
    if review.waivers is not None:
        print_waiver_summary(report, Console())
    return _fail_on(report.findings, review.fail_on, err)


def _fail_on(findings: Sequence[Finding], threshold: Severity | None, err: Console, what: str = "") -> int:
    """1 when an unwaived finding at or above `threshold` is among `findings` (for CI and cron)."""
    if threshold is None:
        return 0
    failing = [f for f in findings if f.waiver is None and f.severity.rank >= threshold.rank]
    if not failing:
        return 0
    err.print(f"kubeward: {len(failing)} unwaived {what}finding(s) at or above {threshold.value}", highlight=False)
    return 1


def _export(args: argparse.Namespace) -> int:
    report = load_report(args.report)
    if args.waivers:
        report = apply_waivers(report, load_waivers(args.waivers), datetime.now(UTC).date(), source=args.waivers)
    written = export_report(report, args.output, args.format)
    Console().print(Text(f"{args.format or guess_format(written)} export written to {written}"))
    return 0


def _review_import(args: argparse.Namespace) -> int:
    from audit.export.atomic import atomic_file
    from audit.review import import_review, waiver_summary
    from audit.waivers import dump_waivers

    existing = load_waivers(args.waivers) if args.waivers else ()
    report = load_report(args.report) if args.report else None
    result = import_review(args.workbook, existing, report=report)
    output = args.output or args.waivers or "waivers.yaml"
    try:
        with atomic_file(output) as out:
            out.write(dump_waivers(result.waivers).encode())
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    console = Console()
    console.print(Text(f"{output}: {waiver_summary(result)}"), soft_wrap=True)
    if result.problems:
        err = Console(stderr=True)
        err.print(Text(f"{len(result.problems)} decided row(s) not imported:", style="bold yellow"))
        for problem in result.problems:
            err.print(Text(f"  {problem}"), soft_wrap=True)
        return 1
    return 0


def _diff(args: argparse.Namespace) -> int:
    from audit.diff import diff_reports, print_diff

    old, new = load_report(args.old), load_report(args.new)
    diff = diff_reports(old, new)
    print_diff(diff, Console(), old_name=args.old, new_name=args.new)
    threshold = Severity(args.fail_on) if args.fail_on else None
    return _fail_on(diff.new, threshold, Console(stderr=True), what="new ")


def default_vulndb_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "share")
    return Path(base) / "kubeward" / "osv.sqlite"


def _db(args: argparse.Namespace) -> int:
    from rich.table import Table

    from collectors.vulndb.database import VulnDB, VulnDBError, import_osv

    path = Path(args.db) if args.db else default_vulndb_path()
    console = Console()
    try:
        if args.db_command in ("import", "update"):
            path.parent.mkdir(parents=True, exist_ok=True)
            result = import_osv(args.paths, path) if args.db_command == "import" else _db_update(args, path)
            console.print(f"imported {result.records} records ({result.withdrawn} withdrawn,"
                          f" {result.duplicates} duplicates) into {escape(str(path))} in {result.seconds:.1f}s")
            for problem in result.problems:
                console.print(Text(f"skipped {problem.source}:{problem.member}: {problem.reason}", style="yellow"))
            return 0
        with VulnDB(path) as db:
            status = db.status()
    except VulnDBError as error:
        raise CliError(str(error)) from None
    console.print(f"{escape(status.path)}: {status.records} records, imported {status.imported_at:%Y-%m-%d %H:%M}"
                  f" UTC ({status.age_days():.1f} days ago)")
    table = Table(show_edge=False)
    for column in ("ecosystem", "records", "newest record"):
        table.add_column(column, justify="right" if column == "records" else "left")
    for entry in status.ecosystems:
        table.add_row(entry.ecosystem, str(entry.records), entry.newest_modified)
    console.print(table)
    return 0


def _db_update(args: argparse.Namespace, path: Path):  # type: ignore[no-untyped-def]
    from collectors.vulndb.update import OSV_BASE_URL, OSV_ECOSYSTEMS, ecosystems_in_use, update_database

    ecosystems = list(args.ecosystem or ())
    if not ecosystems and args.from_report:
        ecosystems = ecosystems_in_use(load_report(args.from_report).inventory.images)
        if not ecosystems:
            raise CliError(f"{args.from_report}: its images use no ecosystem kubeward can match")
    return update_database(path, ecosystems or list(OSV_ECOSYSTEMS), base_url=args.base_url or OSV_BASE_URL)


def _cache(action: str) -> int:
    from collectors.images.cache import LayerCache

    cache = LayerCache()
    if action == "clear":
        cache.clear()
    entries, size = cache.stats()
    print(f"{cache.path}: {entries} layers, {size / 1e6:.1f} MB")
    return 0


def _image_scan(args: argparse.Namespace) -> int:
    """`kubeward image scan PATH|REF`: one image (or every image of an archive) on its own."""
    import msgspec

    from audit.pipeline import open_image_sources
    from collectors.images.archive import read_archive
    from collectors.images.cache import LayerCache
    from collectors.images.collector import ImageCollector
    from collectors.images.manifest import ImageSourceError, host_platform

    options = _image_options(args)
    path = Path(args.image)
    sources, closers = ([], []) if path.exists() else open_image_sources(options)
    collector = ImageCollector(sources=sources, cache=LayerCache(options.cache_dir))
    here = host_platform()
    try:
        if path.exists():
            images = [collector.build(read, source="archive")
                      for read in read_archive(path, scan=collector.scan, cache=collector.cache)]
        else:
            images = [collector.read([args.image], (here.os, here.architecture, here.variant or None))]
    except ImageSourceError as error:
        raise CliError(f"{args.image}: {error.reason}") from None
    finally:
        for close in closers:
            close()
        collector.cache.close()
    if args.output:
        try:
            write_atomic(Path(args.output), msgspec.json.encode(images))
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print_images(images, Console())
    return 0


def _checks(*, markdown: bool) -> int:
    from checks.catalogue import ordered, render_markdown

    if markdown:
        sys.stdout.write(render_markdown())
        return 0
    from rich.table import Table

    table = Table(title="kubeward checks", show_edge=False, expand=False)
    for column in ("id", "name", "category", "severity", "title"):
        table.add_column(column, no_wrap=column != "title")
    for c in ordered():
        table.add_row(c.id, c.name, c.category, Text(c.severity, style=SEVERITY_STYLES[c.severity]), c.title)
    Console().print(table)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from demo.apiserver import ApiServerDouble
    from demo.cluster import generate_cluster
    from demo.report import with_demo_audit_log, with_demo_images

    err = Console(stderr=True)
    review = _review_options(args)
    with err.status(f"generating a demo cluster of {args.pods} pods…"):
        objects = generate_cluster(pods=args.pods, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="kubeward-demo-") as tmp, ApiServerDouble(objects, tls=True) as server:
        kubeconfig = server.write_kubeconfig(Path(tmp) / "kubeconfig")
        if args.serve:
            print(kubeconfig, flush=True)
            err.print(f"serving the demo cluster at {server.url}; press Ctrl-C to stop", highlight=False)
            _wait_for_interrupt()
            return 0
        target = load_kube_target(str(kubeconfig))
        options = _options(args)
        if options.images is not None:
            options = with_demo_images(objects, Path(tmp), options, seed=args.seed)
        if not options.audit_logs:
            options = with_demo_audit_log(objects, Path(tmp), options, seed=args.seed, now=datetime.now(UTC))
        if args.output:
            return _scan(target, options, args.output, review=review)
        return _run_tui(target=target, options=options, kubeconfig=str(kubeconfig),
                        waivers_path=review.waivers_path or None, watch=args.watch)


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM, so the caller's cleanup (server, temp dir) runs."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_tui(
    *, target: KubeTarget | None = None, options: AuditOptions | None = None,
    report: Report | None = None, title: str = "", kubeconfig: str | None = None,
    waivers_path: str | None = None, watch: bool = False,
) -> int:
    from tui.app import KubewardApp

    waivers = load_waivers(waivers_path) if waivers_path else None
    app = KubewardApp(target=target, options=options or AuditOptions(), report=report, source_name=title,
                      kubeconfig=kubeconfig, waivers=waivers, waivers_path=waivers_path or "", watch=watch)
    app.run()
    if app.error:
        raise CliError(app.error)
    return 0


@contextmanager
def _progress_display(console: Console) -> Iterator[ProgressCallback]:
    """A rich progress display on stderr when it is a terminal; silence otherwise."""
    if not console.is_terminal or os.environ.get("TERM") == "dumb":
        yield ignore_progress
        return
    from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    tasks: dict[tuple[str, str], object] = {}
    with RichProgress(
        SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(bar_width=None),
        TextColumn("{task.fields[count]:>8} objects"), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        def on_progress(event: Progress) -> None:
            if event.task == "cluster":
                return
            task = tasks.get(event.key)
            if task is None:
                task = tasks[event.key] = bar.add_task(f"{event.source}: {event.task}", total=None, count=0)
            if event.done:
                bar.update(task, total=1, completed=1, count=event.count,  # type: ignore[arg-type]
                           description=f"{event.source}: {event.task}{' (failed)' if event.failed else ''}")
            else:
                bar.update(task, count=event.count)  # type: ignore[arg-type]

        yield on_progress
