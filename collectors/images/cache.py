"""The layer cache: content-addressed, on disk, SQLite.

A layer's inventory depends only on the layer's bytes, so it is stored under
the layer digest: a rerun, or another image sharing the layer, reads no layer
twice, and a new vulnerability database re-matches without reading any. An
entry that fails its checksum or no longer decodes is deleted and recomputed,
never trusted; a cache file that is not a database at all is moved aside.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path

import msgspec

from audit.images import LayerInventory

RECENT_ENTRIES = 512
"""Decoded layer inventories kept in memory (a base layer's is ~100 KB of packages)."""

SCANNER_VERSION = LayerInventory(digest="").scanner_version
"""Entries written by another scanner version are recomputed."""

_SCHEMA = """
create table if not exists layers (
    digest text primary key,
    scanner_version integer not null,
    checksum blob not null,
    payload blob not null
)
"""


def default_cache_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".cache")
    return Path(base) / "kubeward"


class LayerCache:
    """Layer inventories by digest. Thread-safe: image sources scan in worker threads."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_cache_dir()
        self.path = self.directory / "layers.sqlite"
        self._lock = threading.Lock()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(LayerInventory)
        self.discarded = 0
        """Entries found damaged and deleted in this process."""
        self._recent: OrderedDict[str, LayerInventory] = OrderedDict()
        """Decoded inventories, most recently used last: base layers are shared by many images."""
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("pragma journal_mode=wal")
            # a cache: entries lost or damaged by a crash are recomputed (and a file damaged beyond
            # use is moved aside), so no write waits for the disk
            db.execute("pragma synchronous=off")
            db.execute(_SCHEMA)
            return db
        except sqlite3.DatabaseError:
            # not a database (damaged, or something else): keep it for inspection, start afresh
            self.path.replace(self.path.with_name(self.path.name + ".damaged"))
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute(_SCHEMA)
            return db

    def has(self, digest: str) -> bool:
        """Whether an intact entry exists (its checksum is verified; it is not decoded: sources ask
        this for every layer before deciding what to download, and `get` decodes it once later)."""
        with self._lock:
            if digest in self._recent:
                return True
        return self._intact_payload(digest) is not None

    def get(self, digest: str) -> LayerInventory | None:
        with self._lock:
            if digest in self._recent:
                self._recent.move_to_end(digest)
                return self._recent[digest]
        payload = self._intact_payload(digest)
        if payload is None:
            return None
        try:
            inventory = self._decoder.decode(payload)
        except msgspec.MsgspecError:
            inventory = None
        if inventory is None or inventory.digest != digest:
            self._discard(digest)
            return None
        self._remember(inventory)
        return inventory

    def _intact_payload(self, digest: str) -> bytes | None:
        """The stored bytes, if written by this scanner version and matching their checksum;
        a damaged or outdated entry is deleted."""
        with self._lock:
            row = self._db.execute(
                "select scanner_version, checksum, payload from layers where digest = ?", (digest,)
            ).fetchone()
        if row is None:
            return None
        version, checksum, payload = row
        if version != SCANNER_VERSION or hashlib.blake2b(payload, digest_size=16).digest() != checksum:
            self._discard(digest)
            return None
        return payload

    def _remember(self, inventory: LayerInventory) -> None:
        with self._lock:
            self._recent[inventory.digest] = inventory
            self._recent.move_to_end(inventory.digest)
            while len(self._recent) > RECENT_ENTRIES:
                self._recent.popitem(last=False)

    def put(self, inventory: LayerInventory) -> None:
        payload = self._encoder.encode(inventory)
        checksum = hashlib.blake2b(payload, digest_size=16).digest()
        with self._lock:
            self._db.execute(
                "insert or replace into layers values (?, ?, ?, ?)",
                (inventory.digest, SCANNER_VERSION, checksum, payload),
            )
        self._remember(inventory)

    def _discard(self, digest: str) -> None:
        with self._lock:
            self._recent.pop(digest, None)
            self._db.execute("delete from layers where digest = ?", (digest,))
            self.discarded += 1

    def stats(self) -> tuple[int, int]:
        """(entries, bytes on disk)."""
        with self._lock:
            (entries,) = self._db.execute("select count(*) from layers").fetchone()
        size = sum(p.stat().st_size for p in self.directory.glob("layers.sqlite*") if p.is_file())
        return entries, size

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
            self._db.execute("delete from layers")
            self._db.execute("vacuum")

    def close(self) -> None:
        with self._lock:
            self._db.close()
