"""Waiver checks (KW-WAIVE-001, KW-WAIVE-002): the waivers file itself is reviewed.

A waiver that has expired no longer covers anything, and one that matches no
finding is stale (the problem was fixed, the object renamed, or the selector
mistyped): both are findings of their own, so a waivers file cannot quietly rot.

These checks judge one entry of the waivers file at a time, as applied to a
Report (`WaiverUse`); `audit.waivers.apply_waivers` runs them after the other
checks, since whether a waiver matches anything depends on every other finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import msgspec

from audit.findings import Category, Severity, Waiver
from audit.model import ObjectRef
from checks.engine import CheckContext, Hit, Reference, Target, check

SELECTORS = ("check_id", "fingerprint", "namespace", "workload", "image")
"""The selector fields of a waiver, in the order they are shown."""

NIST_RMF = Reference(
    "NIST SP 800-37 Rev. 2 Risk Management Framework: risk response and ongoing authorization",
    "https://csrc.nist.gov/pubs/sp/800/37/r2/final",
)
NIST_POAM = Reference(
    "NIST SP 800-53 Rev. 5 CA-5 Plan of Action and Milestones, CA-7 Continuous Monitoring",
    "https://csrc.nist.gov/pubs/sp/800/53/r5/upd1/final",
)


@dataclass(frozen=True)
class WaiverUse:
    """One entry of the waivers file as applied to a Report: what the waiver checks judge."""

    waiver: Waiver
    entry: str
    """Where it is written, for people: `waivers.yaml, waiver 3`."""
    matched: int
    """How many findings its selector matched (whether or not it has expired)."""
    today: date


def selector_text(waiver: Waiver) -> str:
    """The waiver's selector as `check_id=KW-ISO-001 namespace=shop`: the waiver's name in findings."""
    return " ".join(f"{name}={getattr(waiver, name)}" for name in SELECTORS if getattr(waiver, name) is not None)


def _hit(use: WaiverUse, message: str) -> Hit:
    selector = selector_text(use.waiver)
    return Hit(
        message=message,
        resource=ObjectRef(kind="Waiver", name=selector, namespace=use.waiver.namespace),
        observed=msgspec.to_builtins(use.waiver),
        detail=selector,
    )


@check(
    id="KW-WAIVE-001",
    name="waiver-expired",
    title="Waiver past its expiry date",
    category=Category.COVERAGE,
    severity=Severity.MEDIUM,
    target=Target.WAIVERS,
    rationale="""A waiver records a reviewer's decision to accept a risk for a while. Once its
    expiry date has passed it covers nothing any more: the findings it covered are open again, and
    the decision is due for review.""",
    remediation="""Review the findings again: fix them, or renew the waiver with a new expiry date
    (and a ticket), or delete it.""",
    references=(NIST_RMF, NIST_POAM),
)
def waiver_expired(use: WaiverUse, _: CheckContext | None) -> Iterator[Hit]:
    waiver = use.waiver
    if waiver.expires < use.today:
        covered = f"; the {use.matched} finding(s) it covered are open again" if use.matched else ""
        yield _hit(use, f"The waiver owned by {waiver.owner} ({use.entry}) expired on "
                        f"{waiver.expires.isoformat()}{covered}.")


@check(
    id="KW-WAIVE-002",
    name="waiver-matches-nothing",
    title="Waiver that matches no finding",
    category=Category.COVERAGE,
    severity=Severity.LOW,
    target=Target.WAIVERS,
    rationale="""A waiver whose selector matches no finding is stale: the problem was fixed, the
    object renamed or removed, or the selector is mistyped, in which case the finding it was meant
    for is not covered at all.""",
    remediation="""Delete the waiver if the problem is gone; otherwise correct its selector (check
    id, fingerprint, namespace, workload or image).""",
    references=(NIST_POAM,),
)
def waiver_matches_nothing(use: WaiverUse, _: CheckContext | None) -> Iterator[Hit]:
    if use.matched == 0:
        yield _hit(use, f"The waiver owned by {use.waiver.owner} ({use.entry}) matches no finding.")
