"""Synthetic container images for the demo cluster, written as one docker-archive tarball.

`write_demo_images(objects, path)` gives every distinct image the demo pods
run (containers, init and ephemeral containers) a small image of its own,
tagged with exactly the string the pod names, so that kubeward's archive
source finds it by name. The images are built from a handful of shared base
layers, as real images are:

- Debian 12 with a dpkg status of ~40 packages (openssl, glibc, curl and zlib
  among them at versions with known vulnerabilities), `bin/sh -> dash`, bash
  and apt;
- Alpine 3.19 with an apk database (musl, busybox, openssl 3.1.4-r0 …) and
  `bin/sh -> /bin/busybox`;
- a distroless-style Debian 12 base: `var/lib/dpkg/status.d/*` and no shell;
- Debian 10, past its end of life, for one or two legacy images;

plus one small layer per image for the application itself (a Python
distribution's metadata, a node_modules package, a binary). Layers hold only
those few files, so the archive for the 400-pod demo is a few hundred KB and
written in a fraction of a second.

The output depends only on the images the objects name and the seed: fixed
modification times, sorted archive members, no wall-clock reads.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

Entry = bytes | str | None
"""What a layer holds at a path: file content (bytes), a symlink target (str), or a directory (None)."""

_BASE_MTIME = 1_700_000_000
_CREATED_FROM = datetime(2024, 1, 8, tzinfo=UTC)
_CREATED_SPAN_DAYS = 2 * 365 + 150  # to early summer 2026

# ---------------------------------------------------------------- base root filesystems


def _dpkg_stanza(
    name: str,
    version: str,
    *,
    source: str = "",
    arch: str = "amd64",
    section: str = "libs",
    priority: str = "optional",
    essential: bool = False,
    description: str = "",
) -> str:
    lines = [f"Package: {name}", "Status: install ok installed"]
    if essential:
        lines.append("Essential: yes")
    lines += [
        f"Priority: {priority}",
        f"Section: {section}",
        "Maintainer: Debian Developers <debian-devel@lists.debian.org>",
        f"Architecture: {arch}",
    ]
    if source:
        lines.append(f"Source: {source}")
    lines += [f"Version: {version}", f"Description: {description or name}"]
    return "\n".join(lines) + "\n"


# (name, version, source, section, essential); the source is given only where it differs from the name,
# with its version in parentheses where that differs too, as dpkg writes it.
_BOOKWORM: list[tuple[str, str, str, str, bool]] = [
    ("adduser", "3.134", "", "admin", False),
    ("apt", "2.6.1", "", "admin", False),
    ("base-files", "12.4+deb12u5", "", "admin", True),
    ("base-passwd", "3.6.1", "", "admin", True),
    ("bash", "5.2.15-2+b2", "bash (5.2.15-2)", "shells", True),
    ("bsdutils", "1:2.38.1-5+deb12u1", "util-linux (2.38.1-5+deb12u1)", "utils", True),
    ("ca-certificates", "20230311", "", "misc", False),
    ("coreutils", "9.1-1", "", "utils", True),
    ("curl", "7.88.1-10+deb12u4", "", "web", False),
    ("dash", "0.5.12-2", "", "shells", True),
    ("debconf", "1.5.82", "", "admin", True),
    ("debian-archive-keyring", "2023.3+deb12u1", "", "misc", False),
    ("debianutils", "5.7-0.5~deb12u1", "", "utils", True),
    ("diffutils", "1:3.8-4", "", "utils", True),
    ("dpkg", "1.21.22", "", "admin", True),
    ("findutils", "4.9.0-4", "", "utils", True),
    ("gcc-12-base", "12.2.0-14", "gcc-12", "libs", False),
    ("gpgv", "2.2.40-1.1", "gnupg2", "utils", False),
    ("grep", "3.8-5", "", "utils", True),
    ("gzip", "1.12-1", "", "utils", True),
    ("hostname", "3.23+nmu1", "", "admin", True),
    ("init-system-helpers", "1.65.2", "", "admin", True),
    ("libacl1", "2.3.1-3", "acl", "libs", False),
    ("libapt-pkg6.0", "2.6.1", "apt", "libs", False),
    ("libbz2-1.0", "1.0.8-5+b1", "bzip2 (1.0.8-5)", "libs", False),
    ("libc-bin", "2.36-9+deb12u3", "glibc", "libs", True),
    ("libc6", "2.36-9+deb12u3", "glibc", "libs", False),
    ("libcurl4", "7.88.1-10+deb12u4", "curl", "libs", False),
    ("libgcc-s1", "12.2.0-14", "gcc-12", "libs", False),
    ("liblzma5", "5.4.1-0.2", "xz-utils", "libs", False),
    ("libpcre2-8-0", "10.42-1", "pcre2", "libs", False),
    ("libselinux1", "3.4-1+b6", "libselinux (3.4-1)", "libs", False),
    ("libssl3", "3.0.11-1~deb12u1", "openssl", "libs", False),
    ("libstdc++6", "12.2.0-14", "gcc-12", "libs", False),
    ("libsystemd0", "252.19-1~deb12u1", "systemd", "libs", False),
    ("libtinfo6", "6.4-4", "ncurses", "libs", False),
    ("libzstd1", "1.5.4+dfsg2-5", "libzstd", "libs", False),
    ("login", "1:4.13+dfsg1-1+b1", "shadow (1:4.13+dfsg1-1)", "admin", True),
    ("mawk", "1.3.4.20200120-3.1", "", "interpreters", False),
    ("ncurses-base", "6.4-4", "ncurses", "misc", True),
    ("openssl", "3.0.11-1~deb12u1", "", "utils", False),
    ("passwd", "1:4.13+dfsg1-1+b1", "shadow (1:4.13+dfsg1-1)", "admin", False),
    ("perl-base", "5.36.0-7+deb12u1", "perl", "perl", True),
    ("sed", "4.9-1", "", "utils", True),
    ("sysvinit-utils", "3.06-4", "sysvinit", "admin", True),
    ("tar", "1.34+dfsg-1.2+deb12u1", "", "utils", True),
    ("tzdata", "2024a-0+deb12u1", "", "localization", False),
    ("zlib1g", "1:1.2.13.dfsg-1", "zlib", "libs", False),
]

_BUSTER: list[tuple[str, str, str, str, bool]] = [
    ("apt", "1.8.2.3", "", "admin", False),
    ("base-files", "10.3+deb10u13", "", "admin", True),
    ("bash", "5.0-4", "", "shells", True),
    ("coreutils", "8.30-3", "", "utils", True),
    ("dash", "0.5.10.2-5", "", "shells", True),
    ("dpkg", "1.19.8", "", "admin", True),
    ("libc-bin", "2.28-10+deb10u2", "glibc", "libs", True),
    ("libc6", "2.28-10+deb10u2", "glibc", "libs", False),
    ("libssl1.1", "1.1.1n-0+deb10u3", "openssl", "libs", False),
    ("openssl", "1.1.1n-0+deb10u3", "", "utils", False),
    ("tzdata", "2021a-0+deb10u12", "", "localization", False),
    ("zlib1g", "1:1.2.11.dfsg-1+deb10u1", "zlib", "libs", False),
]

_DISTROLESS: list[tuple[str, str, str, str, bool]] = [
    ("base-files", "12.4+deb12u5", "", "admin", True),
    ("ca-certificates", "20230311", "", "misc", False),
    ("libc6", "2.36-9+deb12u3", "glibc", "libs", False),
    ("libssl3", "3.0.11-1~deb12u1", "openssl", "libs", False),
    ("netbase", "6.4", "", "admin", False),
    ("tzdata", "2024a-0+deb12u1", "", "localization", False),
]

# (package, version, origin, architecture)
_ALPINE: list[tuple[str, str, str]] = [
    ("alpine-baselayout", "3.4.3-r2", "alpine-baselayout"),
    ("alpine-baselayout-data", "3.4.3-r2", "alpine-baselayout"),
    ("alpine-keys", "2.4-r1", "alpine-keys"),
    ("apk-tools", "2.14.0-r5", "apk-tools"),
    ("busybox", "1.36.1-r15", "busybox"),
    ("busybox-binsh", "1.36.1-r15", "busybox"),
    ("ca-certificates-bundle", "20230506-r0", "ca-certificates"),
    ("libc-utils", "0.7.2-r5", "libc-dev"),
    ("libcrypto3", "3.1.4-r0", "openssl"),
    ("libssl3", "3.1.4-r0", "openssl"),
    ("musl", "1.2.4_git20230717-r4", "musl"),
    ("musl-utils", "1.2.4_git20230717-r4", "musl"),
    ("scanelf", "1.3.7-r2", "pax-utils"),
    ("ssl_client", "1.36.1-r15", "busybox"),
    ("zlib", "1.3-r2", "zlib"),
]


def _dpkg_status(packages: list[tuple[str, str, str, str, bool]]) -> str:
    return "\n".join(
        _dpkg_stanza(
            name,
            version,
            source=source,
            section=section,
            essential=essential,
            arch="all" if name in ("ca-certificates", "tzdata", "debconf", "adduser") else "amd64",
            priority="required" if essential else "optional",
        )
        for name, version, source, section, essential in packages
    )


def _apk_installed(packages: list[tuple[str, str, str]]) -> str:
    return "".join(
        f"C:Q1{hashlib.sha1(f'{name}-{version}'.encode()).hexdigest()[:26]}=\nP:{name}\nV:{version}\n"
        f"A:x86_64\nS:1024\nI:4096\nT:{name}\nU:https://alpinelinux.org\nL:MIT\no:{origin}\n"
        "m:Natanael Copa <ncopa@alpinelinux.org>\nt:1700000000\n\n"
        for name, version, origin in packages
    )


_DEBIAN_12_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
    'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL="https://www.debian.org/"\n'
    'SUPPORT_URL="https://www.debian.org/support"\nBUG_REPORT_URL="https://bugs.debian.org/"\n'
)
_DEBIAN_10_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nNAME="Debian GNU/Linux"\nVERSION_ID="10"\n'
    'VERSION="10 (buster)"\nVERSION_CODENAME=buster\nID=debian\nHOME_URL="https://www.debian.org/"\n'
)
_ALPINE_RELEASE = (
    'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'
    'HOME_URL="https://alpinelinux.org/"\nBUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"\n'
)
_DISTROLESS_RELEASE = (
    'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\n'
    'VERSION="Debian GNU/Linux 12 (bookworm)"\n'
    'HOME_URL="https://github.com/GoogleContainerTools/distroless"\n'
)

_ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8)  # a header only: enough to look like a binary, too short to parse


def _debian_rootfs(release: str, status: str, debian_version: str) -> dict[str, Entry]:
    return {
        "bin": None,
        "bin/bash": _ELF + b"bash\n",
        "bin/cat": _ELF + b"cat\n",
        "bin/dash": _ELF + b"dash\n",
        "bin/ls": _ELF + b"ls\n",
        "bin/sh": "dash",
        "etc": None,
        "etc/debian_version": debian_version.encode(),
        "etc/os-release": release.encode(),
        "etc/passwd": b"root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "tmp": None,
        "usr": None,
        "usr/bin": None,
        "usr/bin/apt": _ELF + b"apt\n",
        "usr/bin/apt-get": _ELF + b"apt-get\n",
        "usr/bin/dpkg": _ELF + b"dpkg\n",
        "var": None,
        "var/lib": None,
        "var/lib/dpkg": None,
        "var/lib/dpkg/status": status.encode(),
    }


def _alpine_rootfs() -> dict[str, Entry]:
    return {
        "bin": None,
        "bin/busybox": _ELF + b"busybox\n",
        "bin/sh": "/bin/busybox",
        "etc": None,
        "etc/alpine-release": b"3.19.1\n",
        "etc/os-release": _ALPINE_RELEASE.encode(),
        "etc/passwd": b"root:x:0:0:root:/root:/bin/ash\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
        "lib": None,
        "lib/apk": None,
        "lib/apk/db": None,
        "lib/apk/db/installed": _apk_installed(_ALPINE).encode(),
        "sbin": None,
        "sbin/apk": _ELF + b"apk\n",
        "tmp": None,
    }


def _distroless_rootfs() -> dict[str, Entry]:
    files: dict[str, Entry] = {
        "etc": None,
        "etc/os-release": _DISTROLESS_RELEASE.encode(),
        "etc/passwd": (
            b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
        ),
        "tmp": None,
        "var": None,
        "var/lib": None,
        "var/lib/dpkg": None,
        "var/lib/dpkg/status.d": None,
    }
    for package in _DISTROLESS:
        files[f"var/lib/dpkg/status.d/{package[0]}"] = _dpkg_status([package]).encode()
    return files


@dataclass(frozen=True)
class _Base:
    """A base image: its one layer and the history step that made it."""

    name: str
    files: dict[str, Entry]
    add: str
    """`created_by` of the step that added the root filesystem."""
    cmd: str
    created: str


_BASES = {
    "debian12": _Base(
        "debian12",
        _debian_rootfs(_DEBIAN_12_RELEASE, _dpkg_status(_BOOKWORM), "12.5\n"),
        "ADD rootfs.tar.xz / # buildkit",
        'CMD ["bash"]',
        "2024-02-13T00:00:00Z",
    ),
    "debian10": _Base(
        "debian10",
        _debian_rootfs(_DEBIAN_10_RELEASE, _dpkg_status(_BUSTER), "10.13\n"),
        "/bin/sh -c #(nop) ADD file:6e4c0e9bfcd2cb0a1f2eb4ad1c2ab8c2e0a4b4c52d1b0f4ce8d2c8b4ad1e9f0a in / ",
        '/bin/sh -c #(nop)  CMD ["bash"]',
        "2023-06-12T00:00:00Z",
    ),
    "alpine": _Base(
        "alpine",
        _alpine_rootfs(),
        "ADD alpine-minirootfs-3.19.1-x86_64.tar.gz / # buildkit",
        'CMD ["/bin/sh"]',
        "2024-01-27T00:00:00Z",
    ),
    "distroless": _Base(
        "distroless", _distroless_rootfs(), "bazel build //base:base_nonroot_amd64_debian12", "", "1970-01-01T00:00:00Z"
    ),
}

# ---------------------------------------------------------------- what each demo image is made of

# (fragment of the image name, base, application kind); the first match wins
_KNOWN: list[tuple[str, str, str]] = [
    ("checkout/cart:2.14.0", "debian10", "python"),
    ("promo-engine", "debian10", "node"),
    ("registry.k8s.io/", "distroless", "binary"),
    ("hashicorp/http-echo", "distroless", "binary"),
    ("ebs-csi-driver", "distroless", "binary"),
    ("node-driver-registrar", "distroless", "binary"),
    ("prometheus/", "distroless", "binary"),
    ("busybox", "alpine", "none"),
    ("alpine", "alpine", "binary"),
    ("docker:", "alpine", "binary"),
    ("netshoot", "alpine", "binary"),
    ("buildkit", "alpine", "binary"),
    ("grafana", "alpine", "node"),
    ("s3fs", "alpine", "binary"),
    ("gitlab-runner-helper", "alpine", "binary"),
    ("calico/", "debian12", "binary"),
    ("nginx", "debian12", "binary"),
    ("postgres", "debian12", "binary"),
    ("memcached", "debian12", "binary"),
    ("golang", "debian12", "binary"),
    ("opensearch", "debian12", "binary"),
]
_APP_CHOICES = [
    ("debian12", "python"),
    ("debian12", "python"),
    ("debian12", "node"),
    ("distroless", "binary"),
    ("alpine", "python"),
    ("debian12", "binary"),
]


@dataclass(frozen=True)
class _Plan:
    reference: str
    base: str
    app: str
    name: str
    created: datetime
    user: str


def _app_name(reference: str) -> str:
    repository = reference.partition("@")[0].rsplit("/", 1)[-1]
    return repository.partition(":")[0] or "app"


def _plan(reference: str, seed: int) -> _Plan:
    rng = random.Random(f"{seed}:{reference}")
    base, app = next(((b, a) for fragment, b, a in _KNOWN if fragment in reference), rng.choice(_APP_CHOICES))
    created = _CREATED_FROM + timedelta(days=rng.randrange(_CREATED_SPAN_DAYS), seconds=rng.randrange(86400))
    if base == "debian10":
        created = min(created, datetime(2024, 6, 20, tzinfo=UTC))  # built before buster's end and left alone
    user = "10001" if base == "distroless" or rng.random() < 0.45 else ""
    return _Plan(reference, base, app, _app_name(reference), created, user)


def _app_layer(plan: _Plan) -> tuple[dict[str, Entry], list[tuple[str, bool]], dict]:
    """(files, history steps (created_by, empty), runtime config) of the image's own part."""
    name = plan.name
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    if plan.app == "python":
        python = "usr/lib/python3/dist-packages" if plan.base != "alpine" else "usr/lib/python3.11/site-packages"
        metadata = "Metadata-Version: 2.1\nName: requests\nVersion: 2.25.1\nSummary: Python HTTP for Humans.\n"
        files: dict[str, Entry] = {
            "app": None,
            "app/main.py": f"from {name.replace('-', '_')} import serve\n\nserve()\n".encode(),
            "usr": None,
            "usr/bin": None,
            "usr/bin/python3": _ELF + b"python3\n",
            f"{python}/requests-2.25.1.dist-info": None,
            f"{python}/requests-2.25.1.dist-info/METADATA": metadata.encode(),
        }
        steps = [("COPY app /app", False), ("RUN pip install requests==2.25.1", False)]
        command = {"Cmd": ["python3", "/app/main.py"], "WorkingDir": "/app"}
    elif plan.app == "node":
        semver = {"name": "semver", "version": "7.5.1", "license": "ISC", "main": "index.js"}
        files = {
            "app": None,
            "app/package.json": json.dumps(
                {"name": name, "version": "1.0.0", "dependencies": {"semver": "^7.5.1"}}, indent=2
            ).encode(),
            "app/server.js": b"require('semver');\nrequire('http').createServer().listen(8080);\n",
            "app/node_modules": None,
            "app/node_modules/semver": None,
            "app/node_modules/semver/package.json": json.dumps(semver, indent=2).encode(),
            "usr": None,
            "usr/local": None,
            "usr/local/bin": None,
            "usr/local/bin/node": _ELF + b"node\n",
        }
        steps = [("COPY app /app", False), ("RUN npm ci --omit=dev", False)]
        command = {"Cmd": ["node", "/app/server.js"], "WorkingDir": "/app"}
    elif plan.app == "binary":
        files = {
            "usr": None,
            "usr/local": None,
            "usr/local/bin": None,
            f"usr/local/bin/{name}": f"#!demo {name}\n".encode(),
        }
        steps = [(f"COPY {name} /usr/local/bin/{name}", False)]
        command = {"Entrypoint": [f"/usr/local/bin/{name}"]}
    else:
        files = {"etc": None, "etc/motd": f"{plan.reference}\n".encode()}
        steps = [("COPY motd /etc/motd", False)]
        command = {}
    if plan.user:
        steps.append((f"USER {plan.user}", True))
    return files, steps, {"Env": env, **command, **({"User": plan.user} if plan.user else {})}


# ---------------------------------------------------------------- writing the archive


def _layer_tar(files: dict[str, Entry], mtime: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(files):
            entry = files[path]
            info = tarfile.TarInfo(path)
            info.mtime = mtime
            if entry is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(entry, str):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry, 0o777
                tar.addfile(info)
            else:
                executable = "bin/" in path or entry.startswith(_ELF)
                info.size, info.mode = len(entry), 0o755 if executable else 0o644
                tar.addfile(info, io.BytesIO(entry))
    return out.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_references(objects: Iterable[dict]) -> list[str]:
    """Every distinct image the pods among `objects` run, sorted."""
    found: set[str] = set()
    for obj in objects:
        if obj.get("kind") != "Pod":
            continue
        spec = obj.get("spec") or {}
        for field in ("containers", "initContainers", "ephemeralContainers"):
            for container in spec.get(field) or ():
                image = container.get("image")
                if isinstance(image, str) and image:
                    found.add(image)
    return sorted(found)


def docker_archive_members(images: Iterable[tuple[list[bytes], bytes, list[str]]]) -> dict[str, bytes]:
    """The files of a classic docker-archive (as `docker save` before Engine 25 writes it) by path:
    one `<id>/layer.tar` per layer, `<config digest>.json`, `manifest.json`. `images` are
    (layer tars, config, repo tags)."""
    members: dict[str, bytes] = {}
    manifest = []
    for layers, config, tags in images:
        paths = []
        for layer in layers:
            directory = hashlib.sha256(b"v1" + layer).hexdigest()
            members[f"{directory}/VERSION"] = b"1.0"
            members[f"{directory}/layer.tar"] = layer
            paths.append(f"{directory}/layer.tar")
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        members[config_name] = config
        manifest.append({"Config": config_name, "RepoTags": tags or None, "Layers": paths})
    members["manifest.json"] = json.dumps(manifest, separators=(",", ":")).encode()
    return members


def write_demo_images(objects: list[dict], path: Path, *, seed: int = 7) -> Path:
    """Write one docker-archive holding an image for every distinct image the demo pods use; returns `path`.

    Each image's `RepoTags` is exactly the string the pod names. The same objects and seed give the same bytes."""
    images: list[tuple[list[bytes], bytes, list[str]]] = []
    base_layers: dict[str, tuple[bytes, str]] = {}
    for number, (key, base) in enumerate(sorted(_BASES.items())):
        layer = _layer_tar(base.files, _BASE_MTIME + number * 86400)
        base_layers[key] = (layer, _digest(layer))
    for reference in image_references(objects):
        plan = _plan(reference, seed)
        base = _BASES[plan.base]
        base_layer, base_diff = base_layers[plan.base]
        files, steps, runtime = _app_layer(plan)
        app_layer = _layer_tar(files, int(plan.created.timestamp()))
        created = _timestamp(plan.created)
        history = [{"created": base.created, "created_by": base.add}]
        if base.cmd:
            history.append({"created": base.created, "created_by": base.cmd, "empty_layer": True})
        # one layer for the first non-empty step; the others in the demo change nothing on disk
        wrote = False
        for created_by, empty in steps:
            step: dict = {"created": created, "created_by": created_by, "comment": "buildkit.dockerfile.v0"}
            if empty or wrote:
                step["empty_layer"] = True
            wrote = wrote or not empty
            history.append(step)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": [base_diff, _digest(app_layer)]},
            "history": history,
        }
        config_blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        images.append(([base_layer, app_layer], config_blob, [reference]))
    members = docker_archive_members(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file, tarfile.open(fileobj=file, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(members):
            data = members[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, _BASE_MTIME
            tar.addfile(info, io.BytesIO(data))
    return path
