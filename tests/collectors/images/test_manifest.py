"""Image documents: configs, history alignment, indexes and platforms, and the images of a layout."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime

import pytest

from audit.images import LayerRef
from collectors.images.manifest import (
    Descriptor,
    HistoryStep,
    ImageSourceError,
    ManifestError,
    Platform,
    align_history,
    host_platform,
    parse_config,
    parse_docker_manifest,
    parse_index,
    parse_manifest,
    plan_images,
    select_manifest,
    trailing_steps,
)
from tests.realparts import OCIImage, docker_archive, image_config, layer_tar, oci_layout, sha256

LAYER_A = layer_tar({"etc/os-release": b"ID=debian\n"})
LAYER_B = layer_tar({"usr/bin/curl": b"curl"})
DIFF_IDS = [sha256(LAYER_A), sha256(LAYER_B)]


class Files:
    """A layout held in a dict, as the archive readers present one."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def exists(self, path: str) -> bool:
        return path in self.files


# ---------------------------------------------------------------- config


def test_config_fields():
    raw = json.dumps(
        {
            "created": "2024-05-01T10:20:30.123456789Z",
            "architecture": "arm64",
            "variant": "v8",
            "os": "linux",
            "config": {
                "User": "app",
                "ExposedPorts": {"9090/udp": {}, "8080/tcp": {}},
                "Labels": {"maintainer": "x"},
                "Entrypoint": ["/entry"],
                "Cmd": "serve",
                "Env": ["A=1"],
            },
            "rootfs": {"type": "layers", "diff_ids": DIFF_IDS},
            "history": [
                {"created": "2024-05-01T10:00:00Z", "comment": "Imported from -"},
                {"created_by": "ENV A=1", "empty_layer": True},
                {"created_by": "COPY curl /usr/bin/", "created": "2024-05-01T10:20:30Z"},
            ],
        }
    ).encode()
    parsed = parse_config(raw)
    assert parsed.config.created == datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert parsed.config.user == "app"
    assert parsed.config.exposed_ports == ("8080/tcp", "9090/udp")
    assert parsed.config.labels == {"maintainer": "x"}
    assert (parsed.config.os, parsed.config.architecture) == ("linux", "arm64")
    assert parsed.config.entrypoint == ("/entry",)
    assert parsed.config.cmd == ("serve",)
    assert parsed.diff_ids == tuple(DIFF_IDS)
    assert parsed.history == (
        HistoryStep("Imported from -", datetime(2024, 5, 1, 10, tzinfo=UTC), False),
        HistoryStep("ENV A=1", None, True),
        HistoryStep("COPY curl /usr/bin/", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC), False),
    )


def test_config_with_nulls_is_root_with_nothing_set():
    parsed = parse_config(b'{"config": {"User": null, "Labels": null, "Cmd": null}, "rootfs": {"diff_ids": null}}')
    assert parsed.config.user == ""
    assert parsed.config.labels == {}
    assert parsed.config.cmd == ()
    assert parsed.diff_ids == ()
    assert parsed.history == ()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "config: JSON is malformed"),
        (b'{"config": {"Labels": {"a": 1}}}', "got `int` - at `$.config.Labels"),
        (b'{"rootfs": {"diff_ids": ["../../etc"]}}', "non-digest"),
        (b"[1, 2]", "Expected `object`"),
        (b" " * (8 * 1024 * 1024 + 1), "more than"),
    ],
)
def test_bad_config_is_a_one_line_manifest_error(raw, says):
    with pytest.raises(ManifestError) as caught:
        parse_config(raw, "config")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- history


def steps(*spec: str) -> list[HistoryStep]:
    """`+X` makes a layer, `-X` does not."""
    return [HistoryStep(created_by=s[1:], empty_layer=s[0] == "-") for s in spec]


def test_empty_layer_steps_go_to_the_next_layer():
    history = steps("+ADD rootfs", "-CMD bash", "-ENV A=1", "+RUN apt-get install curl", "+COPY app /", "-USER app")
    refs, errors = align_history(history, ["sha256:a", "sha256:b", "sha256:c"])
    assert refs == [
        LayerRef(digest="sha256:a", created_by="ADD rootfs"),
        LayerRef(digest="sha256:b", created_by="RUN apt-get install curl", empty_layer_steps=("CMD bash", "ENV A=1")),
        LayerRef(digest="sha256:c", created_by="COPY app /"),
    ]
    assert errors == []
    assert trailing_steps(history) == ("USER app",)


def test_history_that_does_not_add_up_keeps_every_layer_and_says_so():
    refs, errors = align_history(steps("+ADD rootfs", "-CMD bash"), ["sha256:a", "sha256:b"])
    assert [r.digest for r in refs] == ["sha256:a", "sha256:b"]
    assert refs[1] == LayerRef(digest="sha256:b")
    assert errors == ["history names 1 layer steps but the image has 2 layers"]

    refs, errors = align_history(steps("+A", "+B", "+C"), ["sha256:a"])
    assert refs == [LayerRef(digest="sha256:a", created_by="A")]
    assert errors == ["history names 3 layer steps but the image has 1 layers"]


def test_no_history_is_no_error():
    refs, errors = align_history([], ["sha256:a"])
    assert refs == [LayerRef(digest="sha256:a")]
    assert errors == []


# ---------------------------------------------------------------- indexes and platforms


def descriptor(digest_seed: bytes, platform: str | None, **annotations: str) -> dict:
    entry: dict = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(digest_seed), "size": 1}
    if platform:
        os_name, architecture, *variant = platform.split("/")
        entry["platform"] = {
            "os": os_name,
            "architecture": architecture,
            **({"variant": variant[0]} if variant else {}),
        }
    if annotations:
        entry["annotations"] = annotations
    return entry


def test_select_manifest_by_platform_and_variant():
    index = parse_index(
        json.dumps(
            {
                "manifests": [
                    descriptor(b"att", "unknown/unknown", **{"vnd.docker.reference.type": "attestation-manifest"}),
                    descriptor(b"amd64", "linux/amd64"),
                    descriptor(b"armv6", "linux/arm/v6"),
                    descriptor(b"armv7", "linux/arm/v7"),
                    descriptor(b"arm64", "linux/arm64"),
                ]
            }
        ).encode()
    )
    assert index[0].is_attestation
    assert select_manifest(index, Platform.parse("linux/amd64")).digest == sha256(b"amd64")
    assert select_manifest(index, Platform.parse("linux/arm/v7")).digest == sha256(b"armv7")
    assert select_manifest(index, Platform.parse("linux/arm")).digest == sha256(b"armv6")  # any variant
    assert select_manifest(index, Platform.parse("linux/arm64/v8")).digest == sha256(b"arm64")  # v8 is arm64's default
    assert select_manifest(index, Platform.parse("linux/s390x")) is None
    assert select_manifest(index, Platform.parse("unknown/unknown")) is None  # attestations are no images
    present = frozenset({sha256(b"armv7")})
    assert select_manifest(index, Platform.parse("linux/arm"), present=present).digest == sha256(b"armv7")


def test_platform_text():
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8"
    with pytest.raises(ValueError):
        Platform.parse("linux")
    assert host_platform().os == "linux"
    assert host_platform().architecture in {"amd64", "arm64", "arm", "ppc64le", "s390x", "riscv64", "386"}


def test_index_entries_must_be_digests():
    raw = json.dumps({"manifests": [{"mediaType": "x", "digest": "sha256:../../etc/passwd"}]}).encode()
    with pytest.raises(ManifestError, match="not a digest"):
        parse_index(raw, "index.json")


def test_manifest_needs_config_and_layers():
    with pytest.raises(ManifestError, match="not an image manifest"):
        parse_manifest(b'{"schemaVersion": 2, "manifests": []}')
    with pytest.raises(ManifestError, match="schema 1"):
        parse_manifest(b'{"schemaVersion": 1, "fsLayers": []}')


def test_docker_archive_manifest():
    raw = json.dumps(
        [
            {
                "Config": "abc.json",
                "RepoTags": ["app:1", "app:latest"],
                "Layers": ["1/layer.tar", "2/layer.tar"],
                "LayerSources": {DIFF_IDS[1]: {"mediaType": "foreign", "digest": DIFF_IDS[1], "size": 5}},
            },
            {"Config": "def.json", "RepoTags": None, "Layers": []},
        ]
    ).encode()
    first, second = parse_docker_manifest(raw)
    assert first.config == "abc.json"
    assert first.repo_tags == ("app:1", "app:latest")
    assert first.layers == ("1/layer.tar", "2/layer.tar")
    assert first.layer_sources[DIFF_IDS[1]] == Descriptor("foreign", DIFF_IDS[1], 5)
    assert second.repo_tags == ()
    with pytest.raises(ManifestError, match="no Config"):
        parse_docker_manifest(b'[{"RepoTags": []}]')


# ---------------------------------------------------------------- the images of a layout


def test_docker_archive_plan():
    config = image_config(
        DIFF_IDS,
        history=[
            {"created_by": "ADD rootfs /"},
            {"created_by": "CMD sh", "empty_layer": True},
            {"created_by": "COPY curl /"},
            {"created_by": "ENTRYPOINT /x", "empty_layer": True},
        ],
        labels={"org.opencontainers.image.base.name": "debian:12"},
    )
    archive = docker_archive([([LAYER_A, LAYER_B], config, ["app:1"])])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    (plan,) = plan_images(Files(files))
    assert plan.digest == plan.config_digest == sha256(config)
    assert plan.references == ("app:1",)
    assert [b.digest for b in plan.blobs] == DIFF_IDS
    assert [b.diff_id for b in plan.blobs] == DIFF_IDS
    assert plan.blobs[0].path.endswith("/layer.tar")
    assert [(r.digest, r.created_by, r.empty_layer_steps) for r in plan.layers] == [
        (DIFF_IDS[0], "ADD rootfs /", ()),
        (DIFF_IDS[1], "COPY curl /", ("CMD sh",)),
    ]
    assert plan.trailing_steps == ("ENTRYPOINT /x",)
    assert plan.base_name == "debian:12"
    assert plan.errors == []


def test_oci_plan_with_base_annotations_and_blob_digests():
    annotations = {
        "org.opencontainers.image.base.digest": sha256(b"base"),
        "org.opencontainers.image.base.name": "docker.io/library/debian:12",
    }
    layout = oci_layout([OCIImage([LAYER_A, LAYER_B], image_config(DIFF_IDS), annotations=annotations)], name="app:2")
    (plan,) = plan_images(Files(layout.files))
    assert plan.digest == layout.manifests[0]
    assert plan.references == ("app:2",)
    assert [(b.path, b.digest, b.diff_id) for b in plan.blobs] == [(f"blobs/sha256/{d[7:]}", d, d) for d in DIFF_IDS]
    assert plan.base_digest == sha256(b"base")
    assert plan.base_name == "docker.io/library/debian:12"
    assert [r.created_by for r in plan.layers] == ["COPY layer-1 /", "COPY layer-2 /"]


def test_engine_25_layout_takes_manifests_from_oci_and_tags_from_manifest_json():
    layout = oci_layout([OCIImage([LAYER_A], image_config(DIFF_IDS[:1]))], docker_manifest=True)
    files = dict(layout.files)
    files["manifest.json"] = files["manifest.json"].replace(b"null", b'["app:25"]')
    (plan,) = plan_images(Files(files))
    assert plan.digest == layout.manifests[0]
    assert plan.references == ("app:25",)


def test_multi_platform_index_picks_one_platform():
    amd64 = OCIImage([LAYER_A], image_config(DIFF_IDS[:1], architecture="amd64"))
    arm64 = OCIImage([LAYER_B], image_config(DIFF_IDS[1:], architecture="arm64"), platform=("linux", "arm64", "v8"))
    layout = oci_layout([amd64, arm64], name="multi:1", multi_platform=True, attestation=True)
    (plan,) = plan_images(Files(layout.files), platform=Platform.parse("linux/arm64"))
    assert plan.digest == layout.index  # the runtime names a multi-platform image by its index
    assert plan.references == ("multi:1",)
    assert plan.config.architecture == "arm64"
    assert [b.digest for b in plan.blobs] == DIFF_IDS[1:]

    (plan,) = plan_images(Files(layout.files), platform=Platform.parse("linux/s390x"))
    assert plan.blobs == []
    assert plan.errors == ["multi:1: no manifest for linux/s390x among linux/amd64, linux/arm64/v8"]


def test_platform_not_given_prefers_this_machine_then_takes_what_is_there():
    s390x = OCIImage([LAYER_A], image_config(DIFF_IDS[:1], architecture="s390x"), platform=("linux", "s390x", ""))
    layout = oci_layout([s390x], multi_platform=True)
    (plan,) = plan_images(Files(layout.files))
    assert plan.config.architecture == "s390x"


def test_platforms_side_by_side_in_index_json_are_one_image():
    amd64 = OCIImage([LAYER_A], image_config(DIFF_IDS[:1], architecture="amd64"))
    arm64 = OCIImage([LAYER_B], image_config(DIFF_IDS[1:], architecture="arm64"), platform=("linux", "arm64", ""))
    layout = oci_layout([amd64, arm64], name="pair:1")
    (plan,) = plan_images(Files(layout.files), platform=Platform.parse("linux/arm64"))
    assert plan.digest == layout.manifests[1]
    assert plan.config.architecture == "arm64"


def test_partial_export_skips_platforms_whose_blobs_are_absent():
    amd64 = OCIImage([LAYER_A], image_config(DIFF_IDS[:1], architecture="amd64"))
    arm64 = OCIImage([LAYER_B], image_config(DIFF_IDS[1:], architecture="arm64"), platform=("linux", "arm64", ""))
    layout = oci_layout([amd64, arm64], multi_platform=True)
    files = {k: v for k, v in layout.files.items() if k != "blobs/sha256/" + layout.manifests[0][7:]}
    (plan,) = plan_images(Files(files))
    assert plan.config.architecture == "arm64"


def test_config_that_does_not_match_its_digest_is_refused():
    layout = oci_layout([OCIImage([LAYER_A], image_config(DIFF_IDS[:1]))], name="forged:1")
    config_path = "blobs/sha256/" + sha256(image_config(DIFF_IDS[:1]))[7:]
    files = {**layout.files, config_path: image_config(DIFF_IDS[:1], config={"User": "root"})}
    (plan,) = plan_images(Files(files))
    assert plan.blobs == []
    assert plan.errors == [f"forged:1: config: {config_path} does not match its digest"]


def test_artifacts_beside_images_are_not_images():
    layout = oci_layout([OCIImage([LAYER_A], image_config(DIFF_IDS[:1]))])
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.dev.cosign.sig", "digest": sha256(b"{}"), "size": 2},
            "layers": [],
        }
    ).encode()
    index = json.loads(layout.files["index.json"])
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(artifact)})
    files = {**layout.files, "index.json": json.dumps(index).encode(), "blobs/sha256/" + sha256(artifact)[7:]: artifact}
    assert len(plan_images(Files(files))) == 1


def test_a_layout_without_index_or_manifest_is_no_image_archive():
    with pytest.raises(ManifestError, match=r"neither index\.json nor manifest\.json"):
        plan_images(Files({"oci-layout": b"{}"}))


def test_image_source_error_is_one_line():
    error = ImageSourceError("app:1", "first line\nsecond   line")
    assert error.image == "app:1"
    assert error.reason == "first line second line"
    assert str(error) == "app:1: first line second line"
