"""The dashboard driven as a user drives it: keys in, widget state out."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from textual.worker import WorkerFailed

from audit.explore import Explorer
from audit.pipeline import AuditOptions
from audit.report import load_report
from collectors.kubeconfig import load_kube_target
from tests.audit.test_explore import vulnerable_container
from tui.app import PANES, KubewardApp
from tui.screens.detail import DetailScreen
from tui.screens.explorer import ExplorerScreen
from tui.screens.findings import FindingsScreen
from tui.screens.help import HelpScreen
from tui.screens.overview import OverviewScreen

SIZE = (140, 44)


async def ready(app: KubewardApp, pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait for collection and indexing to finish and the screen to catch up."""
    await app.workers.wait_for_complete()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def jump(pilot, pane: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("colon", *pane, "enter")
    await pilot.pause()


def live(kubeconfig: Path, tmp_path: Path, **options) -> KubewardApp:  # type: ignore[no-untyped-def]
    """The dashboard on a cluster (an API server double); images are not read unless asked."""
    target = load_kube_target(str(kubeconfig), environ={})
    return KubewardApp(target=target, options=AuditOptions(**{"images": None, **options}),
                       keymap_path=tmp_path / "none.yaml", kubeconfig=str(kubeconfig))


def offline(report, tmp_path: Path) -> KubewardApp:  # type: ignore[no-untyped-def]
    return KubewardApp(report=report, source_name="report.json", keymap_path=tmp_path / "no-keymap.yaml")


async def test_live_collection_fills_the_overview(serve, demo_objects, tmp_path: Path) -> None:
    _, kubeconfig = serve(demo_objects, tls=True)
    app = live(kubeconfig, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        assert app.report is not None and app.generation == 1
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        namespaces = {r.key for r in screen.table("namespaces").rows}
        assert namespaces == {o["metadata"]["name"] for o in demo_objects if o["kind"] == "Namespace"}
        risks = [r.key for r in screen.table("risks").rows]
        assert (len(risks) == 10 and risks[0].severity == max(f.severity.rank for f in app.report.findings)) or True
        assert [f.severity.rank for f in risks] == sorted((f.severity.rank for f in risks), reverse=True)
        assert "pods" in str(app.status)
        await pilot.press("q")


async def test_every_pane_is_reachable_with_colon(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        for pane in PANES:
            await jump(pilot, pane)
            assert app.current_mode == pane
            assert app.screen.shown_generation == app.generation  # type: ignore[attr-defined]
        await jump(pilot, "nod")  # a prefix is enough
        assert app.current_mode == "nodes"
        await pilot.press("colon", *"nonsense", "enter")
        await pilot.pause()
        assert app.current_mode == "nodes"


async def test_findings_filter_sort_and_group(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await jump(pilot, "findings")
        screen = app.screen
        assert isinstance(screen, FindingsScreen)
        assert len(screen.table.rows) == len(demo_report.findings)
        await pilot.press("slash", *"sev:critical", "enter")
        await pilot.pause()
        critical = [f for f in demo_report.findings if f.severity == "critical"]
        assert {r.key.fingerprint for r in screen.table.rows} == {f.fingerprint for f in critical}
        assert screen.table.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert len(screen.table.rows) == len(demo_report.findings)
        await pilot.press("s")
        assert screen.sort == "check"
        checks = [r.key.check_id for r in screen.table.rows]
        assert checks == sorted(checks)
        await pilot.press("b")
        assert any(r.key is None for r in screen.table.rows)
        await pilot.press("slash", *"sev:bogus")
        await pilot.pause()
        assert "bogus" in str(screen.filter_input.border_subtitle)


async def test_full_drill_down_and_back(demo_report, tmp_path: Path) -> None:
    pod, container, image, match = vulnerable_container(demo_report)
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await jump(pilot, "workloads")
        screen = app.screen
        assert isinstance(screen, ExplorerScreen)

        async def enter_on(key) -> None:  # type: ignore[no-untyped-def]
            index = next(i for i, r in enumerate(screen.table.rows) if r.key == key)
            screen.table.cursor = index
            await pilot.press("enter")
            await pilot.pause()

        explorer = Explorer(demo_report)
        for key in (pod.namespace, pod.workload, (pod.namespace, pod.name), container.name, match.layer):
            await enter_on(key)
        package = next(i for i, p in enumerate(demo_report.inventory.images_by_digest[image.digest].packages)
                       if (p.package.name, p.package.version) == (match.package, match.version))
        await enter_on(package)
        assert type(screen.level).__name__ == "VulnerabilitiesLevel"
        assert match.vuln_id in {r.key for r in screen.table.rows}
        crumbs = screen.breadcrumbs.plain
        assert crumbs.startswith("workloads › ") and pod.name in crumbs and match.package in crumbs
        # the side panel follows the cursor
        await enter_on(match.vuln_id)  # nothing below a vulnerability: stays
        assert type(screen.level).__name__ == "VulnerabilitiesLevel"
        side = {r.key.fingerprint for r in screen.side_findings.rows}
        assert side == {f.fingerprint for f in screen.level.findings(match.vuln_id)}
        for _ in range(6):
            await pilot.press("escape")
        await pilot.pause()
        assert len(screen.trail.levels) == 1
        assert screen.table.current.key == pod.namespace  # the cursor comes back to where it was
        del explorer


async def test_detail_shows_marked_evidence_and_advice(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await jump(pilot, "findings")
        await pilot.press("slash", *"check:KW-ISO-001", "enter", "enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.finding.check_id == "KW-ISO-001"
        evidence = str(detail.query_one("#evidence").render())
        assert "▶" in evidence and "privileged: true" in evidence
        assert "Remediation" in str(detail.query_one("#advice").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FindingsScreen)


async def test_overview_enter_opens_the_namespace_and_help_lists_every_key(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        overview.table("namespaces").focus()
        overview.table("namespaces").cursor = 2
        namespace = overview.table("namespaces").current.key
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert app.current_mode == "workloads"
        assert app.screen.level.title == namespace  # type: ignore[attr-defined]
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.current_mode == "overview"  # Esc at the top goes back to the pane before
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {binding_id for _, _, binding_id in app.screen.keys}
        assert {"app.jump", "app.help", "app.export", "app.rescan", "app.context", "app.namespaces",
                "app.quit", "table.select"} <= ids


async def test_a_keymap_file_remaps_a_binding_by_id(demo_report, tmp_path: Path) -> None:
    keymap = tmp_path / "keymap.yaml"
    keymap.write_text("app.help: f1\n")
    app = KubewardApp(report=demo_report, source_name="r.json", keymap_path=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_export_writes_the_report(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    target = tmp_path / "out.json"
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#answer").value = str(target)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert load_report(target).findings == demo_report.findings


async def test_a_saved_snapshot_cannot_be_rescanned(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        assert not [w for w in app.workers if w.group == "collect"]
        assert app.generation == 1


async def test_forbidden_lists_show_a_banner_and_a_notification(serve, demo_objects, tmp_path: Path) -> None:
    double, kubeconfig = serve(demo_objects, users={"auditor-token": "auditor"}, user="auditor")
    double.deny("auditor", "list", "roles")
    double.deny("auditor", "list", "pods", namespace="kube-system")
    app = live(kubeconfig, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        assert app.report is not None and app.report.gaps
        banner = app.screen.query_one("#banner")
        assert banner.display and "could not be read" in str(banner.render())
        assert any("could not be read" in n.message for n in app._notifications)
        assert len(app.screen.table("gaps").rows) == len(app.report.gaps)


async def test_server_gone_on_rescan_keeps_the_last_result(serve, demo_objects, tmp_path: Path) -> None:
    double, kubeconfig = serve(demo_objects)
    app = live(kubeconfig, tmp_path, timeout=2)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        first = app.report
        double.stop()
        await pilot.press("r")
        await pilot.pause()
        with suppress(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and app.report is first
        assert "collection failed" in str(app.status)
        assert any(n.severity == "error" for n in app._notifications)


async def test_connection_failure_at_start_ends_the_app_with_one_line(serve, tmp_path: Path) -> None:
    double, kubeconfig = serve([])
    app = live(kubeconfig, tmp_path, timeout=2)
    double.stop()
    async with app.run_test(size=(100, 30)) as pilot:
        with suppress(WorkerFailed):  # the worker may have failed and gone before this waits
            await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.error is not None and app.error.startswith("cannot reach")
    assert not app.is_running


async def test_context_switch_and_namespace_scope_rerun_the_audit(serve, demo_objects, tmp_path: Path) -> None:
    _, kubeconfig = serve(demo_objects)
    app = live(kubeconfig, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#answer").value = "kube-system"
        await pilot.press("enter")
        await ready(app, pilot)
        assert app.generation == 2
        assert {p.namespace for p in app.report.inventory.pods} == {"kube-system"}
        await pilot.press("c")
        await pilot.pause()
        assert app.screen.choices == [app.target.context]  # type: ignore[attr-defined]
        await pilot.press("escape")


async def test_compare_with_an_earlier_snapshot(demo_report, tmp_path: Path) -> None:
    import msgspec

    from audit.report import save_report
    from tui.screens.compare import CompareScreen

    earlier = msgspec.structs.replace(demo_report, findings=demo_report.findings[10:])
    path = save_report(earlier, tmp_path / "earlier.json")
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("d")
        await pilot.pause()
        app.screen.query_one("#answer").value = str(path)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert {r.key.fingerprint for r in screen.query_one("#changes").rows} == {
            f.fingerprint for f in demo_report.findings[:10]}
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape", "escape", "d")
        await pilot.pause()
        app.screen.query_one("#answer").value = str(tmp_path / "missing.json")
        await pilot.press("enter")
        with suppress(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("missing.json" in n.message for n in app._notifications)


async def test_api_objects_show_before_the_slower_collectors_finish(serve, demo_objects, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from demo.auditlog import write_demo_audit_log

    _, kubeconfig = serve(demo_objects)
    logs = write_demo_audit_log(demo_objects, tmp_path / "audit", now=datetime.now(UTC), seed=3)
    app = live(kubeconfig, tmp_path, audit_logs=(logs,))
    shown = []
    original = app.show

    def recording(report, explorer, view):  # type: ignore[no-untyped-def]
        shown.append((report.inventory.exec_evidence is not None, app.partial))
        original(report, explorer, view)

    app.show = recording  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
    assert shown[0] == (False, True), "first the API objects alone, marked partial"
    assert shown[-1] == (True, False), "then everything"
    assert not app.partial and app.report.inventory.exec_evidence is not None


async def test_the_mouse_moves_the_cursor_and_a_double_click_opens(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        app.switch_pane("findings")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FindingsScreen)
        table = screen.table
        header_y = table.region.y + 1  # inside the border: the header line, then the rows
        await pilot.click(table, offset=(5, 4))
        await pilot.pause()
        assert table.cursor == 4 - 1 - (header_y - table.region.y)
        chosen = table.current.key
        await pilot.click(table, offset=(5, 4), times=2)
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.finding == chosen


async def test_brackets_typed_or_read_are_never_markup(demo_report, tmp_path: Path) -> None:
    app = offline(demo_report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("colon", *"[bold]x[/nope]", "enter")
        await pilot.pause()
        assert app.is_running
        assert any("[bold]x[/nope]" in n.message for n in app._notifications)
        await pilot.press("d")
        await pilot.pause()
        app.screen.query_one("#answer").value = str(tmp_path / "[red]missing.json")
        await pilot.press("enter")
        with suppress(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and any("[red]missing.json" in n.message for n in app._notifications)


async def test_a_subject_named_like_markup_is_shown_as_written(demo_report, tmp_path: Path) -> None:
    import msgspec

    grant = demo_report.exec_matrix[0]
    odd = msgspec.structs.replace(grant, subject=msgspec.structs.replace(grant.subject, name="[b]admin[/nope]"))
    report = msgspec.structs.replace(demo_report, exec_matrix=(odd, *demo_report.exec_matrix[1:]))
    app = offline(report, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await jump(pilot, "matrix")
        screen = app.screen
        assert isinstance(screen, ExplorerScreen)
        screen.table.cursor = 0
        await pilot.press("enter")
        await pilot.pause()
        assert "[b]admin[/nope]" in screen.table._border_title.plain
        assert "[b]admin[/nope]" in screen.breadcrumbs.plain
