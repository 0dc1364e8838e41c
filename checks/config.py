"""The check configuration file (YAML): turn checks off, change severities, and say
which workloads are sensitive and which namespaces untrusted.

```yaml
checks:
  KW-ISO-011: {enabled: false}          # by id …
  read-only-root-filesystem:            # … or by name
    severity: info
sensitive:                              # workloads handling sensitive data
  labels:
    data-classification: [pci, pii]     # any of these values
    kubeward.io/sensitive: []           # any value
untrusted:                              # namespaces running untrusted code
  namespaces: [playground, ci]
  labels:
    kubeward.io/untrusted: ["true"]
vulndb_max_age_days: 7                  # an older vulnerability database is a finding
production:                             # exec sessions into these namespaces are findings
  namespaces: [payments]
  labels:
    environment: [production, prod]
exec_probe_threshold: 3                 # denied exec attempts by one identity that make probing
```
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import yaml

from audit.findings import Severity

if TYPE_CHECKING:
    from checks.engine import Check


class ConfigError(Exception):
    """A configuration file kubeward cannot use; one line naming the file."""


class CheckOverride(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enabled: bool = True
    severity: Severity | None = None


class LabelMatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Objects whose labels carry any listed key with one of its values (an empty list: any value)."""

    labels: dict[str, list[str]] = {}
    namespaces: list[str] = []

    def matches(self, labels: dict[str, str]) -> bool:
        return any(key in labels and (not values or labels[key] in values) for key, values in self.labels.items())


DEFAULT_SENSITIVE = LabelMatch(labels={
    "kubeward.io/sensitive": ["true"],
    "data-classification": ["pci", "pii", "phi", "confidential", "restricted", "secret"],
})
DEFAULT_UNTRUSTED = LabelMatch(labels={"kubeward.io/untrusted": ["true"]})
DEFAULT_PRODUCTION = LabelMatch(labels={
    "kubeward.io/production": ["true"], "environment": ["production", "prod"], "env": ["production", "prod"],
})


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    checks: dict[str, CheckOverride] = {}
    sensitive: LabelMatch = DEFAULT_SENSITIVE
    untrusted: LabelMatch = DEFAULT_UNTRUSTED
    vulndb_max_age_days: int = 7
    """A vulnerability database imported longer ago than this (before the audit) is a finding."""
    production: LabelMatch = DEFAULT_PRODUCTION
    """Production namespaces, by name or namespace label: an exec session into one is a finding."""
    exec_probe_threshold: int = 3
    """This many denied exec attempts by one identity in the audit log's window is probing."""

    def override(self, declared: Check) -> CheckOverride | None:
        return self.checks.get(declared.id) or self.checks.get(declared.name)

    def enabled(self, declared: Check) -> bool:
        override = self.override(declared)
        return override is None or override.enabled

    def severity(self, declared: Check, hit_severity: Severity | None = None) -> Severity:
        """The configured severity wins over the hit's, which wins over the declaration's."""
        override = self.override(declared)
        if override is not None and override.severity is not None:
            return override.severity
        return hit_severity or declared.severity


def load_config(path: str | Path) -> Config:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where}: malformed YAML") from None
    try:
        config = msgspec.convert(data or {}, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    from checks.engine import all_checks

    known = {c.id for c in all_checks()} | {c.name for c in all_checks()}
    unknown = sorted(set(config.checks) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown check {', '.join(unknown)}")
    return config
