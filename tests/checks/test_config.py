"""The check configuration file: clear one-line errors, overrides by id or name."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.findings import Severity
from checks.config import ConfigError, LabelMatch, load_config
from checks.engine import all_checks


def test_loads_overrides_and_label_matchers(tmp_path: Path) -> None:
    some = all_checks()[0]
    path = tmp_path / "kubeward.yaml"
    path.write_text(
        f"checks:\n  {some.id}: {{enabled: false}}\n  {all_checks()[1].name}: {{severity: info}}\n"
        "sensitive:\n  labels:\n    tier: [payments]\n"
        "untrusted:\n  namespaces: [playground]\n"
    )
    config = load_config(path)
    assert not config.enabled(some)
    assert config.severity(all_checks()[1]) == Severity.INFO
    assert config.sensitive.matches({"tier": "payments"})
    assert not config.sensitive.matches({"data-classification": "pci"})  # replaced, not merged
    assert config.untrusted.namespaces == ["playground"]


def test_label_match_any_value() -> None:
    match = LabelMatch(labels={"kubeward.io/sensitive": []})
    assert match.matches({"kubeward.io/sensitive": "whatever"})
    assert not match.matches({"other": "x"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("checks: [unclosed\n", r"line \d+: malformed YAML"),
        ("checks:\n  KW-NOPE-999: {enabled: false}\n", "unknown check KW-NOPE-999"),
        ("checks:\n  x: {severity: catastrophic}\n", "Invalid enum value 'catastrophic'"),
        ("surprise: 1\n", "unknown field `surprise`"),
    ],
)
def test_bad_configuration_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)
