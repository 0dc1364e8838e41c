"""Layer benchmark: scan throughput against `zcat | tar t`, and the layer cache across 200 images.

    python -m bench.layers [--runs 3] [--write docs/benchmarks.md]

Builds its layers once, in a temporary directory, from this machine's files
(GNU tar, gzip -6 as `docker build` compresses, zstd -3 when zstd is installed),
then measures in the same run:

- Throughput: `scan_layer` over one ~200 MB layer (Python's libraries, /usr/share/doc,
  the dpkg status, a few executables) against `zcat LAYER | tar t > /dev/null`, and
  the zstd variant against `zstdcat LAYER | tar t`. Goal: ratio ≤ 1.5.
- The cache: 200 images, each two of 20 base layers and one small layer of its own, read
  through a fresh `LayerCache` as an image source does (`cache.has`, else scan and put;
  then `build_image`), against scanning the 220 distinct layers once with no cache.
  Goal: ratio ≤ 1.1.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import hashlib
import io
import os
import platform
import random
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from audit.images import ImageConfig, LayerInventory, LayerRef
from bench.markdown import publish
from bench.measure import samples
from collectors.images.cache import LayerCache
from collectors.images.collector import ImageCollector
from collectors.images.manifest import ReadImage
from collectors.layers.scan import scan_layer

SECTION = "## Layers: scan throughput and the layer cache"

TREES = ("usr/lib/python3", "usr/lib/python3.11", "usr/share/doc")
"""Relative to /: what the big layer holds, most of its bytes (some are skipped when missing)."""
OS_FILES = (
    "var/lib/dpkg/status", "etc/os-release", "usr/lib/os-release", "etc/debian_version",
    *(f"usr/bin/{name}" for name in ("sh", "dash", "bash", "apt", "apt-get", "dpkg", "curl", "wget", "perl", "pip3")),
)
"""What makes a layer look like an OS base layer to the scanner: a package database, release files, tools."""
TAR_OPTIONS = ("--owner=0", "--group=0", "--numeric-owner", "--ignore-failed-read", "--warning=none")

BASE_LAYERS = 20
IMAGES = 200


def existing(paths: tuple[str, ...]) -> list[str]:
    return [p for p in paths if os.path.lexists(f"/{p}")]


def run_tar(argv: list[str], output: Path) -> None:
    """GNU tar to `output`; status 1 (a file changed as it was read) is fine for a benchmark."""
    with output.open("wb") as out:
        status = subprocess.run(["tar", "-C", "/", *TAR_OPTIONS, "-cf", "-", *argv], stdout=out).returncode
    if status not in (0, 1):
        raise SystemExit(f"tar failed with status {status} building {output.name}")


def gzip_file(plain: Path, target: Path) -> None:
    with target.open("wb") as out:
        subprocess.run(["gzip", "-6", "-n", "-c", str(plain)], stdout=out, check=True)


def blob_digest(path: Path) -> str:
    with path.open("rb") as blob:
        return "sha256:" + hashlib.file_digest(blob, "sha256").hexdigest()


# Throughput -------------------------------------------------------------------------------------------------


@dataclass
class Throughput:
    compression: str
    blob_bytes: int
    tar_bytes: int
    entries: int
    databases: int
    scan_s: float
    shell_s: float
    shell: str


def scan_file(path: Path, digest: str) -> LayerInventory:
    with path.open("rb") as blob:
        inventory = scan_layer(blob, digest=digest)
    if inventory.error is not None:
        raise SystemExit(f"the benchmark layer {path.name} did not scan cleanly: {inventory.error}")
    return inventory


def measure_throughput(blob: Path, tar_bytes: int, entries: int, decompress: str, runs: int) -> Throughput:
    digest = blob_digest(blob)
    shell = f"{decompress} {blob} | tar t > /dev/null"
    scan_samples: list[float] = []
    shell_samples: list[float] = []
    inventory = scan_file(blob, digest)  # warm-up, and the figures for the table
    for _ in range(runs):  # interleaved, so a noisy neighbour hurts both sides alike
        scan_samples += samples(lambda: scan_file(blob, digest), 1)
        shell_samples += samples(lambda: subprocess.run(["bash", "-o", "pipefail", "-c", shell], check=True), 1)
    return Throughput(
        compression={".gz": "gzip", ".zst": "zstd"}.get(blob.suffix, "none (plain tar)"),
        blob_bytes=blob.stat().st_size,
        tar_bytes=tar_bytes,
        entries=entries,
        databases=len(inventory.databases),
        scan_s=statistics.median(scan_samples),
        shell_s=statistics.median(shell_samples),
        shell=f"{decompress} LAYER | tar t > /dev/null",
    )


# The cache --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    path: Path
    digest: str


def build_base_layers(work: Path) -> list[Layer]:
    """20 base layers: the files of TREES cut into 20 runs of about equal bytes; the first 10 are OS layers."""
    files: list[tuple[str, int]] = []
    for tree in existing(TREES):
        for root, dirs, names in os.walk(f"/{tree}"):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(root, name)
                try:
                    size = os.lstat(full).st_size
                except OSError:
                    continue
                files.append((full[1:], size))
    total = sum(size for _, size in files)
    chunks: list[list[str]] = [[] for _ in range(BASE_LAYERS)]
    running = 0
    for name, size in files:
        chunks[min(BASE_LAYERS - 1, running * BASE_LAYERS // max(total, 1))].append(name)
        running += size
    layers = []
    for index, chunk in enumerate(chunks):
        names = [*(existing(OS_FILES) if index < BASE_LAYERS // 2 else []), *chunk]
        listing = work / f"base-{index}.list"
        listing.write_text("\n".join(names) + "\n")
        plain = work / f"base-{index}.tar"
        run_tar(["--no-recursion", "-T", str(listing)], plain)
        blob = plain.with_suffix(".tar.gz")
        gzip_file(plain, blob)
        plain.unlink()
        layers.append(Layer(blob, blob_digest(blob)))
    return layers


def build_own_layer(work: Path, index: int) -> Layer:
    """An application layer: a few KB of code, its dist-info, and sometimes a whiteout."""
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        site = "usr/local/lib/python3.11/site-packages"
        contents = {
            f"app/service_{index}/main.py":
                f"# service {index}\n".encode() + random.Random(index).randbytes(6000).hex().encode(),
            f"app/service_{index}/config.yaml": f"name: service-{index}\nreplicas: {index % 5 + 1}\n".encode(),
            f"{site}/service_{index}-1.{index}.0.dist-info/METADATA":
                f"Metadata-Version: 2.1\nName: service-{index}\nVersion: 1.{index}.0\n".encode(),
            f"{site}/service_{index}-1.{index}.0.dist-info/RECORD": b"",
        }
        if index % 4 == 0:
            contents["usr/share/doc/.wh.README"] = b""
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    blob = work / f"own-{index}.tar.gz"
    blob.write_bytes(raw.getvalue())
    return Layer(blob, blob_digest(blob))


def image_layers(index: int, base: list[Layer], own: list[Layer]) -> list[Layer]:
    """Image `index`: one OS base layer, one runtime layer over it, then its own; each pair of bases used twice."""
    half = BASE_LAYERS // 2
    return [base[index % half], base[half + (index // half) % half], own[index]]


@dataclass
class CacheRun:
    seconds: float
    scans: int
    packages: int


def read_images(images: list[list[Layer]], cache: LayerCache) -> CacheRun:
    """Every image as an image source reads it: a layer the cache has is skipped, the others scanned and
    put (ImageCollector.scan); then build_image takes the skipped ones from the cache and folds."""
    collector = ImageCollector(sources=(), cache=cache)
    scans = packages = 0
    started = time.perf_counter()
    for number, layers in enumerate(images):
        inventories: list[LayerInventory | None] = []
        for layer in layers:
            if cache.has(layer.digest):
                inventories.append(None)
                continue
            with layer.path.open("rb") as blob:
                inventories.append(collector.scan(blob, digest=layer.digest))
            scans += 1
        read = ReadImage(
            digest=f"sha256:{number:064x}", references=(f"bench/image-{number}:1",), config=ImageConfig(),
            layers=[LayerRef(digest=layer.digest) for layer in layers], layer_inventories=inventories,
        )
        image = collector.build(read, source="bench")
        if image.errors:
            raise SystemExit(f"image {number} folded with errors: {image.errors[:3]}")
        packages += len(image.packages)
    return CacheRun(time.perf_counter() - started, scans, packages)


def scan_distinct(layers: list[Layer]) -> None:
    for layer in layers:
        scan_file(layer.path, layer.digest)


@dataclass
class CacheFigures:
    base_bytes: int
    own_bytes: int
    distinct_s: float
    cold_s: float
    warm_s: float
    scans: int
    packages: int


def measure_cache(work: Path, runs: int) -> CacheFigures:
    base = build_base_layers(work)
    own = [build_own_layer(work, index) for index in range(IMAGES)]
    images = [image_layers(index, base, own) for index in range(IMAGES)]
    distinct = list({layer.digest: layer for layers in images for layer in layers}.values())
    if len(distinct) != BASE_LAYERS + IMAGES:
        raise SystemExit(f"expected {BASE_LAYERS + IMAGES} distinct layers, built {len(distinct)}")
    scan_distinct(distinct)  # warm-up: imports, page cache
    distinct_samples: list[float] = []
    cold: list[CacheRun] = []
    warm: list[CacheRun] = []
    for run in range(runs):
        distinct_samples += samples(lambda: scan_distinct(distinct), 1)
        cache = LayerCache(work / f"cache-{run}")
        try:
            gc.collect()
            cold.append(read_images(images, cache))
            gc.collect()
            warm.append(read_images(images, cache))  # a rerun: every layer a cache hit
        finally:
            cache.close()
    if any(r.scans != len(distinct) for r in cold) or any(r.scans for r in warm):
        raise SystemExit(f"the cache let layers be scanned again: {[r.scans for r in cold + warm]}")
    return CacheFigures(
        base_bytes=sum(layer.path.stat().st_size for layer in base),
        own_bytes=sum(layer.path.stat().st_size for layer in own),
        distinct_s=statistics.median(distinct_samples),
        cold_s=statistics.median(r.seconds for r in cold),
        warm_s=statistics.median(r.seconds for r in warm),
        scans=cold[0].scans,
        packages=cold[0].packages,
    )


# Report -----------------------------------------------------------------------------------------------------


def render(throughputs: list[Throughput], cache: CacheFigures, runs: int) -> str:
    first = throughputs[0]
    lines = [
        SECTION,
        "",
        "Generated by `python -m bench.layers --write docs/benchmarks.md`.",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of {runs} runs, layers read from the page cache.",
        "",
        f"### Scan throughput: one layer of {first.tar_bytes / 1e6:.0f} MB uncompressed, {first.entries:,} tar entries",
        "",
        "This machine's " + ", ".join(f"/{t}" for t in existing(TREES)) + ", the dpkg status and a few executables,",
        f"tarred by GNU tar; the scan found {first.databases} package databases in it. `scan_layer` runs on one core;",
        "the shell pipelines run decompression and tar in two processes, so on two cores. The plain-tar row has no",
        "decompression on either side: what is left is the walk over the tar headers and the package databases.",
        "",
        "| compression | blob | scan_layer | shell baseline | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    notes = {"gzip": " (goal ≤ 1.5×)", "zstd": " (for comparison; the goal is against zcat)"}
    for t in throughputs:
        lines.append(
            f"| {t.compression} | {t.blob_bytes / 1e6:.0f} MB "
            f"| {t.scan_s:.2f} s ({t.tar_bytes / 1e6 / t.scan_s:.0f} MB/s) "
            f"| {t.shell_s:.2f} s `{t.shell.replace('|', chr(92) + '|')}` | **{t.scan_s / t.shell_s:.2f}×**"
            f"{notes.get(t.compression, '')} |"
        )
    lines += [
        "",
        f"### The cache: {IMAGES} images sharing {BASE_LAYERS} base layers",
        "",
        f"Each image is one of {BASE_LAYERS // 2} OS base layers (dpkg status, release files, tools), one of "
        f"{BASE_LAYERS // 2} runtime layers and a small layer of its own:",
        f"{cache.scans} distinct layers, {cache.base_bytes / 1e6:.0f} MB of gzip base layers and "
        f"{cache.own_bytes / 1e3:.0f} kB of own layers;"
        f" {cache.packages:,} attributed packages over all images.",
        "Images are read as an image source reads them, through a fresh on-disk `LayerCache`: a layer the cache has",
        "is skipped, the others scanned and put; then `build_image` takes the skipped ones from the cache and folds.",
        "",
        "| | time |",
        "| --- | ---: |",
        f"| scan the {cache.scans} distinct layers once, no cache (baseline) | {cache.distinct_s:.2f} s |",
        f"| read all {IMAGES} images, fresh cache ({cache.scans} scans) | {cache.cold_s:.2f} s |",
        f"| **ratio images / distinct layers** | **{cache.cold_s / cache.distinct_s:.2f}×** (goal ≤ 1.1×) |",
        f"| cache and fold cost per image ((images − distinct) / {IMAGES}) "
        f"| {(cache.cold_s - cache.distinct_s) / IMAGES * 1e3:.1f} ms |",
        f"| rerun of all {IMAGES} images, warm cache (0 scans) | {cache.warm_s:.2f} s |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", metavar="MARKDOWN", help="replace the Layers section of this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeward-bench-layers-") as temporary:
        work = Path(temporary)
        plain = work / "layer.tar"
        run_tar([*existing(TREES), *existing(OS_FILES)], plain)
        tar_bytes = plain.stat().st_size
        with tarfile.open(plain) as tar:
            entries = sum(1 for _ in tar)
        gzip_file(plain, plain.with_suffix(".tar.gz"))
        throughputs = [measure_throughput(plain.with_suffix(".tar.gz"), tar_bytes, entries, "zcat", args.runs)]
        if shutil.which("zstd") and shutil.which("zstdcat"):
            subprocess.run(["zstd", "-3", "-q", str(plain), "-o", str(plain.with_suffix(".tar.zst"))], check=True)
            throughputs.append(measure_throughput(plain.with_suffix(".tar.zst"), tar_bytes, entries, "zstdcat",
                                                  args.runs))
        throughputs.append(measure_throughput(plain, tar_bytes, entries, "cat", args.runs))
        plain.unlink()
        cache = measure_cache(work, args.runs)
    text = render(throughputs, cache, args.runs)
    publish(text, args.write)


if __name__ == "__main__":
    main()
