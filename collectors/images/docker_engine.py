"""Images in a Docker engine, read through the `docker` SDK.

The engine tells the image's config and layer diff ids (`inspect`) and its
build history; `docker save` streams the image as a tar (the classic
docker-archive layout, or since Engine 25 an OCI layout with `manifest.json`
beside it), which is read front to back once and never stored: each layer is
handed to the scanner as it passes (see `archive.read_archive_stream`). When
the cache already holds every layer, the save is not asked for at all.

Calls block; the pipeline runs them in a thread. Every request has a timeout:
`timeout` for the small calls, `save_timeout` for the longest silence allowed
inside the save stream (an old engine copies the whole image before it sends
the first byte). Every failure is an `ImageSourceError` with a one-line reason.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
import msgspec
import requests
import urllib3.exceptions

from audit.images import LayerRef
from collectors.images.archive import LayerCache, ScanLayer, read_archive_stream
from collectors.images.manifest import (
    HistoryStep,
    ImageSourceError,
    ManifestError,
    ReadImage,
    align_history,
    one_line,
    parse_config,
)

_PULLABLE_PREFIXES = ("docker-pullable://", "docker://")


class DockerEngine:
    """One Docker engine: reads its images by reference, id or digest."""

    def __init__(self, client: docker.DockerClient, *, where: str = "", save_timeout: float = 600.0) -> None:
        self.client = client
        self.where = where or client.api.base_url
        self.timeout = float(client.api.timeout)
        """Seconds the small calls may take; the client's own timeout."""
        self.save_timeout = save_timeout

    @classmethod
    def connect(
        cls, base_url: str | None = None, *, timeout: float = 60.0, save_timeout: float = 600.0
    ) -> DockerEngine:
        """The engine at `base_url` (`unix:///var/run/docker.sock`, `tcp://…`), or the one `DOCKER_HOST`
        and friends name. Raises ImageSourceError (with no image) when it does not answer."""
        where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        try:
            if base_url:
                client = docker.DockerClient(base_url=base_url, timeout=timeout)
            else:
                client = docker.from_env(timeout=timeout)
        except docker.errors.DockerException as error:
            raise ImageSourceError("", _reason(error, timeout, where)) from None
        return cls(client, where=where, save_timeout=save_timeout)

    def close(self) -> None:
        self.client.close()

    def read_image(self, reference: str, *, scan: ScanLayer, cache: LayerCache | None = None) -> ReadImage:
        """The image `reference` names (`nginx:1.27`, `sha256:…`, `docker-pullable://name@sha256:…`).

        Layers whose diff id `cache.has` are not scanned where the layout lets them be told apart
        before reading (see archive.read_archive_stream); their inventory is None."""
        name = reference
        for prefix in _PULLABLE_PREFIXES:
            name = name.removeprefix(prefix)
        try:
            attrs = self.client.api.inspect_image(name)
            history = self.client.api.history(attrs["Id"])
        except Exception as error:
            raise ImageSourceError(reference, _reason(error, self.timeout, self.where)) from None
        try:
            described = describe(attrs, history)
        except ManifestError as error:
            raise ImageSourceError(reference, str(error)) from None
        # every layer known and the history lined up: nothing to gain from a save
        cached = cache is not None and all(cache.has(digest) for digest in described.diff_ids)
        if cached and described.diff_ids and not described.errors:
            return described
        saved = self._save(reference, attrs["Id"], scan, cache, described.diff_ids)
        return ReadImage(
            digest=described.digest,
            references=described.references,
            config=saved.config,
            layers=saved.layers,
            layer_inventories=saved.layer_inventories,
            base_digest=saved.base_digest,
            errors=saved.errors,
            base_name=saved.base_name,
            config_digest=described.config_digest,
            diff_ids=saved.diff_ids or described.diff_ids,
            trailing_steps=saved.trailing_steps,
        )

    def _save(
        self, reference: str, image_id: str, scan: ScanLayer, cache: LayerCache | None, diff_ids: tuple[str, ...]
    ) -> ReadImage:
        api = self.client.api
        url = f"{api.base_url}/v{api.api_version}/images/{urllib.parse.quote(image_id, safe='')}/get"
        try:
            # the SDK's own get_image turns the socket timeout off; this keeps it
            response = api.get(url, stream=True, timeout=(self.timeout, self.save_timeout))
            with response:
                if response.status_code != 200:
                    raise ImageSourceError(reference, f"docker save failed: {_api_message(response)}")
                images = read_archive_stream(
                    response.raw, scan=scan, cache=cache, known_layers=diff_ids, name=f"docker save {reference}"
                )
        except ImageSourceError as error:
            raise ImageSourceError(reference, error.reason) from None
        except Exception as error:  # the connection, as the archive reader met it
            raise ImageSourceError(reference, _reason(error, self.save_timeout, self.where)) from None
        matching = [image for image in images if image.config_digest == image_id] or images
        saved = matching[0]
        if not saved.layers and saved.errors:
            raise ImageSourceError(reference, saved.errors[0])
        return saved


def describe(attrs: dict[str, Any], history: list[dict[str, Any]]) -> ReadImage:
    """What the engine says of an image without saving it: config, diff ids and the history
    aligned to them as far as the history API tells (it does not say which steps made no layer)."""
    runtime = attrs.get("Config") or {}
    document = {
        "created": attrs.get("Created") or None,
        "os": attrs.get("Os") or "",
        "architecture": attrs.get("Architecture") or "",
        "config": {key: runtime.get(key) for key in ("User", "ExposedPorts", "Labels", "Entrypoint", "Cmd")},
        "rootfs": {"diff_ids": (attrs.get("RootFS") or {}).get("Layers") or []},
    }
    parsed = parse_config(msgspec.json.encode(document), f"docker inspect {attrs.get('Id', '')}")
    layers, errors = _layers_from_history(history, parsed.diff_ids)
    repo_digests = [d for d in attrs.get("RepoDigests") or [] if "@" in d]
    return ReadImage(
        # what a pod's imageID names: the registry digest, or the image id for an image never pushed
        digest=repo_digests[0].split("@", 1)[1] if repo_digests else attrs.get("Id", ""),
        references=tuple(dict.fromkeys([*(attrs.get("RepoTags") or []), *repo_digests])),
        config=parsed.config,
        layers=layers,
        layer_inventories=[None] * len(layers),
        config_digest=attrs.get("Id", ""),
        diff_ids=parsed.diff_ids,
        errors=errors,
    )


_NOP = re.compile(r"#\(nop\)\s*(\S+)")
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)\b")
_LAYER_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})


def _makes_layer(entry: dict[str, Any]) -> bool:
    """Whether a history API entry made a layer. The API drops `empty_layer`; a size tells only when
    it is not zero (a layer that only deletes is empty in size), so the step's instruction decides."""
    if (entry.get("Size") or 0) > 0:
        return True
    created_by = (entry.get("CreatedBy") or "").strip()
    if not created_by:
        return True  # an import or a commit
    nop = _NOP.search(created_by)
    if nop:  # the classic builder marks metadata steps #(nop); COPY and ADD carry it too
        return nop.group(1).upper() in _LAYER_INSTRUCTIONS
    if created_by.startswith(("/bin/sh -c", "|")):
        return True  # a classic builder RUN, with or without build arguments
    instruction = _INSTRUCTION.match(created_by)
    return bool(instruction) and instruction.group(1).upper() in _LAYER_INSTRUCTIONS


def _layers_from_history(history: list[dict[str, Any]], diff_ids: tuple[str, ...]) -> tuple[list[LayerRef], list[str]]:
    """LayerRefs from the history API (newest first); bare refs and the reason when the steps
    do not add up to the layers."""
    steps = [
        HistoryStep(
            created_by=entry.get("CreatedBy") or entry.get("Comment") or "",
            created=datetime.fromtimestamp(entry["Created"], UTC) if entry.get("Created") else None,
            empty_layer=not _makes_layer(entry),
        )
        for entry in reversed(history)
    ]
    made = sum(not step.empty_layer for step in steps)
    if made != len(diff_ids):
        reason = f"the engine's history names {made} layer steps but the image has {len(diff_ids)} layers"
        return [LayerRef(digest=digest) for digest in diff_ids], [reason]
    return align_history(steps, diff_ids)


def _api_message(response: requests.Response) -> str:
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = response.text[:200]
    return f"{response.status_code} {message}".strip()


def _reason(error: BaseException, timeout: float, where: str) -> str:
    """One line for the coverage gap."""
    if isinstance(error, docker.errors.NotFound):
        return "not in the docker engine"
    if isinstance(error, docker.errors.APIError):
        return f"docker engine error {error.status_code}: {one_line(str(error.explanation or error), 200)}"
    if isinstance(
        error, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    ) or "timed out" in str(error):
        return f"docker engine did not answer within {timeout:g} s"
    if isinstance(
        error,
        (requests.exceptions.ConnectionError, urllib3.exceptions.ProtocolError, ConnectionError, FileNotFoundError),
    ) or "Connection aborted" in str(error):
        return f"docker engine unreachable at {where}: {one_line(str(error), 200)}"
    if isinstance(error, docker.errors.DockerException):
        return one_line(str(error), 250)
    return f"{type(error).__name__}: {one_line(str(error), 200)}"
