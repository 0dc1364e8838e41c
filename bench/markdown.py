"""Keep docs/benchmarks.md as one file with a section per benchmark."""

from __future__ import annotations

from pathlib import Path

TITLE = "# Benchmarks\n\nEach section is written by the benchmark it names; do not edit by hand.\n"


def replace_section(path: Path, section: str) -> None:
    """Put `section` (starting with its `## ` heading) in place of the section of the same heading."""
    heading = section.splitlines()[0]
    current = path.read_text() if path.exists() else TITLE
    parts = current.split("\n## ")
    head, sections = parts[0], ["## " + p for p in parts[1:]]
    replaced = False
    for index, existing in enumerate(sections):
        if existing.splitlines()[0].startswith(heading.split(":")[0]):
            sections[index] = section
            replaced = True
    if not replaced:
        sections.append(section)
    path.write_text(head.rstrip("\n") + "\n\n" + "\n".join(s.rstrip("\n") + "\n" for s in sections))


def publish(section: str, write: str | Path | None) -> None:
    """Print a benchmark's section and, with `--write FILE`, put it in place in that file."""
    print(section)
    if write:
        replace_section(Path(write), section)
