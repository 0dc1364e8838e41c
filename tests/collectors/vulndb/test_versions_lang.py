"""Language ecosystems' version orders: PyPI (PEP 440), SemVer (npm, Go, crates.io) and Maven.

SemVer is checked against npm's own `semver` package and Go's `golang.org/x/mod/semver` (the copy the
Go toolchain vendors), Maven against Maven's `ComparableVersion`, each run once over many generated
pairs. PEP 440 ordering *is* `packaging`, so its cases are written out by hand instead.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from collectors.vulndb.versions import VersionError, maven, pypi, semver
from tests.conftest import IN_CI, require_tool


def unavailable(message: str) -> None:
    """A missing oracle: a failure under CI, a skip elsewhere."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def sign(number: int) -> int:
    return (number > 0) - (number < 0)


def disagreements(compare, pairs: list[tuple[str, str]], answers: list[int | None]) -> list[tuple]:
    """The pairs where `compare` and an oracle's answers differ in sign, with both verdicts."""
    return [
        (a, b, want, sign(compare(a, b)))
        for (a, b), want in zip(pairs, answers, strict=True)
        if sign(compare(a, b)) != want
    ]


def assert_chain(compare, chain: list[list[str]]) -> None:
    """`chain` is groups of equal versions in ascending order: check every pair across and within groups."""
    ranked = [(rank, version) for rank, group in enumerate(chain) for version in group]
    for (rank_a, a), (rank_b, b) in itertools.product(ranked, repeat=2):
        assert sign(compare(a, b)) == sign(rank_a - rank_b), (a, b)


# PyPI ----------------------------------------------------------------------------------------------------------

PEP440_CHAIN = [
    ["1.0.dev0", "1.0.dev"],
    ["1.0a1.dev1"],
    ["1.0a1", "1.0.0alpha1", "1.0-a-1", "1.0.a.1", "v1.0a1", "1.0A1"],
    ["1.0a1.post1.dev1"],
    ["1.0a1.post1", "1.0a1-1"],
    ["1.0a2"],
    ["1.0a10"],
    ["1.0b1", "1.0beta1"],
    ["1.0rc1", "1.0c1", "1.0pre1", "1.0preview1"],
    ["1.0", "1", "1.0.0", "1.0.0.0", " 1.0\n"],
    ["1.0+local", "1.0+LOCAL"],
    ["1.0+local.1", "1.0+local-1", "1.0+local_1"],
    ["1.0+local.1.a"],
    ["1.0+local.2"],
    ["1.0+local.10"],
    ["1.0.post0.dev1"],
    ["1.0.post0", "1.0.post", "1.0-0", "1.0-post0", "1.0.rev0", "1.0r0"],
    ["1.0.post1", "1.0-1"],
    ["1.0.1"],
    ["1.1.dev1"],
    ["1.1"],
    ["1.10"],
    ["2!0.1", "2!0.1.0"],
    ["2!1.0"],
]


def test_pypi_orders_pep440_by_hand() -> None:
    assert_chain(pypi.compare, PEP440_CHAIN)


def test_pypi_local_labels_numbers_sort_after_strings() -> None:
    # PEP 440: within a local label, numeric segments sort after alphanumeric ones.
    assert pypi.compare("1.0+abc", "1.0+1") < 0
    assert pypi.compare("1.0+1.abc", "1.0+1.1") < 0


def test_pypi_key_sorts_like_compare() -> None:
    versions = [version for group in PEP440_CHAIN for version in group]
    shuffled = random.Random(4).sample(versions, len(versions))
    ranks = {version: rank for rank, group in enumerate(PEP440_CHAIN) for version in group}
    assert [ranks[v] for v in sorted(shuffled, key=pypi.key)] == sorted(ranks.values())


@pytest.mark.parametrize("legacy", ["2004d", "0.9-final-r1", "1.0-SNAPSHOT", "", "1.0+", "1.0+a..b", "1.0.dev1.a"])
def test_pypi_refuses_legacy_versions(legacy: str) -> None:
    with pytest.raises(VersionError, match="PEP 440"):
        pypi.compare(legacy, "1.0")
    with pytest.raises(VersionError):
        pypi.key(legacy)


# SemVer: by hand ------------------------------------------------------------------------------------------------

SEMVER_CHAIN = [
    # SemVer 2.0.0 §11's own example, then Go's pseudo-versions and build metadata.
    ["1.0.0-alpha", "v1.0.0-alpha", "1.0.0-alpha+001"],
    ["1.0.0-alpha.1"],
    ["1.0.0-alpha.beta"],
    ["1.0.0-beta"],
    ["1.0.0-beta.2"],
    ["1.0.0-beta.11"],
    ["1.0.0-rc.1"],
    ["1.0.0", "v1.0.0", "v1", "v1.0", "1.0.0+build.7", "v1.0.0+incompatible"],
    ["v1.0.1-0.20210101000000-abcdef123456"],
    ["v1.0.1-0.20220101000000-000000000000"],
    ["v1.0.1"],
    ["v2.0.0-20190101000000-abcdef123456+incompatible"],
    ["v2.0.0+incompatible", "v2.0.0"],
    ["v10.0.0"],
]


def test_semver_orders_by_hand() -> None:
    assert_chain(semver.compare, SEMVER_CHAIN)


def test_semver_numbers_are_not_bounded() -> None:
    assert semver.compare("1.0.0-99999999999999999999", "1.0.0-100000000000000000000") < 0
    assert semver.compare("99999999999999999999.0.0", "100000000000000000000.0.0") < 0


INVALID_SEMVER = [
    "", "v", "1.2.3-", "1.2.3+", "01.2.3", "1.02.3", "1.2.03", "1.2.3-01", "1.2.3-alpha.01", "1.2.3-a..b",
    "1.2.3-a_b", "1.2.3+a_b", "1.2.3.4", "1.2.3+a+b", "1.2-alpha", "1.2+build", "x1.2.3", "vv1.2.3", "1.2.3 ",
    "-1.2.3", "1..3", "1.2.3-é",
]


@pytest.mark.parametrize("invalid", INVALID_SEMVER)
def test_semver_refuses_invalid(invalid: str) -> None:
    with pytest.raises(VersionError, match="SemVer"):
        semver.compare(invalid, "1.0.0")


# SemVer: oracles ------------------------------------------------------------------------------------------------

SEMVER_CORES = ["0.0.0", "0.0.1", "0.1.0", "1.0.0", "1.2.3", "1.2.10", "1.10.0", "2.0.0", "10.0.0"]
SEMVER_PRERELEASES = [
    None, "0", "1", "2", "10", "alpha", "alpha.0", "alpha.1", "alpha.1.2", "alpha.10", "alpha.beta", "alpha-1",
    "Alpha", "beta", "beta.2", "beta.11", "rc.1", "0a", "1a", "a1", "-", "--", "x.7.z.92", "1.alpha",
    "0.20210101000000-abcdef123456", "0.20210101000001-abcdef123456", "20190101000000-abcdef123456",
    "pre.0.20210101000000-abcdef123456", "1.2.3.4.5",
]
SEMVER_BUILDS = [None, "001", "build.5", "incompatible", "exp.sha.5114f85"]


def semver_versions() -> list[str]:
    """Every core with every pre-release, each with a random build and an optional `v`."""
    chooser = random.Random(7)
    versions = []
    for core, prerelease in itertools.product(SEMVER_CORES, SEMVER_PRERELEASES):
        version = core if prerelease is None else f"{core}-{prerelease}"
        if build := chooser.choice(SEMVER_BUILDS):
            version += f"+{build}"
        versions.append(version)
    return versions


NODE_ORACLE = """
const semver = require(process.argv[1]);
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const answers = JSON.parse(input).map(([a, b]) =>
    semver.valid(a) !== null && semver.valid(b) !== null ? semver.compare(a, b) : null);
  process.stdout.write(JSON.stringify(answers));
});
"""


@pytest.fixture(scope="module")
def npm_semver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """npm's own `semver` package: the copy npm bundles, or else one installed from the registry."""
    npm = require_tool("npm")
    require_tool("node")
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True).stdout.strip()
    bundled = Path(root, "npm", "node_modules", "semver")
    if (bundled / "package.json").is_file():
        return bundled
    work = tmp_path_factory.mktemp("npm-semver")
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(work), "semver"], capture_output=True, text=True
    )
    if installed.returncode != 0:
        unavailable(f"cannot install npm's semver: {installed.stderr.strip()[-300:]}")
    return work / "node_modules" / "semver"


def npm_compare(package: Path, pairs: list[tuple[str, str]]) -> list[int | None]:
    """npm semver's compare for each pair, None where it finds either version invalid."""
    output = subprocess.run(
        [require_tool("node"), "-e", NODE_ORACLE, str(package)],
        input=json.dumps(pairs), capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(output)


def test_semver_agrees_with_npm(npm_semver: Path) -> None:
    versions = semver_versions()
    versions += ["v" + version for version in random.Random(8).sample(versions, 40)]
    pairs = list(itertools.product(versions, repeat=2))
    answers = npm_compare(npm_semver, pairs)
    assert None not in answers
    assert disagreements(semver.compare, pairs, answers) == []


def test_semver_refuses_what_npm_refuses(npm_semver: Path) -> None:
    # npm trims surrounding blanks before parsing; a version in an OSV record never has any, so we refuse them.
    answers = npm_compare(npm_semver, [(invalid, "1.0.0") for invalid in INVALID_SEMVER if invalid == invalid.strip()])
    assert answers == [None] * len(answers)


GO_ORACLE = """
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"oracle/semver"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		pair := strings.SplitN(in.Text(), "\\t", 2)
		if !semver.IsValid(pair[0]) || !semver.IsValid(pair[1]) {
			fmt.Fprintln(out, "invalid")
		} else {
			fmt.Fprintln(out, semver.Compare(pair[0], pair[1]))
		}
	}
}
"""


@pytest.fixture(scope="module")
def go_semver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A program comparing versions with `golang.org/x/mod/semver`, built offline from the copy in GOROOT."""
    go = require_tool("go")
    goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    source = Path(goroot, "src", "cmd", "vendor", "golang.org", "x", "mod", "semver", "semver.go")
    if not source.is_file():
        unavailable(f"the Go toolchain has no vendored x/mod/semver at {source}")
    work = tmp_path_factory.mktemp("go-semver")
    (work / "semver").mkdir()
    shutil.copy(source, work / "semver" / "semver.go")
    (work / "go.mod").write_text("module oracle\n\ngo 1.17\n")
    (work / "main.go").write_text(GO_ORACLE)
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    subprocess.run([go, "build", "-o", "oracle", "."], cwd=work, env=env, check=True, capture_output=True)
    return work / "oracle"


def go_compare(oracle: Path, pairs: list[tuple[str, str]]) -> list[int | None]:
    """x/mod/semver's Compare for each pair, None where it finds either version invalid."""
    output = subprocess.run(
        [str(oracle)], input="".join(f"{a}\t{b}\n" for a, b in pairs), capture_output=True, text=True, check=True
    ).stdout
    return [None if line == "invalid" else int(line) for line in output.splitlines()]


def test_semver_agrees_with_go(go_semver: Path) -> None:
    versions = ["v" + version for version in semver_versions()]
    versions += ["v0", "v1", "v1.2", "v1.10", "v2.0"]  # Go's short forms
    pairs = list(itertools.product(versions, repeat=2))
    answers = go_compare(go_semver, pairs)
    assert None not in answers
    assert disagreements(semver.compare, pairs, answers) == []


def test_semver_refuses_what_go_refuses(go_semver: Path) -> None:
    prefixed = ["v" + invalid.removeprefix("v") for invalid in INVALID_SEMVER if invalid != "v"]
    answers = go_compare(go_semver, [(invalid, "v1.0.0") for invalid in prefixed])
    assert answers == [None] * len(answers)


# Maven ----------------------------------------------------------------------------------------------------------

MAVEN_CHAIN = [
    ["1-alpha", "1.0-alpha", "1-ALPHA"],
    ["1-alpha-1", "1-a1", "1a1", "1.0alpha1"],
    ["1-alpha.1"],  # a plain number sorts after a sub-list
    ["1-alpha.1.1"],
    ["1-beta-1", "1-b1", "1.0-beta1"],
    ["1-milestone-1", "1-m1"],
    ["1-rc", "1-cr", "1.0-RC"],
    ["1-rc1", "1-cr1", "1.0.0.RC1", "1.0.0-RC1", "1.0RC1"],  # in 3.8.7 `.RC1` opens a sub-list like `-RC1`
    ["1-snapshot", "1-SNAPSHOT"],
    ["1", "1.0", "1.0.0", "1-ga", "1-final", "1.0.0-0", "1-"],
    ["1-sp", "1-sp-0"],
    ["1-sp1"],
    ["1-abc"],
    ["1-xyz"],
    ["1-0.1"],  # in Maven 3.8.7 every item of a trailing sub-list counts, not just its first
    ["1-1", "1-1.0"],
    ["1-1.1"],
    ["1.0.1-alpha"],
    ["1.0.1"],
    ["1.1"],
]


def test_maven_orders_by_hand() -> None:
    assert_chain(maven.compare, MAVEN_CHAIN)


def test_maven_key_sorts_like_compare() -> None:
    versions = [version for group in MAVEN_CHAIN for version in group]
    shuffled = random.Random(5).sample(versions, len(versions))
    ranks = {version: rank for rank, group in enumerate(MAVEN_CHAIN) for version in group}
    assert [ranks[v] for v in sorted(shuffled, key=maven.key)] == sorted(ranks.values())
    assert maven.key("1.0") == maven.key("1-ga")


MAVEN_TRICKY = [
    "", "0", "1", "1.0", "1.0.0", "1-0", "1.0-0", "1--1", "1..1", ".1", "-1", "1.", "1-", "1.0.0.RC1", "1.0.0-RC1",
    "1.0RC1", "1.0.0.Final", "1.0.0.GA", "1.0-release", "1.0.0-SNAPSHOT", "1.0-20231231.235959-1", "1-sp-1",
    "1.0.0-cr", "2.0.0.M1", "2.0.0-M1", "2.0.0-m-1", "1.0.a", "1.0.b", "1.0.m", "1.0.x1", "1-a", "1-b", "a1", "a",
    "1.0.0.v20120901", "3.0-alpha-3-SNAPSHOT", "1-0.1", "1-1-1", "1.1-1", "1.01", "1.001", "01.1",
    "2147483648", "9223372036854775808", "99999999999999999999.1", "1.9999999999", "1-jre", "31.1-jre",
    "31.1-android", "1.0.0.Beta2", "1.0.0-beta-2", "5.3.0.RELEASE", "2.12.7.1", "1.2.3-SP4", "1_0", "1+1",
]
MAVEN_ATOMS = ["0", "1", "2", "10", "00", "010", "9999999999", "alpha", "a", "beta", "b", "milestone", "m", "rc",
               "cr", "snapshot", "SNAPSHOT", "ga", "final", "release", "sp", "foo", "bar", "RC", "Final", "x"]


def maven_versions(count: int) -> list[str]:
    """Random versions made of numbers and qualifiers joined by `.`, `-` or nothing."""
    chooser = random.Random(11)
    versions = []
    for _ in range(count):
        parts = [chooser.choice(MAVEN_ATOMS) for _ in range(chooser.randint(1, 5))]
        versions.append("".join(part + chooser.choice([".", "-", ""]) for part in parts[:-1]) + parts[-1])
    return versions


def maven_artifact_jar() -> str:
    """The maven-artifact jar of the installed Maven, which holds ComparableVersion."""
    jars = sorted(glob.glob("/usr/share/maven/lib/maven-artifact*.jar"))
    mvn = shutil.which("mvn")
    if not jars and mvn:
        # A Maven unpacked elsewhere keeps its jars in lib/ beside bin/mvn.
        jars = sorted(glob.glob(str(Path(mvn).resolve().parent.parent / "lib" / "maven-artifact*.jar")))
    if not jars:
        unavailable("Maven's maven-artifact jar is not installed (Debian package maven)")
    return jars[0]


def maven_compare(versions: list[str]) -> list[int]:
    """ComparableVersion's verdict on each consecutive pair of `versions`, from one run of its `main`."""
    java = require_tool("java")
    output = subprocess.run(
        [java, "-cp", maven_artifact_jar(), "org.apache.maven.artifact.versioning.ComparableVersion", *versions],
        capture_output=True, text=True, check=True,
    ).stdout
    # Its lines read "   <previous> <op> <version>"; the strings are known, so the operator sits between them.
    lines = [line for line in output.splitlines() if line.startswith("   ")]
    verdicts = []
    for (a, b), line in zip(itertools.pairwise(versions), lines, strict=True):
        operator = line[3 + len(a) + 1 : len(line) - len(b) - 1]
        verdicts.append({"<": -1, "==": 0, ">": 1}[operator])
    return verdicts


def test_maven_agrees_with_comparable_version() -> None:
    hand = MAVEN_TRICKY + [version for group in MAVEN_CHAIN for version in group]
    # Every pair of the hand-picked versions, then random pairs, laid end to end: main compares neighbours.
    sequence = [version for pair in itertools.product(hand, repeat=2) for version in pair]
    sequence += maven_versions(4000)
    verdicts = maven_compare(sequence)
    assert disagreements(maven.compare, list(itertools.pairwise(sequence)), verdicts) == []
