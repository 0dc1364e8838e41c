"""Findings as SARIF 2.1.0, for the code-scanning dashboards of CI systems.

One run; `tool.driver.rules` is the whole check catalogue (so a dashboard can
show a rule that found nothing this time), and each finding is a result with
its rule, level, message, the Kubernetes object as a logical location, and our
fingerprint as a partial fingerprint (`kubeward/v1`), which is what lets a
dashboard follow one problem across runs. A waived finding carries an external,
accepted suppression with the waiver's reason. Coverage gaps are the
invocation's notifications: what was not audited.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from audit.export.atomic import atomic_file
from audit.findings import Finding, Severity
from audit.report import Report
from checks.catalogue import ordered
from checks.engine import Check

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "kubeward/v1"

LEVELS = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                     Severity.LOW: "3.0", Severity.INFO: "0.0"}
"""The numeric `security-severity` property code-scanning dashboards sort and badge by."""


def sarif_log(report: Report) -> dict[str, Any]:
    rules = ordered()
    index = {check.id: position for position, check in enumerate(rules)}
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if report.meta.started:
        invocation["startTimeUtc"] = _utc(report.meta.started)
    if report.meta.finished:
        invocation["endTimeUtc"] = _utc(report.meta.finished)
    if report.gaps:
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": f"Not audited: {gap}"},
             "properties": {"source": gap.source, "reason": gap.reason}}
            for gap in report.gaps
        ]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "kubeward",
            "version": report.meta.tool_version,
            "rules": [_rule(check) for check in rules],
        }},
        "automationDetails": {"id": f"kubeward/{report.meta.context or 'cluster'}/"},
        "invocations": [invocation],
        "results": [_result(finding, index) for finding in report.findings],
        "properties": {"context": report.meta.context, "server": report.meta.server},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def write_sarif(report: Report, path: str | os.PathLike[str]) -> Path:
    with atomic_file(path) as out:
        out.write(msgspec.json.encode(sarif_log(report)))
    return Path(path)


def _rule(check: Check) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": check.id,
        "name": check.name,
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": check.rationale},
        "help": {
            "text": f"{check.rationale}\n\nRemediation: {check.remediation}",
            "markdown": f"{check.rationale}\n\n**Remediation:** {check.remediation}"
                        + "".join(f"\n- [{r.title}]({r.url})" for r in check.references),
        },
        "defaultConfiguration": {"level": LEVELS[check.severity]},
        "properties": {
            "tags": ["security", "kubernetes", check.category.value],
            "security-severity": SECURITY_SEVERITY[check.severity],
            "severity": check.severity.value,
        },
    }
    if check.references:
        rule["helpUri"] = check.references[0].url
    return rule


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    resource = finding.resource
    location: dict[str, Any] = {"name": resource.name, "fullyQualifiedName": str(resource), "kind": "resource",
                                "properties": {"kind": resource.kind, "namespace": resource.namespace or ""}}
    locations = [{"logicalLocations": [location]}]
    if finding.container:
        location["properties"]["container"] = finding.container
    if finding.field_path:
        location["properties"]["fieldPath"] = finding.field_path
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": locations,
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"severity": finding.severity.value, "category": finding.category.value,
                       "security-severity": SECURITY_SEVERITY[finding.severity]},
    }
    if finding.check_id in index:
        result["ruleIndex"] = index[finding.check_id]
    if finding.pods:
        result["properties"]["pods"] = list(finding.pods)
    if finding.observed is not None:
        result["properties"]["observed"] = finding.observed
    if finding.waiver is not None:
        waiver = finding.waiver
        suppression: dict[str, Any] = {
            "kind": "external", "status": "accepted",
            "justification": f"{waiver.status}: {waiver.reason} (owner {waiver.owner}, until {waiver.expires})",
            "properties": {"owner": waiver.owner, "expires": waiver.expires.isoformat(), "status": waiver.status},
        }
        if waiver.ticket:
            suppression["properties"]["ticket"] = waiver.ticket
        result["suppressions"] = [suppression]
    return result


def _utc(moment: Any) -> str:
    text = moment.isoformat()
    return text.replace("+00:00", "Z")
