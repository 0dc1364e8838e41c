"""The waivers file: reviewers' decisions on findings, kept in git beside the cluster's manifests.

```yaml
waivers:
  - check_id: KW-ISO-001                 # selector: every field given must match
    namespace: monitoring
    workload: DaemonSet/node-exporter    # Kind/name, or just the name
    owner: alice@example.com             # required
    reason: reads host metrics; reviewed with the platform team   # required
    expires: 2027-03-31                  # required; the waiver covers nothing after this day
    status: accepted-risk                # accepted-risk (default), false-positive or fixed
    ticket: SEC-1234
  - fingerprint: "3f9c0a1b2c3d4e5f6a7b"  # one finding exactly (the Findings sheet has the column)
    owner: bob
    reason: false positive, the socket is read-only
    expires: 2027-01-15
    status: false-positive
```

The selector fields are `check_id`, `fingerprint`, `namespace`, `workload` and
`image` (an image reference as the pods name it, or its digest: it matches the
image's own findings and the findings of workloads whose containers run it).
A waiver needs at least one of them, and an owner, a reason and an expiry
date; anything else is refused with one line naming the file and the entry.

`apply_waivers` marks every finding a waiver covers (it stays in the Report,
shown as waived, never hidden), and adds the waiver checks' findings: expired
waivers and waivers that match nothing (`checks/waivers.py`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import msgspec
import yaml
from rich.console import Console
from rich.text import Text

from audit.findings import CheckStat, Finding, Waiver
from audit.model import Inventory, ObjectRef
from audit.report import Report
from checks.config import Config
from checks.engine import CheckContext, Target, all_checks
from checks.waivers import SELECTORS, WaiverUse

STATUSES = ("accepted-risk", "false-positive", "fixed")
"""What a reviewer decided; `open` findings have no waiver."""

_FIELDS = tuple(Waiver.__struct_fields__)
_TEXT_FIELDS = ("owner", "reason", "status", "ticket", *SELECTORS)


class WaiverError(Exception):
    """A waivers file kubeward cannot use; one line naming the file and the entry."""


def load_waivers(path: str | os.PathLike[str]) -> tuple[Waiver, ...]:
    """Read and check a waivers file. An empty file, or `waivers: []`, has no waivers."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WaiverError(f"{path}: cannot read waivers file ({reason})") from None
    return parse_waivers(text, source=str(path))


def parse_waivers(text: str, *, source: str = "<waivers>") -> tuple[Waiver, ...]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise WaiverError(f"{source}: not a YAML waivers file ({problem}{where})") from None
    if document is None:
        return ()
    if not isinstance(document, dict) or set(document) - {"waivers"}:
        raise WaiverError(f"{source}: a waivers file is a mapping with one key, `waivers:` (a list)")
    entries = document.get("waivers") or []
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: `waivers:` must be a list")
    return tuple(_parse_entry(entry, f"{source}: waiver {index}") for index, entry in enumerate(entries, 1))


def _parse_entry(entry: object, where: str) -> Waiver:
    if not isinstance(entry, dict):
        raise WaiverError(f"{where}: each waiver is a mapping of fields")
    label = next((f"{where} ({entry[k]})" for k in ("check_id", "fingerprint") if isinstance(entry.get(k), str)),
                 where)
    unknown = sorted(str(k) for k in entry if k not in _FIELDS)
    if unknown:
        raise WaiverError(f"{label}: unknown field {', '.join(unknown)} (fields: {', '.join(_FIELDS)})")
    for name in _TEXT_FIELDS:
        value = entry.get(name)
        if value is not None and not isinstance(value, str):
            raise WaiverError(f"{label}: {name} must be text (quote it)")
    for name in ("owner", "reason"):
        if not (entry.get(name) or "").strip():
            raise WaiverError(f"{label}: no {name}; every waiver needs an owner, a reason and an expiry date")
    expires = entry.get("expires")
    if expires is None:
        raise WaiverError(f"{label}: no expiry date; every waiver needs `expires: YYYY-MM-DD`")
    if isinstance(expires, datetime):
        expires = expires.date()
    elif isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires.strip())
        except ValueError:
            raise WaiverError(f"{label}: expires {expires!r} is not a date (YYYY-MM-DD)") from None
    elif not isinstance(expires, date):
        raise WaiverError(f"{label}: expires must be a date (YYYY-MM-DD)")
    status = entry.get("status") or "accepted-risk"
    if status not in STATUSES:
        raise WaiverError(f"{label}: status {status!r} is not one of {', '.join(STATUSES)}")
    if not any(entry.get(name) for name in SELECTORS):
        raise WaiverError(f"{label}: selects nothing; give check_id, fingerprint, namespace, workload or image")
    fields = {name: value for name, value in entry.items() if value not in (None, "")}
    return Waiver(**{**fields, "expires": expires, "status": status})


def dump_waivers(waivers: Sequence[Waiver]) -> str:
    """The waivers file text: selector fields first, then the decision."""
    order = (*SELECTORS, "status", "owner", "reason", "ticket", "expires")
    entries = []
    for waiver in waivers:
        built = msgspec.to_builtins(waiver)
        built["expires"] = waiver.expires  # a YAML date, unquoted
        built["status"] = waiver.status
        entries.append({name: built[name] for name in order if name in built})
    header = "# kubeward waivers: reviewers' decisions on findings (see `kubeward review import`)\n"
    return header + yaml.safe_dump({"waivers": entries}, sort_keys=False, allow_unicode=True, width=100)


# --- applying -------------------------------------------------------------------------------


class WaiverMatcher:
    """Whether a waiver's selector matches a finding, with the inventory's images indexed once."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._digests: dict[str, set[str]] = {}
        for image in inventory.images:
            for name in (image.digest, *image.references):
                self._digests.setdefault(name, set()).add(image.digest)
        self._workload_images: dict[ObjectRef, frozenset[str]] = {}

    def matches(self, waiver: Waiver, finding: Finding) -> bool:
        resource = finding.resource
        if waiver.fingerprint is not None and waiver.fingerprint != finding.fingerprint:
            return False
        if waiver.check_id is not None and waiver.check_id != finding.check_id:
            return False
        if waiver.namespace is not None and waiver.namespace != resource.namespace:
            return False
        if waiver.workload is not None and not _names_workload(waiver.workload, resource):
            return False
        return waiver.image is None or self._runs_image(waiver.image, resource)

    def _runs_image(self, image: str, resource: ObjectRef) -> bool:
        wanted = {image} | self._digests.get(image, set())
        if resource.kind == "Image":
            return bool(wanted & ({resource.name} | self._digests.get(resource.name, set())))
        return bool(wanted & self._images_of(resource))

    def _images_of(self, resource: ObjectRef) -> frozenset[str]:
        """The image references and digests the containers of a workload's pods run."""
        found = self._workload_images.get(resource)
        if found is None:
            names: set[str] = set()
            for pod in self.inventory.pods_by_workload.get(resource, ()):
                names.update(c.image for _, c in pod.spec.all_containers() if c.image)
                for status in (*pod.status.init_container_statuses, *pod.status.container_statuses,
                               *pod.status.ephemeral_container_statuses):
                    if status.digest:
                        names.add(status.digest)
            found = self._workload_images[resource] = frozenset(names)
        return found


def _names_workload(selector: str, resource: ObjectRef) -> bool:
    parts = selector.split("/")
    if len(parts) == 1:
        return parts[0] == resource.name
    if len(parts) == 2:
        return parts[0] == resource.kind and parts[1] == resource.name
    if len(parts) == 3:
        return (parts[0], parts[1], parts[2]) == (resource.kind, resource.namespace, resource.name)
    return False


def waiver_check_ids() -> frozenset[str]:
    return frozenset(c.id for c in all_checks() if c.target == Target.WAIVERS)


def apply_waivers(report: Report, waivers: Sequence[Waiver], today: date, *, source: str = "waivers file") -> Report:
    """The Report with every finding a current waiver covers marked as waived, and the waiver checks'
    findings added. Applying again (another file, another day) first undoes the previous application."""
    declared = [c for c in all_checks() if c.target == Target.WAIVERS]
    own = {c.id for c in declared}
    matcher = WaiverMatcher(report.inventory)
    by_fingerprint: dict[str, list[int]] = {}
    general: list[int] = []
    for index, waiver in enumerate(waivers):
        (by_fingerprint.setdefault(waiver.fingerprint, []) if waiver.fingerprint else general).append(index)
    matched = [0] * len(waivers)
    findings: list[Finding] = []
    for finding in report.findings:
        if finding.check_id in own:
            continue
        cover: Waiver | None = None
        candidates = sorted((*by_fingerprint.get(finding.fingerprint, ()), *general))
        for index in candidates:
            waiver = waivers[index]
            if matcher.matches(waiver, finding):
                matched[index] += 1
                if cover is None and waiver.expires >= today:
                    cover = waiver
        if cover is not finding.waiver:
            finding = msgspec.structs.replace(finding, waiver=cover)
        findings.append(finding)
    ctx = CheckContext(report.inventory, Config())
    stats = [s for s in report.check_stats if s.check_id not in own]
    for check in declared:
        failed = 0
        for index, waiver in enumerate(waivers):
            use = WaiverUse(waiver=waiver, entry=f"{source}, waiver {index + 1}", matched=matched[index], today=today)
            hits = list(check.func(use, ctx))
            failed += bool(hits)
            findings.extend(
                Finding.create(check_id=check.id, category=check.category, severity=hit.severity or check.severity,
                               resource=hit.resource or ObjectRef(kind="Waiver", name=str(index + 1)),
                               message=hit.message, observed=hit.observed, detail=hit.detail)
                for hit in hits)
        stats.append(CheckStat(check_id=check.id, evaluated=len(waivers), failed=failed))
    return msgspec.structs.replace(report, findings=tuple(findings), check_stats=tuple(stats))


def unwaived(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.waiver is None]


def print_waiver_summary(report: Report, console: Console) -> None:
    """One line for the command line: how many findings are waived, and the waivers needing attention."""
    waived = sum(f.waiver is not None for f in report.findings)
    expired = sum(f.check_id == "KW-WAIVE-001" for f in report.findings)
    unmatched = sum(f.check_id == "KW-WAIVE-002" for f in report.findings)
    line = Text(f"Waivers: {waived} finding(s) waived (shown as waived, not hidden)")
    if expired or unmatched:
        line.append(f"; {expired} waiver(s) expired, {unmatched} matching nothing", style="yellow")
    console.print(line)
