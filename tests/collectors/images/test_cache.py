"""The layer cache keeps what it is given, and never trusts a damaged entry."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from audit.images import LayerInventory, Package, PackageDB
from collectors.images.cache import LayerCache

LAYER = LayerInventory(
    digest="sha256:" + "a" * 64,
    size=1234,
    databases=(PackageDB(path="var/lib/dpkg/status", kind="dpkg",
                         packages=(Package(name="bash", version="5.2.15-2", ecosystem="deb"),)),),
)


def test_round_trip_and_persistence(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    assert cache.get(LAYER.digest) is None
    cache.put(LAYER)
    assert cache.get(LAYER.digest) == LAYER
    cache.close()
    again = LayerCache(tmp_path)
    assert again.has(LAYER.digest)
    entries, size = again.stats()
    assert entries == 1 and size > 0
    again.clear()
    assert again.stats()[0] == 0


def test_damaged_entries_are_discarded(tmp_path: Path) -> None:
    LayerCache(tmp_path).put(LAYER)
    with sqlite3.connect(tmp_path / "layers.sqlite") as db:
        db.execute("update layers set payload = ?", (b"\x93garbage",))
    cache = LayerCache(tmp_path)  # the next run finds the damage
    assert not cache.has(LAYER.digest)
    assert cache.get(LAYER.digest) is None
    assert cache.discarded == 1
    assert cache.stats()[0] == 0
    # a payload that checks out but belongs to another digest is not trusted either
    cache.put(LAYER)
    with sqlite3.connect(tmp_path / "layers.sqlite") as db:
        db.execute("update layers set digest = ?", ("sha256:" + "b" * 64,))
    assert LayerCache(tmp_path).get("sha256:" + "b" * 64) is None


def test_decoded_entries_are_kept_in_memory(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    cache.put(LAYER)
    assert cache.get(LAYER.digest) is cache.get(LAYER.digest)  # decoded once, shared


def test_a_cache_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "layers.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    cache = LayerCache(tmp_path)
    cache.put(LAYER)
    assert cache.get(LAYER.digest) == LAYER
    assert (tmp_path / "layers.sqlite.damaged").exists()


def test_threads_share_one_cache(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    layers = [LayerInventory(digest=f"sha256:{i:064x}") for i in range(200)]

    def work(chunk: list[LayerInventory]) -> None:
        for layer in chunk:
            cache.put(layer)
            assert cache.get(layer.digest) == layer

    threads = [threading.Thread(target=work, args=(layers[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.stats()[0] == 200
