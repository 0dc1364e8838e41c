"""A finding's evidence: the object it is about, as YAML, with the offending field marked.

`object_of` finds the object a finding names in the Inventory; `yaml_lines`
renders it as YAML lines, each knowing the field path it shows, so the lines
at (or under) the finding's `field_path` can be highlighted; `excerpt` keeps
the lines around them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from audit.findings import Finding
from audit.model import Inventory, ObjectRef

_PLAIN = re.compile(r"^[A-Za-z0-9_./@:+=, -]*$")
_YAML_WORDS = ("true", "false", "null", "yes", "no", "on", "off", "~")


@dataclass(frozen=True)
class YamlLine:
    lead: str
    """Indentation and any list dash before the key."""
    key: str | None
    """The mapping key on this line; None for a list item or a bare value."""
    value: str
    """What follows the key (empty when the value is on the lines below)."""
    path: str
    """The field path this line shows, e.g. `spec.containers[0].securityContext.privileged`."""
    marked: bool = False

    @property
    def text(self) -> str:
        if self.key is None:
            return self.lead + self.value
        return f"{self.lead}{self.key}:{' ' + self.value if self.value else ''}"


def object_of(inventory: Inventory, ref: ObjectRef) -> Any | None:
    """The object a finding is about, as plain JSON-like data (camelCase keys), or None."""
    kind, name, namespace = ref.kind, ref.name, ref.namespace
    if kind == "Pod":
        found: Any = next((p for p in inventory.pods if p.name == name and p.namespace == namespace), None)
    elif kind == "Node":
        found = inventory.nodes_by_name.get(name)
    elif kind == "Namespace":
        found = inventory.namespaces_by_name.get(name)
    elif kind == "Image":
        found = next((i for i in inventory.images if name in i.references or i.digest == name), None)
        if found is not None:
            found = {"digest": found.digest, "references": list(found.references),
                     "config": msgspec.to_builtins(found.config),
                     "os": msgspec.to_builtins(found.os_release) if found.os_release else None,
                     "layers": [layer.created_by for layer in found.layers]}
    else:
        found = inventory.workloads_by_ref.get(ref)
        if found is None:
            pools = {"Role": inventory.roles, "ClusterRole": inventory.roles, "RoleBinding": inventory.role_bindings,
                     "ClusterRoleBinding": inventory.role_bindings, "ServiceAccount": inventory.service_accounts,
                     "NetworkPolicy": inventory.network_policies, "Service": inventory.services,
                     "PodDisruptionBudget": inventory.pod_disruption_budgets,
                     "RuntimeClass": inventory.runtime_classes}
            found = next((o for o in pools.get(kind, ())
                          if getattr(o, "kind", None) in (kind, None) and o.metadata.name == name
                          and o.metadata.namespace == namespace), None)
    if found is None:
        return None
    data = msgspec.json.decode(msgspec.json.encode(found))  # plain JSON values: lists, not tuples
    if isinstance(data, dict):
        data.pop("ownerChain", None)
        data = {"kind": kind, **{k: v for k, v in data.items() if k != "kind"}}
    return data


def yaml_lines(value: Any, marked_path: str | None = None) -> list[YamlLine]:
    lines: list[YamlLine] = []
    _emit(value, "", 0, lines)
    if not marked_path:
        return lines
    known: set[str] = set()
    for line in lines:
        path = line.path
        while path and path not in known:
            known.add(path)
            path = _parent(path)
    target = _best_path(known, marked_path)
    return [dataclasses.replace(line, marked=True) if _under(line.path, target) else line for line in lines]


def excerpt(lines: list[YamlLine], before: int = 6, after: int = 14) -> list[YamlLine | None]:
    """The lines around the marked ones; None stands for lines left out."""
    marked = [i for i, line in enumerate(lines) if line.marked]
    if not marked:
        return list(lines[: before + after])
    start, end = max(0, marked[0] - before), min(len(lines), marked[-1] + after + 1)
    out: list[YamlLine | None] = []
    if start > 0:
        out.append(None)
    out.extend(lines[start:end])
    if end < len(lines):
        out.append(None)
    return out


def finding_evidence(inventory: Inventory, finding: Finding) -> list[YamlLine | None]:
    obj = object_of(inventory, finding.resource)
    if obj is None:
        return []
    path = finding.field_path
    observed = finding.observed
    if path is None and finding.resource.kind == "Image" and isinstance(observed, dict):
        layer = observed.get("layer")
        if isinstance(layer, int):
            path = f"layers[{layer}]"  # the build step that put the package there
    return excerpt(yaml_lines(obj, path))


def _best_path(paths: set[str], wanted: str) -> str:
    """`wanted` if the object has it, else its deepest ancestor that exists (a missing
    field is evidence too: its parent is where it should have been)."""
    candidate = wanted
    while candidate:
        if candidate in paths:
            return candidate
        candidate = _parent(candidate)
    return ""


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _under(path: str, target: str) -> bool:
    return bool(target) and (path == target or path.startswith(target + ".") or path.startswith(target + "["))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    plain = _PLAIN.match(text) and text.strip() == text and text.lower() not in _YAML_WORDS
    if text and plain and not text[0].isdigit() and not text.startswith(("-", ":", "@")):
        return text
    return json.dumps(text, ensure_ascii=False)


def _emit(value: Any, path: str, indent: int, out: list[YamlLine], first_prefix: str | None = None) -> None:
    pad = "  " * indent
    if isinstance(value, dict):
        for i, (key, item) in enumerate(value.items()):
            child = f"{path}.{key}" if path else str(key)
            lead = first_prefix if (first_prefix is not None and i == 0) else pad
            if isinstance(item, dict) and item:
                out.append(YamlLine(lead, str(key), "", child))
                _emit(item, child, indent + 1, out)
            elif isinstance(item, list | tuple) and item:
                out.append(YamlLine(lead, str(key), "", child))
                _emit(list(item), child, indent, out)
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list | tuple) else _scalar(item)
                out.append(YamlLine(lead, str(key), empty, child))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            child = f"{path}[{i}]"
            if isinstance(item, dict) and item:
                _emit(item, child, indent + 1, out, first_prefix=f"{pad}- ")
            elif isinstance(item, list) and item:
                out.append(YamlLine(f"{pad}-", None, "", child))
                _emit(item, child, indent + 1, out)
            else:
                out.append(YamlLine(f"{pad}- ", None, _scalar(item), child))
    else:
        out.append(YamlLine(pad, None, _scalar(value), path))
