"""The findings list: filter syntax, and filtering, sorting and grouping checked against plain loops."""

from __future__ import annotations

import pytest

from audit.findings import Severity
from audit.query import FindingQuery, FindingsView, Grouping, QueryError, SortKey, parse_query


def test_parse_query_reads_every_kind_of_word() -> None:
    query = parse_query("privileged -kube-system sev:HIGH cat:iso ns:shop,payments check:KW-ISO kind:DaemonSet"
                        " waived:no")
    assert query == FindingQuery(words=("privileged",), without=("kube-system",), min_severity=Severity.HIGH,
                                 categories=("iso",), namespaces=("shop", "payments"), checks=("kw-iso",),
                                 kinds=("daemonset",), waived=False)
    assert parse_query("   ").empty
    assert parse_query("foo:bar").words == ("foo:bar",)  # an unknown key is just a word
    assert parse_query("sev:crit").min_severity is Severity.CRITICAL  # a prefix names a severity
    assert parse_query("sev: priv").empty is False and parse_query("sev:").empty  # still typing


@pytest.mark.parametrize("text", ["sev:severe", "waived:maybe", "sev:x"])
def test_parse_query_names_the_bad_word(text: str) -> None:
    with pytest.raises(QueryError, match=text.split(":")[1]):
        parse_query(text)


def test_filters_agree_with_plain_loops(demo_report) -> None:
    findings = demo_report.findings
    view = FindingsView(findings)
    assert len(view.rows()) == len(findings)

    def keys(text: str) -> set[str]:
        return {row.key.fingerprint for row in view.rows(parse_query(text))}

    assert keys("sev:high") == {f.fingerprint for f in findings if f.severity.rank >= Severity.HIGH.rank}
    assert keys("cat:isolation") == {f.fingerprint for f in findings if f.category == "isolation"}
    assert keys("ns:kube-system") == {f.fingerprint for f in findings if f.resource.namespace == "kube-system"}
    assert keys("check:KW-ISO-001") == {f.fingerprint for f in findings if f.check_id == "KW-ISO-001"}
    assert keys("kind:daemonset") == {f.fingerprint for f in findings if f.resource.kind == "DaemonSet"}
    privileged = {f.fingerprint for f in findings if "privileged" in f.message.lower()}
    assert privileged and privileged <= keys("privileged")
    assert keys("privileged -kube-system") == {
        f.fingerprint for f in findings if f.fingerprint in keys("privileged") and
        "kube-system" not in f"{f.resource} {f.message}".lower()} - {
        f.fingerprint for f in findings if f.resource.namespace == "kube-system"}
    assert keys("no-such-word-anywhere") == set()


def test_named_checks_match_by_name(demo_report) -> None:
    view = FindingsView(demo_report.findings, {"KW-ISO-001": "privileged-container"})
    by_name = view.rows(parse_query("check:privileged"))
    assert by_name and all(r.key.check_id == "KW-ISO-001" for r in by_name)


def test_sorts_are_orders(demo_report) -> None:
    view = FindingsView(demo_report.findings)
    ranks = [r.key.severity.rank for r in view.rows(sort=SortKey.SEVERITY)]
    assert ranks == sorted(ranks, reverse=True)
    checks = [r.key.check_id for r in view.rows(sort=SortKey.CHECK)]
    assert checks == sorted(checks)
    namespaces = [r.key.resource.namespace or "" for r in view.rows(sort=SortKey.NAMESPACE)]
    assert namespaces == sorted(namespaces)
    assert SortKey.CATEGORY.next() is SortKey.SEVERITY


def test_grouping_puts_a_header_before_each_group(demo_report) -> None:
    view = FindingsView(demo_report.findings)
    rows = view.rows(grouping=Grouping.CHECK)
    headers = [r for r in rows if r.key is None]
    assert len(headers) == len({f.check_id for f in demo_report.findings})
    assert len(rows) - len(headers) == len(demo_report.findings)
    current = None
    for r in rows:
        if r.key is None:
            current = r.cells[0].plain.split()[0]
        else:
            assert r.key.check_id == current
    by_workload = view.rows(grouping=Grouping.WORKLOAD)
    assert sum(r.key is None for r in by_workload) == len({str(f.resource) for f in demo_report.findings})


def test_typing_narrows_from_the_previous_result_and_agrees_with_a_fresh_filter(demo_report) -> None:
    typed = FindingsView(demo_report.findings)
    steps = ["p", "pr", "pri", "priv", "privileged", "privileged c", "privileged co", "privileged", "pr", "",
             "sev:high", "sev:high ca", "sev:medium ca", "-kube", "-kube-system"]
    for text in steps:
        fresh = FindingsView(demo_report.findings)
        assert [r.key for r in typed.rows(parse_query(text))] == [r.key for r in fresh.rows(parse_query(text))], text


def test_narrows() -> None:
    from audit.query import narrows

    assert narrows(parse_query("priv"), parse_query("pri"))
    assert narrows(parse_query("pri x"), parse_query("pri"))
    assert not narrows(parse_query("pr"), parse_query("pri"))
    assert not narrows(parse_query("pri sev:high"), parse_query("pri"))
    assert not narrows(parse_query("pri -a"), parse_query("pri"))
