"""No export carries a literal environment variable value: the demo plants a token as a literal env
value (and in the last-applied annotation); references to Secrets and ConfigMaps show by name only."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from audit.export import FORMATS, export_report
from audit.report import Report
from demo.cluster import build_cluster

LITERALS = ("fake-token-0000-not-a-secret", "/usr/local/lib/libmimalloc.so", "unix:/csi/csi.sock")
"""Literal env values in the demo's pod specs (a planted token, and two harmless ones)."""

TARGETS = {"xlsx": "r.xlsx", "csv": "r.csv.zip", "json": "r.json", "sarif": "r.sarif", "cyclonedx": "r.cdx.zip"}


def contents(path: Path) -> bytes:
    """Everything a reader of the export can see, zips opened (an .xlsx is a zip too)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return b"\n".join(archive.read(name) for name in archive.namelist())
    return path.read_bytes()


def test_the_demo_plants_a_literal_secret() -> None:
    planted = build_cluster(pods=200, seed=11).planted_for("literal-secret-env")
    assert planted and "PROMO_API_TOKEN" in planted[0].detail


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_export_holds_a_literal_env_value(report: Report, tmp_path: Path, fmt: str) -> None:
    data = contents(export_report(report, tmp_path / TARGETS[fmt], fmt))
    assert data
    for literal in LITERALS:
        assert literal.encode() not in data, (fmt, literal)


def test_env_names_and_references_are_kept(report: Report, tmp_path: Path) -> None:
    data = contents(export_report(report, tmp_path / "r.json"))
    assert b"PROMO_API_TOKEN" in data  # the variable is there, its value is not
    assert b'"secretKeyRef":{"name":"card-vault-db","key":"password"}' in data
