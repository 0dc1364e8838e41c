"""Folding layers: whiteouts, opaque directories, and attribution of packages to layers."""

from __future__ import annotations

from audit.images import Executable, LayerInventory, LayerRef, OSRelease, Package, PackageDB
from collectors.layers.fold import find_base_boundary, fold_layers

STATUS = "var/lib/dpkg/status"


def deb(name: str, version: str) -> Package:
    return Package(name=name, version=version, ecosystem="deb", arch="amd64", path=STATUS)


def dpkg(*packages: Package) -> PackageDB:
    return PackageDB(path=STATUS, kind="dpkg", packages=packages)


def layer(digest: str, *databases: PackageDB, **facts: object) -> LayerInventory:
    return LayerInventory(digest=digest, databases=databases, **facts)  # type: ignore[arg-type]


def attribution(folded) -> dict[str, tuple[str, int]]:  # type: ignore[no-untyped-def]
    return {a.package.name: (a.package.version, a.layer) for a in folded.packages}


def test_packages_are_attributed_to_the_layer_that_put_their_current_version() -> None:
    base = layer("sha256:a", dpkg(deb("libc6", "2.36-9"), deb("openssl", "3.0.11-1")),
                 os_release=OSRelease(id="debian", version_id="12", path="etc/os-release"),
                 executables=(Executable(path="bin/sh", kind="shell", name="dash"),))
    app_files = layer("sha256:b")  # COPY of the application: no database change
    upgrade = layer("sha256:c", dpkg(deb("libc6", "2.36-9"), deb("openssl", "3.0.15-1"), deb("curl", "7.88.1-10")))
    folded = fold_layers([base, app_files, upgrade])
    assert attribution(folded) == {
        "libc6": ("2.36-9", 0),          # untouched since the base image
        "openssl": ("3.0.15-1", 2),      # upgraded by the third layer
        "curl": ("7.88.1-10", 2),        # installed by it
    }
    assert folded.os_release is not None and folded.os_release.version_id == "12"
    assert [e.name for e in folded.executables] == ["dash"]


def test_a_reinstalled_package_at_an_old_version_is_attributed_to_the_rewrite() -> None:
    layers = [layer("a", dpkg(deb("x", "1"))), layer("b", dpkg(deb("x", "2"))), layer("c", dpkg(deb("x", "1")))]
    assert attribution(fold_layers(layers)) == {"x": ("1", 2)}


def test_whiteouts_delete_files_and_directories_from_lower_layers() -> None:
    shells = (Executable(path="bin/bash", kind="shell", name="bash"),
              Executable(path="usr/bin/curl", kind="tool", name="curl"))
    python = PackageDB(path="usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", kind="python",
                       packages=(Package(name="requests", version="2.31.0", ecosystem="pypi"),))
    base = layer("a", dpkg(deb("bash", "5.2")), python, executables=shells)
    slim = layer("b", whiteouts=("bin/bash", "usr/lib/python3/dist-packages"), opaque_dirs=("usr/bin",))
    folded = fold_layers([base, slim])
    assert folded.executables == []
    assert attribution(folded) == {"bash": ("5.2", 0)}  # the dpkg database itself survived


def test_a_whited_out_database_recreated_later_starts_a_new_chain() -> None:
    layers = [layer("a", dpkg(deb("x", "1"))), layer("b", whiteouts=("var/lib/dpkg",)),
              layer("c", dpkg(deb("x", "1")))]
    assert attribution(fold_layers(layers)) == {"x": ("1", 2)}


def test_opaque_directory_keeps_what_the_same_layer_adds() -> None:
    exe = Executable(path="usr/bin/sh", kind="shell", name="sh")
    layers = [layer("a", executables=(Executable(path="usr/bin/wget", kind="tool", name="wget"),)),
              layer("b", opaque_dirs=("usr/bin",), executables=(exe,))]
    assert fold_layers(layers).executables == [exe]


def test_errors_are_carried_with_their_layer() -> None:
    broken = PackageDB(path=STATUS, kind="dpkg", error="malformed stanza at byte 812")
    folded = fold_layers([layer("a", broken), layer("b", error="layer truncated after 10 MB")])
    assert folded.errors == ["layer 1: var/lib/dpkg/status: malformed stanza at byte 812",
                             "layer 2: layer truncated after 10 MB"]


def test_release_files_when_there_is_no_os_release() -> None:
    folded = fold_layers([layer("a", os_files={"etc/alpine-release": "3.19.1"})])
    assert folded.os_release is not None and (folded.os_release.id, folded.os_release.version_id) == (
        "alpine", "3.19.1")


def test_base_boundary_from_history_then_os_database() -> None:
    refs = [LayerRef(digest="a", created_by="ADD rootfs.tar.xz /"),
            LayerRef(digest="b", created_by="RUN apt-get install -y curl",
                     empty_layer_steps=('/bin/sh -c #(nop)  CMD ["bash"]', "WORKDIR /app")),
            LayerRef(digest="c", created_by="COPY . /app")]
    layers = [layer("a", dpkg(deb("x", "1"))), layer("b", dpkg(deb("x", "1"), deb("curl", "7"))), layer("c")]
    assert find_base_boundary(refs, layers) == (1, "history")
    plain = [LayerRef(digest=r.digest, created_by=r.created_by) for r in refs]
    assert find_base_boundary(plain, layers) == (2, "os-database")
    assert find_base_boundary(plain, layers, base_layer_count=1) == (1, "annotation")
    assert find_base_boundary(plain[:1], layers[:1]) == (0, "")


def test_an_opaque_root_hides_every_lower_layer() -> None:
    layers = [layer("a", dpkg(deb("x", "1")), executables=(Executable(path="bin/sh", kind="shell", name="sh"),)),
              layer("b", opaque_dirs=("",))]
    folded = fold_layers(layers)
    assert (folded.packages, folded.executables) == ([], [])


def test_shared_attributions_give_the_same_answer_and_are_reused() -> None:
    base = layer("sha256:base", dpkg(deb("libc6", "2.36-9"), deb("openssl", "3.0.11-1")))
    upgrade = layer("sha256:up", dpkg(deb("libc6", "2.36-9"), deb("openssl", "3.0.15-1")))
    images = [[base, layer(f"sha256:own{i}")] for i in range(3)] + [[base, upgrade]]
    memo: dict = {}
    for layers in images:
        assert fold_layers(layers, memo).packages == fold_layers(layers).packages
    # one chain for the three images on the bare base, one for the upgraded image
    assert len(memo) == 2
    first, again = fold_layers(images[0], memo), fold_layers(images[1], memo)
    assert first.packages[0] is again.packages[0]
