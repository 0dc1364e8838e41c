"""SARIF 2.1.0, checked against the structure the 2.1.0 schema requires.

The schema (OASIS SARIF 2.1.0, `sarif-schema-2.1.0.json`) closes every object it
defines (`additionalProperties: false`) and names each one's required properties.
`SHAPES` below restates, for every object kubeward writes, the properties that
schema allows, which of them are required, and the enumerations it fixes; the
check walks the log and fails on anything else.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import msgspec

from audit.export import export_report
from audit.export.sarif import FINGERPRINT_KEY
from audit.findings import Waiver
from audit.report import Report
from checks.catalogue import ordered

# object → (allowed properties, required properties)
SHAPES: dict[str, tuple[set[str], set[str]]] = {
    "sarifLog": ({"$schema", "version", "runs", "inlineExternalProperties", "properties"}, {"version", "runs"}),
    "run": ({"tool", "invocations", "conversion", "language", "versionControlProvenance", "originalUriBaseIds",
             "artifacts", "logicalLocations", "graphs", "results", "automationDetails", "runAggregates",
             "baselineGuid", "redactionTokens", "defaultEncoding", "defaultSourceLanguage", "newlineSequences",
             "columnKind", "externalPropertyFileReferences", "threadFlowLocations", "taxonomies", "addresses",
             "translations", "policies", "webRequests", "webResponses", "specialLocations", "properties"}, {"tool"}),
    "tool": ({"driver", "extensions", "properties"}, {"driver"}),
    "toolComponent": ({"guid", "name", "organization", "product", "productSuite", "shortDescription",
                       "fullDescription", "fullName", "version", "semanticVersion", "dottedQuadFileVersion",
                       "releaseDateUtc", "downloadUri", "informationUri", "globalMessageStrings", "notifications",
                       "rules", "taxa", "locations", "language", "contents", "isComprehensive",
                       "localizedDataSemanticVersion", "minimumRequiredLocalizedDataSemanticVersion",
                       "associatedComponent", "translationMetadata", "supportedTaxonomies", "properties"}, {"name"}),
    "reportingDescriptor": ({"id", "deprecatedIds", "guid", "deprecatedGuids", "name", "deprecatedNames",
                             "shortDescription", "fullDescription", "messageStrings", "defaultConfiguration",
                             "helpUri", "help", "relationships", "properties"}, {"id"}),
    "multiformatMessageString": ({"text", "markdown", "properties"}, {"text"}),
    "reportingConfiguration": ({"enabled", "level", "rank", "parameters", "properties"}, set()),
    "runAutomationDetails": ({"description", "id", "guid", "correlationGuid", "properties"}, set()),
    "invocation": ({"commandLine", "arguments", "responseFiles", "startTimeUtc", "endTimeUtc", "exitCode",
                    "ruleConfigurationOverrides", "notificationConfigurationOverrides", "toolExecutionNotifications",
                    "toolConfigurationNotifications", "exitCodeDescription", "exitSignalName", "exitSignalNumber",
                    "processStartFailureMessage", "executionSuccessful", "machine", "account", "processId",
                    "executableLocation", "workingDirectory", "environmentVariables", "stdin", "stdout", "stderr",
                    "stdoutStderr", "properties"}, {"executionSuccessful"}),
    "notification": ({"locations", "message", "level", "threadId", "timeUtc", "exception", "descriptor",
                      "associatedRule", "properties"}, {"message"}),
    "result": ({"ruleId", "ruleIndex", "rule", "kind", "level", "message", "analysisTarget", "locations", "guid",
                "correlationGuid", "occurrenceCount", "partialFingerprints", "fingerprints", "stacks", "codeFlows",
                "graphs", "graphTraversals", "relatedLocations", "suppressions", "baselineState", "rank",
                "attachments", "hostedViewerUri", "workItemUris", "provenance", "fixes", "taxa", "webRequest",
                "webResponse", "properties"}, {"message"}),
    "message": ({"text", "markdown", "id", "arguments", "properties"}, set()),
    "location": ({"id", "physicalLocation", "logicalLocations", "message", "annotations", "relationships",
                  "properties"}, set()),
    "logicalLocation": ({"name", "index", "fullyQualifiedName", "decoratedName", "parentIndex", "kind",
                         "properties"}, set()),
    "suppression": ({"guid", "kind", "status", "justification", "location", "properties"}, {"kind"}),
}
LEVELS = {"none", "note", "warning", "error"}


def check(kind: str, value: Any, where: str, problems: list[str]) -> None:
    allowed, required = SHAPES[kind]
    if not isinstance(value, dict):
        problems.append(f"{where}: {kind} is not an object")
        return
    problems += [f"{where}: {kind} does not allow {key!r}" for key in sorted(set(value) - allowed)]
    problems += [f"{where}: {kind} needs {key!r}" for key in sorted(required - set(value))]
    if "properties" in value:
        bag = value["properties"]
        if not isinstance(bag, dict) or not isinstance(bag.get("tags", []), list):
            problems.append(f"{where}: properties is not a property bag")


def validate(log: dict[str, Any]) -> list[str]:
    """Every problem with `log` against the SARIF 2.1.0 schema, as far as the objects kubeward writes go."""
    problems: list[str] = []
    check("sarifLog", log, "log", problems)
    if log.get("version") != "2.1.0":
        problems.append("log: version must be 2.1.0")
    for r, run in enumerate(log.get("runs", [])):
        where = f"runs[{r}]"
        check("run", run, where, problems)
        check("tool", run["tool"], f"{where}.tool", problems)
        driver = run["tool"]["driver"]
        check("toolComponent", driver, f"{where}.tool.driver", problems)
        rules = driver.get("rules", [])
        ids = [rule.get("id") for rule in rules]
        if len(ids) != len(set(ids)):
            problems.append(f"{where}: rule ids are not unique")
        for i, rule in enumerate(rules):
            at = f"{where}.rules[{i}]"
            check("reportingDescriptor", rule, at, problems)
            for key in ("shortDescription", "fullDescription", "help"):
                if key in rule:
                    check("multiformatMessageString", rule[key], f"{at}.{key}", problems)
            if "defaultConfiguration" in rule:
                check("reportingConfiguration", rule["defaultConfiguration"], f"{at}.defaultConfiguration", problems)
                if rule["defaultConfiguration"].get("level", "warning") not in LEVELS:
                    problems.append(f"{at}: bad level")
        if "automationDetails" in run:
            check("runAutomationDetails", run["automationDetails"], f"{where}.automationDetails", problems)
        for i, invocation in enumerate(run.get("invocations", [])):
            check("invocation", invocation, f"{where}.invocations[{i}]", problems)
            for n, note in enumerate(invocation.get("toolExecutionNotifications", [])):
                check("notification", note, f"{where}.invocations[{i}].notifications[{n}]", problems)
                check("message", note["message"], f"{where}.notifications[{n}].message", problems)
        for i, result in enumerate(run.get("results", [])):
            at = f"{where}.results[{i}]"
            check("result", result, at, problems)
            check("message", result["message"], f"{at}.message", problems)
            if not ({"text", "id"} & set(result["message"])):
                problems.append(f"{at}: message needs text or id")
            if result.get("level", "warning") not in LEVELS:
                problems.append(f"{at}: bad level {result.get('level')}")
            if "ruleIndex" in result and (not isinstance(result["ruleIndex"], int)
                                          or rules[result["ruleIndex"]]["id"] != result.get("ruleId")):
                problems.append(f"{at}: ruleIndex does not point at ruleId")
            if not all(isinstance(v, str) for v in result.get("partialFingerprints", {}).values()):
                problems.append(f"{at}: partialFingerprints must map to strings")
            for loc_index, location in enumerate(result.get("locations", [])):
                check("location", location, f"{at}.locations[{loc_index}]", problems)
                for logical in location.get("logicalLocations", []):
                    check("logicalLocation", logical, f"{at}.logicalLocation", problems)
            for suppression in result.get("suppressions", []):
                check("suppression", suppression, f"{at}.suppression", problems)
                if suppression.get("kind") not in ("inSource", "external"):
                    problems.append(f"{at}: bad suppression kind")
                if suppression.get("status", "accepted") not in ("accepted", "underReview", "rejected"):
                    problems.append(f"{at}: bad suppression status")
    return problems


def test_the_validator_finds_what_the_schema_forbids() -> None:
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "rules": [{"name": "no id"}]}},
                                            "results": [{"ruleId": "A", "level": "fatal", "message": {},
                                                         "extra": 1}]}]}
    problems = validate(broken)
    assert "runs[0].rules[0]: reportingDescriptor needs 'id'" in problems
    assert "runs[0].results[0]: result does not allow 'extra'" in problems
    assert "runs[0].results[0]: bad level fatal" in problems
    assert "runs[0].results[0]: message needs text or id" in problems
    assert validate({"runs": []}) == ["log: sarifLog needs 'version'", "log: version must be 2.1.0"]


def test_sarif_log_has_the_required_structure(report: Report, tmp_path: Path) -> None:
    waiver = Waiver(owner="alice", reason="accepted for the demo", expires=date(2030, 1, 1), ticket="SEC-1")
    waived = msgspec.structs.replace(report, findings=(
        msgspec.structs.replace(report.findings[0], waiver=waiver), *report.findings[1:]))
    log = json.loads(export_report(waived, tmp_path / "kubeward.sarif").read_bytes())
    assert validate(log) == []
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.id for c in ordered()]
    results = run["results"]
    assert len(results) == len(report.findings)
    assert {r["partialFingerprints"][FINGERPRINT_KEY] for r in results} == {f.fingerprint for f in report.findings}
    first = results[0]
    finding = report.findings[0]
    assert first["ruleId"] == finding.check_id and rules[first["ruleIndex"]]["id"] == finding.check_id
    assert first["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == str(finding.resource)
    assert first["suppressions"][0]["kind"] == "external" and "accepted for the demo" in first["suppressions"][0][
        "justification"]
    assert all("suppressions" not in r for r in results[1:])
    levels = {r["level"] for r in results}
    assert levels <= LEVELS and "error" in levels
