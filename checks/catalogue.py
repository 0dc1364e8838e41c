"""The check catalogue: imports every check module (which registers its checks)
and renders the catalogue from their declarations, for `kubeward checks` and
`docs/checks.md`."""

from __future__ import annotations

from checks import (  # noqa: F401  (registration)
    exec_access,
    exec_evidence,
    hardening,
    images,
    isolation,
    network,
    node,
    patch_readiness,
    vulnerabilities,
    waivers,
)
from checks.engine import REGISTRY, Check

CATEGORY_ORDER = ("isolation", "exec-access", "vulnerability", "image", "node", "patch-readiness", "coverage")


def ordered() -> list[Check]:
    return sorted(REGISTRY.values(), key=lambda c: (CATEGORY_ORDER.index(c.category), c.id))


def render_markdown() -> str:
    """docs/checks.md, generated; a test fails when the committed file is stale."""
    lines = [
        "# Check catalogue",
        "",
        "Generated from the check declarations by `kubeward checks --markdown > docs/checks.md`;"
        " do not edit by hand.",
        "",
        "| id | name | category | severity | target | title |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    checks = ordered()
    for c in checks:
        link = f"[{c.id}](#{c.id.lower()})"
        lines.append(f"| {link} | `{c.name}` | {c.category} | {c.severity} | {c.target} | {c.title} |")
    for c in checks:
        lines += [
            "",
            f"## {c.id}",
            "",
            f"**{c.title}** · `{c.name}` · {c.category} · {c.severity}"
            + (" · lowered one step in a gVisor/Kata sandbox" if c.escape else ""),
            "",
            c.rationale,
            "",
            f"*Remediation:* {c.remediation}",
        ]
        if c.references:
            lines.append("")
            lines += [f"- [{r.title}]({r.url})" for r in c.references]
    return "\n".join(lines) + "\n"
