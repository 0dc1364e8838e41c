"""docs/checks.md is generated from the check declarations and must not go stale."""

from __future__ import annotations

from pathlib import Path

from checks.catalogue import ordered, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def test_committed_catalogue_is_current() -> None:
    assert DOC.read_text() == render_markdown(), (
        "docs/checks.md is stale: run `kubeward checks --markdown > docs/checks.md`"
    )


def test_every_check_is_documented_with_references() -> None:
    text = render_markdown()
    for c in ordered():
        assert f"## {c.id}" in text
        assert c.references, f"{c.id} cites no reference"
