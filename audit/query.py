"""The findings list as plain data: one row per finding, filtered, sorted and grouped as list operations.

The dashboard's Findings pane and its `/` filter run on this; nothing here knows
about a terminal, so filtering 50,000 findings is a list comprehension over
precomputed lower-case text, tested as plain functions.

Filter syntax (words are ANDed, case-insensitive):

    privileged prod            both words appear somewhere in the row
    -kube-system               the word does not appear
    sev:high                   severity high or worse (`sev:info` … `sev:critical`; `sev:crit` will do)
    cat:isolation              category (prefix: `cat:iso`)
    ns:shop,payments           namespace, exactly one of the listed
    check:KW-ISO               check id or name (prefix)
    kind:DaemonSet             kind of the resource
    waived:yes / waived:no     waived findings only / unwaived only
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from rich.text import Text

from audit.explore import Column, Row, severity_text
from audit.findings import Finding, Severity


class QueryError(ValueError):
    """A filter that cannot be understood; the message says which word."""


@dataclass(frozen=True)
class FindingQuery:
    words: tuple[str, ...] = ()
    without: tuple[str, ...] = ()
    min_severity: Severity | None = None
    categories: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    waived: bool | None = None

    @property
    def empty(self) -> bool:
        return self == FindingQuery()


_KEYS = {"sev": "sev", "severity": "sev", "cat": "cat", "category": "cat", "ns": "ns", "namespace": "ns",
         "check": "check", "kind": "kind", "waived": "waived"}


def parse_query(text: str) -> FindingQuery:
    words: list[str] = []
    without: list[str] = []
    fields: dict[str, list[str]] = {}
    min_severity: Severity | None = None
    waived: bool | None = None
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep and key.lower() in _KEYS and not value:
            continue  # `sev:` still being typed: no condition yet
        if sep and key.lower() in _KEYS:
            name = _KEYS[key.lower()]
            if name == "sev":
                named = [s for s in Severity if s.value.startswith(value.lower())]
                if len(named) != 1:
                    raise QueryError(f"unknown severity {value!r} (critical, high, medium, low, info)")
                min_severity = named[0]
            elif name == "waived":
                if value.lower() not in ("yes", "no"):
                    raise QueryError(f"waived:{value}: say waived:yes or waived:no")
                waived = value.lower() == "yes"
            else:
                fields.setdefault(name, []).extend(v.lower() for v in value.split(",") if v)
        elif token.startswith("-") and len(token) > 1:
            without.append(token[1:].lower())
        else:
            words.append(token.lower())
    return FindingQuery(words=tuple(words), without=tuple(without), min_severity=min_severity,
                        categories=tuple(fields.get("cat", ())), namespaces=tuple(fields.get("ns", ())),
                        checks=tuple(fields.get("check", ())), kinds=tuple(fields.get("kind", ())), waived=waived)


class SortKey(enum.StrEnum):
    SEVERITY = "severity"
    CHECK = "check"
    RESOURCE = "resource"
    NAMESPACE = "namespace"
    CATEGORY = "category"

    def next(self) -> SortKey:
        return _following(self)


class Grouping(enum.StrEnum):
    NONE = "none"
    CHECK = "check"
    WORKLOAD = "workload"

    def next(self) -> Grouping:
        return _following(self)


_E = TypeVar("_E", bound=enum.Enum)


def _following(member: _E) -> _E:
    """The next member of its enum, round and round (what a key that cycles a setting shows next)."""
    members = list(type(member))
    return members[(members.index(member) + 1) % len(members)]


FINDING_COLUMNS = (Column("SEVERITY"), Column("CHECK"), Column("CATEGORY"), Column("NAMESPACE"),
                   Column("RESOURCE", max_width=48), Column("CONTAINER", max_width=24),
                   Column("MESSAGE", max_width=400))


@dataclass
class _Entry:
    finding: Finding
    row: Row
    check_text: str
    namespace: str
    kind: str


@dataclass
class FindingsView:
    """Every finding of a Report as rows, and the current filter, sort and grouping over them."""

    findings: Sequence[Finding]
    check_names: dict[str, str] = field(default_factory=dict)
    """Check id → kebab name, so `check:privileged` works too."""

    def __post_init__(self) -> None:
        self._entries = [self._entry(f) for f in self.findings]
        self._orders: dict[SortKey, list[_Entry]] = {}
        self._last: tuple[SortKey, FindingQuery, list[_Entry]] | None = None

    def _ordered(self, sort: SortKey) -> list[_Entry]:
        if sort not in self._orders:
            self._orders[sort] = sorted(self._entries, key=_SORTS[sort])
        return self._orders[sort]

    def _entry(self, finding: Finding) -> _Entry:
        resource = finding.resource
        name = f"{resource.kind}/{resource.name}"
        namespace = resource.namespace or ""
        check_name = self.check_names.get(finding.check_id, "")
        search = " ".join((finding.check_id, check_name, finding.category.value, namespace, name,
                           finding.container or "", finding.message)).lower()
        check_text = f"{finding.check_id} {check_name}".lower()
        row = Row(None, finding, search, make=lambda: _cells(finding, namespace, name))
        return _Entry(finding, row, check_text, namespace.lower(), resource.kind.lower())

    def __len__(self) -> int:
        return len(self._entries)

    def rows(self, query: FindingQuery = FindingQuery(), sort: SortKey = SortKey.SEVERITY,
             grouping: Grouping = Grouping.NONE) -> list[Row]:
        """The rows shown: filtered, sorted and, when grouped, with a header row (key None) per group.

        Each order is sorted once and filtering keeps it; a query that only narrows the previous
        one (more letters typed) filters the previous result instead of everything."""
        ordered = self._ordered(sort)
        if query.empty:
            entries = ordered
        else:
            base = ordered
            last = self._last
            if last is not None and last[0] is sort and narrows(query, last[1]):
                base = last[2]
            entries = _filter(base, query)
        self._last = (sort, query, entries)
        if grouping is Grouping.NONE:
            return [e.row for e in entries]
        group_of = _GROUPS[grouping]
        groups: dict[str, list[_Entry]] = {}
        for entry in entries:
            groups.setdefault(group_of(entry.finding), []).append(entry)
        out: list[Row] = []
        ranked = sorted(groups.items(), key=lambda kv: (-max(e.finding.severity.rank for e in kv[1]), kv[0]))
        for name, members in ranked:
            header = Text.assemble((name, "bold"), f"  {len(members)} finding{'s' if len(members) != 1 else ''}")
            if grouping is Grouping.CHECK:
                header.append(f"  {self.check_names.get(name, '')}", style="dim")
            out.append(Row((header,), None, name.lower()))
            out.extend(e.row for e in members)
        return out


def _cells(finding: Finding, namespace: str, name: str) -> tuple[Text, ...]:
    waived = finding.waiver is not None
    severity = severity_text(finding.severity, waived=waived)
    if waived:
        severity.append(" waived", style="italic dim")
    return (severity, Text(finding.check_id), Text(finding.category.value), Text(namespace), Text(name),
            Text(finding.container or ""), Text(finding.message))


def narrows(query: FindingQuery, previous: FindingQuery) -> bool:
    """True when every finding `query` matches is also matched by `previous`: the same field
    conditions, and each earlier word contained in some word now."""
    same_fields = (query.without == previous.without and query.min_severity == previous.min_severity
                   and query.categories == previous.categories and query.namespaces == previous.namespaces
                   and query.checks == previous.checks and query.kinds == previous.kinds
                   and query.waived == previous.waived)
    return same_fields and all(any(old in new for new in query.words) for old in previous.words)


def _filter(entries: list[_Entry], query: FindingQuery) -> list[_Entry]:
    words = query.words
    if query == FindingQuery(words=words):  # the common case, typing words: no per-row call
        if len(words) == 1:
            word = words[0]
            return [e for e in entries if word in e.row.search]
        return [e for e in entries if all(w in e.row.search for w in words)]
    return [e for e in entries if _matches(e, query)]


def _matches(entry: _Entry, query: FindingQuery) -> bool:
    finding = entry.finding
    if query.min_severity is not None and finding.severity.rank < query.min_severity.rank:
        return False
    if query.waived is not None and (finding.waiver is not None) != query.waived:
        return False
    if query.categories and not any(finding.category.value.startswith(c) for c in query.categories):
        return False
    if query.namespaces and entry.namespace not in query.namespaces:
        return False
    if query.kinds and entry.kind not in query.kinds:
        return False
    if query.checks and not any(_check_matches(entry.check_text, c) for c in query.checks):
        return False
    search = entry.row.search
    return all(w in search for w in query.words) and not any(w in search for w in query.without)


def _check_matches(check_text: str, wanted: str) -> bool:
    return any(part.startswith(wanted) for part in check_text.split())


def _resource_key(finding: Finding) -> tuple[str, str, str]:
    return (finding.resource.namespace or "", finding.resource.kind, finding.resource.name)


_SORTS: dict[SortKey, Callable[[_Entry], tuple]] = {
    SortKey.SEVERITY: lambda e: (e.finding.waiver is not None, -e.finding.severity.rank, e.finding.check_id,
                                 _resource_key(e.finding)),
    SortKey.CHECK: lambda e: (e.finding.check_id, -e.finding.severity.rank, _resource_key(e.finding)),
    SortKey.RESOURCE: lambda e: (_resource_key(e.finding), -e.finding.severity.rank, e.finding.check_id),
    SortKey.NAMESPACE: lambda e: (e.namespace, -e.finding.severity.rank, e.finding.check_id),
    SortKey.CATEGORY: lambda e: (e.finding.category.value, -e.finding.severity.rank, e.finding.check_id),
}

_GROUPS: dict[Grouping, Callable[[Finding], str]] = {
    Grouping.CHECK: lambda f: f.check_id,
    Grouping.WORKLOAD: lambda f: str(f.resource),
}


def category_severity_counts(findings: Iterable[Finding]) -> dict[str, dict[Severity, int]]:
    """Category → severity → unwaived findings, for the overview's matrix."""
    out: dict[str, dict[Severity, int]] = {}
    for finding in findings:
        if finding.waiver is None:
            counts = out.get(finding.category.value)
            if counts is None:
                counts = out[finding.category.value] = dict.fromkeys(Severity, 0)
            counts[finding.severity] += 1
    return out
