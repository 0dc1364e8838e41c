"""Evidence: the object as YAML lines that know their field paths."""

from __future__ import annotations

import yaml

from audit.evidence import excerpt, finding_evidence, object_of, yaml_lines
from audit.model import ObjectRef


def test_yaml_lines_are_yaml_that_reads_back_as_the_object(demo_report) -> None:
    inventory = demo_report.inventory
    for ref in (inventory.pods[0].workload, ObjectRef(kind="Pod", name=inventory.pods[0].name,
                                                       namespace=inventory.pods[0].namespace),
                ObjectRef(kind="Node", name=inventory.nodes[0].name)):
        obj = object_of(inventory, ref)
        assert obj is not None, ref
        text = "\n".join(line.text for line in yaml_lines(obj))
        assert yaml.safe_load(text) == obj


def test_the_field_path_is_marked_and_a_missing_field_marks_its_parent() -> None:
    obj = {"spec": {"containers": [{"name": "a", "securityContext": {"privileged": True, "runAsUser": 0}},
                                   {"name": "b"}]}}
    lines = yaml_lines(obj, "spec.containers[0].securityContext.privileged")
    assert [line.text.strip() for line in lines if line.marked] == ["privileged: true"]
    lines = yaml_lines(obj, "spec.containers[1].securityContext.readOnlyRootFilesystem")
    assert [line.text.strip() for line in lines if line.marked] == ["- name: b"]
    lines = yaml_lines(obj, "spec.containers[0].securityContext")
    assert [line.text.strip() for line in lines if line.marked] == ["securityContext:", "privileged: true",
                                                                      "runAsUser: 0"]


def test_excerpt_keeps_the_lines_around_the_mark() -> None:
    obj = {f"k{i}": i for i in range(100)}
    lines = yaml_lines(obj, "k50")
    cut = excerpt(lines, before=2, after=3)
    assert cut[0] is None and cut[-1] is None
    assert [line.text for line in cut[1:-1]] == ["k48: 48", "k49: 49", "k50: 50", "k51: 51", "k52: 52", "k53: 53"]


def test_every_finding_with_a_field_path_has_marked_evidence(demo_report) -> None:
    missing = []
    for finding in demo_report.findings:
        if finding.field_path and finding.resource.kind not in ("Image", "VulnerabilityDatabase"):
            lines = finding_evidence(demo_report.inventory, finding)
            if not any(line is not None and line.marked for line in lines):
                missing.append((finding.check_id, str(finding.resource), finding.field_path))
    assert not missing, missing[:5]


def test_a_vulnerability_marks_the_layer_that_brought_the_package(demo_report) -> None:
    finding = next(f for f in demo_report.findings if f.check_id == "KW-VULN-001")
    marked = [line.text for line in finding_evidence(demo_report.inventory, finding) if line and line.marked]
    image = next(i for i in demo_report.inventory.images if finding.resource.name in i.references)
    step = image.layers[finding.observed["layer"]].created_by
    assert len(marked) == 1 and step.strip('"') in marked[0]
