"""OSV import benchmark: a synthetic 60,000-record `all.zip` imported into the SQLite database.

    python -m bench.vulndb [--records 60000] [--runs 3] [--write docs/benchmarks.md]

Generates, in a temporary directory, a dump shaped like the real ones: records
for Debian and Ubuntu releases, Alpine branches, PyPI, npm, Go and Maven, each
with OSV's `details`, `references` and (for language ecosystems) an enumerated
`versions` list, so the importer parses and skips as much as it would on real
data; about 2 % of the ids appear twice with different `modified` times. Then
measures, each in a fresh process, in the same run:

- the import (`import_osv`, wall time and peak RSS of the process);
- the baseline: reading and `json.loads`-ing every member of the same zip.

Goals: ≤ 60 s and ≤ 300 MB for the import.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from bench.markdown import publish
from bench.measure import run_process

ECOSYSTEMS = [
    ("Debian:12", "ECOSYSTEM", 0.22), ("Debian:11", "ECOSYSTEM", 0.12), ("Ubuntu:22.04:LTS", "ECOSYSTEM", 0.12),
    ("Alpine:v3.19", "ECOSYSTEM", 0.06), ("PyPI", "ECOSYSTEM", 0.14), ("npm", "SEMVER", 0.16),
    ("Go", "SEMVER", 0.08), ("Maven", "ECOSYSTEM", 0.10),
]
WORDS = ("buffer", "overflow", "heap", "use", "after", "free", "crafted", "input", "remote", "attacker", "denial",
         "of", "service", "memory", "corruption", "integer", "parser", "handling", "certificate", "header", "path")


def synthetic_record(index: int, rng: random.Random, modified: str) -> dict:
    """One OSV record of a randomly chosen ecosystem, with the bulk that real records carry."""
    ecosystem, range_type = rng.choices([e[:2] for e in ECOSYSTEMS], weights=[e[2] for e in ECOSYSTEMS])[0]
    affected = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name = f"pkg{rng.randrange(8000)}"
        if ecosystem == "Maven":
            name = f"org.example{rng.randrange(300)}:{name}"
        major, minor = rng.randrange(1, 9), rng.randrange(30)
        fixed = f"{major}.{minor}.{rng.randrange(1, 20)}"
        entry: dict = {
            "package": {"ecosystem": ecosystem, "name": name, "purl": f"pkg:generic/{name}"},
            "ranges": [{"type": range_type, "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            "database_specific": {"source": f"https://example.org/{index}.json"},
        }
        if ecosystem in ("PyPI", "npm", "Go", "Maven"):
            entry["versions"] = [f"{major}.{m}.{p}" for m in range(max(0, minor - 3), minor + 1) for p in range(10)]
        affected.append(entry)
    return {
        "schema_version": "1.6.0",
        "id": f"SYN-{index:07d}",
        "modified": modified,
        "published": "2023-01-01T00:00:00Z",
        "aliases": [f"CVE-2023-{index:05d}"],
        "summary": " ".join(rng.choices(WORDS, k=10)),
        "details": " ".join(rng.choices(WORDS, k=rng.randrange(60, 300))),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": affected,
        "references": [{"type": "WEB", "url": f"https://example.org/advisory/{index}/{n}"} for n in range(6)],
    }


def write_dump(path: Path, records: int, seed: int = 7) -> None:
    """The synthetic `all.zip`: `records` members, 2 % of them a second copy of an earlier id."""
    rng = random.Random(seed)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(records):
            if index and rng.random() < 0.02:
                again = rng.randrange(index)
                record = synthetic_record(again, random.Random(again), "2024-06-01T00:00:00Z")
                archive.writestr(f"SYN-{again:07d}-copy-{index}.json", json.dumps(record))
                continue
            record = synthetic_record(index, rng, f"2024-0{1 + index % 5}-01T00:00:00.{index % 1000:03d}Z")
            archive.writestr(f"SYN-{index:07d}.json", json.dumps(record))


def child_import(dump: str, db_path: str) -> None:
    """Runs in a fresh process: import once, print the wall time and the stored count."""
    from collectors.vulndb.database import import_osv

    result = import_osv([dump], db_path)
    print(f"{result.seconds:.6f} {result.records} {result.duplicates} {len(result.problems)}")


def child_baseline(dump: str) -> None:
    """Runs in a fresh process: read and json-decode every member."""
    started = time.perf_counter()
    with zipfile.ZipFile(dump) as archive:
        for name in archive.namelist():
            json.loads(archive.read(name))
    print(f"{time.perf_counter() - started:.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", type=Path, help="update this benchmarks markdown file")
    parser.add_argument("--child-import", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_import:
        child_import(*args.child_import)
        return
    if args.child_baseline:
        child_baseline(args.child_baseline)
        return
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "all.zip"
        started = time.perf_counter()
        write_dump(dump, args.records)
        print(f"dump: {args.records:,} members, {dump.stat().st_size / 1e6:.0f} MB zipped, "
              f"written in {time.perf_counter() - started:.1f} s")
        rows: dict[str, list[float]] = {"import_s": [], "import_rss": [], "base_s": [], "base_rss": []}
        for _ in range(args.runs):
            seconds, rss, out = run_process([sys.executable, "-m", "bench.vulndb", "--child-import", str(dump),
                                       str(Path(scratch) / "vulndb.sqlite")])
            rows["import_s"].append(seconds)
            rows["import_rss"].append(rss)
            print(f"import: {seconds:.2f} s, {rss} MB (own time, stored, duplicates, problems: {out.strip()})")
            seconds, rss, _ = run_process([sys.executable, "-m", "bench.vulndb", "--child-baseline", str(dump)])
            rows["base_s"].append(seconds)
            rows["base_rss"].append(rss)
        db_mb = (Path(scratch) / "vulndb.sqlite").stat().st_size / 1e6
    section = render(rows, args.records, args.runs, db_mb)
    publish(section, args.write)


def render(rows: dict[str, list[float]], records: int, runs: int, db_mb: float) -> str:
    med = {k: statistics.median(v) for k, v in rows.items()}
    return "\n".join([
        f"## Vulnerability database: importing a {records:,}-record OSV dump, median of {runs} runs",
        "",
        "Generated by `python -m bench.vulndb --write docs/benchmarks.md`.",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. A synthetic `all.zip` (Debian, Ubuntu, Alpine, PyPI, npm, Go,",
        "Maven records with details, references and versions lists; 2 % duplicate ids); whole processes.",
        f"The database comes out at {db_mb:.0f} MB.",
        "",
        "| | wall time | peak RSS |",
        "| --- | ---: | ---: |",
        f"| `import_osv` | {med['import_s']:.2f} s (goal ≤ 60 s) | {med['import_rss']:.0f} MB (goal ≤ 300 MB) |",
        f"| baseline: unzip + `json.loads` every member | {med['base_s']:.2f} s | {med['base_rss']:.0f} MB |",
        f"| **ratio import / baseline** | **{med['import_s'] / med['base_s']:.2f}×** | |",
        "",
    ])


if __name__ == "__main__":
    main()
