"""Vulnerability checks (KW-VULN-001 … KW-VULN-004): known vulnerable packages in the running images.

The matches come from the offline OSV database (`collectors/vulndb/scan.py`) as
`Inventory.vulnerabilities`; this module only judges them. One finding per
(image, vulnerability, package), named after the image (`Image/nginx:1.27`), with the
workloads that run it, the layer that brought the package in (base image or one of
your own build steps) and the fixed version, or "no fix yet".

Severity is the record's (CVSS v4.0 or v3 base score, else the ecosystem's own rating). A record
with no rating at all is reported as medium: not critical without evidence, and never
silently low. Without a database (`Inventory.vulndb` unset) these checks find nothing;
the missing database is the Report's coverage gap.
"""

from __future__ import annotations

from collections.abc import Iterator

from audit.findings import Category, Severity
from audit.images import ImageInventory
from audit.model import ObjectRef
from audit.trivy import compare_with_trivy
from audit.vulns import VulnMatch
from checks.config import Config
from checks.engine import CheckContext, Hit, Reference, Target, check

MAX_DB_AGE_DAYS = Config().vulndb_max_age_days
"""A database imported longer ago than this misses the vulnerabilities published since."""

_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM,
             "low": Severity.LOW, "unknown": Severity.MEDIUM}
_STEP_CHARS = 80

NIST_800_190 = Reference(
    "NIST SP 800-190 Application Container Security Guide, 4.1.1 Image vulnerabilities",
    "https://csrc.nist.gov/pubs/sp/800/190/final",
)
NSA_GUIDE = Reference(
    "NSA/CISA Kubernetes Hardening Guide 1.2: scanning containers and pods for vulnerabilities",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)
OSV = Reference("OSV: open source vulnerability database and schema", "https://osv.dev/")
EXPLOIT_PUBLIC_FACING = Reference(
    "MITRE ATT&CK T1190: Exploit Public-Facing Application", "https://attack.mitre.org/techniques/T1190/"
)


@check(
    id="KW-VULN-001",
    name="vulnerable-package-fix-available",
    title="Known vulnerable package with a fix available",
    category=Category.VULNERABILITY,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""A running image holds a package version with a published vulnerability, and the
    distribution or project has released a fixed version. Known, fixable vulnerabilities are what
    attackers scan for first.""",
    remediation="""Rebuild the image so that it installs the fixed version: on a newer base image
    when the package comes from the base, or by upgrading it in your own build step; then redeploy
    the workloads that run it.""",
    references=(NIST_800_190, NSA_GUIDE, OSV, EXPLOIT_PUBLIC_FACING),
)
def vulnerable_package_fix_available(_: object, ctx: CheckContext) -> Iterator[Hit]:
    yield from _hits(ctx, fixed=True)


@check(
    id="KW-VULN-002",
    name="vulnerable-package-no-fix",
    title="Known vulnerable package with no fix yet",
    category=Category.VULNERABILITY,
    severity=Severity.MEDIUM,
    target=Target.CLUSTER,
    rationale="""A running image holds a package version with a published vulnerability for which
    no fixed version exists yet. It cannot be patched away, but it can be removed or mitigated.""",
    remediation="""Remove the package if the image does not need it (a distroless or slimmer base
    image often drops it), otherwise mitigate as the advisory says and watch for the fix.""",
    references=(NIST_800_190, NSA_GUIDE, OSV),
)
def vulnerable_package_no_fix(_: object, ctx: CheckContext) -> Iterator[Hit]:
    yield from _hits(ctx, fixed=False)


@check(
    id="KW-VULN-003",
    name="vulnerability-database-stale",
    title="Vulnerability database out of date",
    category=Category.VULNERABILITY,
    severity=Severity.MEDIUM,
    target=Target.CLUSTER,
    rationale=f"""The vulnerability findings are only as current as the database they were matched
    against. One imported longer before the inventory was collected than the configured
    `vulndb_max_age_days` (default {MAX_DB_AGE_DAYS}) misses every vulnerability published since, so a
    clean result may not be clean.""",
    remediation="Run `kubeward db update` (or `kubeward db import` with fresh OSV dumps) and audit again.",
    references=(OSV,),
)
def vulnerability_database_stale(_: object, ctx: CheckContext) -> Iterator[Hit]:
    info = ctx.inventory.vulndb
    if info is None or info.imported_at is None:
        return
    age = (ctx.today - info.imported_at.date()).days
    limit = ctx.config.vulndb_max_age_days
    if age > limit:
        yield Hit(
            message=f"The vulnerability database {info.path} was imported {age} days before this audit "
                    f"(on {info.imported_at.date().isoformat()}), more than {limit}.",
            observed={"imported_at": info.imported_at.isoformat(), "age_days": age},
            resource=ObjectRef(kind="VulnerabilityDatabase", name=info.path),
            detail="age",
        )


TRIVY_OPERATOR = Reference("Trivy Operator: VulnerabilityReport",
                           "https://aquasecurity.github.io/trivy-operator/latest/docs/crds/vulnerability-report/")


@check(
    id="KW-VULN-004",
    name="trivy-reports-unmatched-vulnerabilities",
    title="Trivy Operator reports vulnerabilities kubeward did not match",
    category=Category.VULNERABILITY,
    severity=Severity.LOW,
    target=Target.CLUSTER,
    rationale="""The cluster runs Trivy Operator, and its VulnerabilityReport for an image lists
    vulnerabilities that kubeward's own matching against the OSV database did not find. Either
    source can be wrong (a stale database, a package one scanner does not read, a record that
    only one data source carries), so a disagreement is worth a look before a clean result is
    trusted.""",
    remediation="""Look the listed ids up in the image's package inventory: update the OSV
    database (`kubeward db update`) if it is older than Trivy's, or treat the finding as a false
    positive of one side and waive it with the reason.""",
    references=(TRIVY_OPERATOR, OSV),
)
def trivy_reports_unmatched_vulnerabilities(_: object, ctx: CheckContext) -> Iterator[Hit]:
    inventory = ctx.inventory
    comparison = inventory.trivy_comparison
    if comparison is None and inventory.trivy_reports and inventory.vulndb is not None:
        comparison = compare_with_trivy(inventory.trivy_reports, inventory.images, inventory.vulnerabilities)
    if comparison is None:
        return
    for image in comparison.images:
        if not image.only_trivy:
            continue
        name = image.reference or image.image
        shown = ", ".join(image.only_trivy[:5]) + (" …" if len(image.only_trivy) > 5 else "")
        yield Hit(
            message=f"Trivy Operator reports {len(image.only_trivy)} vulnerabilities in {name} that kubeward "
                    f"did not match ({shown}); both found {len(image.both)}.",
            observed={"only_trivy": list(image.only_trivy), "both": len(image.both),
                      "only_kubeward": list(image.only_kubeward)},
            resource=ObjectRef(kind="Image", name=name),
            detail="trivy-only",
        )


def _hits(ctx: CheckContext, *, fixed: bool) -> Iterator[Hit]:
    images = ctx.inventory.images_by_digest
    workloads = ctx.memo("vulnerabilities.workloads", lambda ctx: {
        digest: tuple(map(str, refs)) for digest, refs in ctx.inventory.workloads_by_image.items()})
    for match in ctx.inventory.vulnerabilities:
        if (match.fixed_version is not None) != fixed:
            continue
        image = images.get(match.image)
        if image is None:
            continue
        yield _hit(match, image, workloads.get(match.image, ()))


def _hit(match: VulnMatch, image: ImageInventory, workloads: tuple[str, ...]) -> Hit:
    name = image.name
    in_base = image.base_layers > 0 and match.layer < image.base_layers
    step = image.layers[match.layer].created_by if match.layer < len(image.layers) else ""
    fix = f"fixed in {match.fixed_version}" if match.fixed_version else "no fix yet"
    rating = match.severity if match.severity != "unknown" else "severity unknown"
    return Hit(
        message=f"{match.package} {match.version} in {name} has {match.display_id} ({rating}, {fix}): "
                f"{_origin(match.layer, in_base, step)}.",
        observed={
            "package": match.package, "installed": match.version, "fixed": match.fixed_version,
            "ecosystem": match.ecosystem, "vulnerability": match.vuln_id, "aliases": list(match.aliases),
            "layer": match.layer, "in_base": in_base, "step": step, "workloads": list(workloads),
        },
        resource=ObjectRef(kind="Image", name=name),
        detail=f"{match.vuln_id} {match.package}",
        severity=_SEVERITY[match.severity],
    )


def _origin(layer: int, in_base: bool, step: str) -> str:
    """Where the package came from, for the message: the base image or a build step of the image's own."""
    if in_base:
        return "in the base image"
    if len(step) > _STEP_CHARS:
        step = step[:_STEP_CHARS - 1] + "…"
    return f"added by build step {layer + 1}: {step}" if step else f"added by build step {layer + 1}"
