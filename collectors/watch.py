"""Keep the pods current: watch streams over the collector's client, read-only.

One watch per namespace of the audit's scope (or one across all namespaces) starts at the
resourceVersion the collection's pod list was served at, with bookmarks, and resumes from
the last version it saw whenever a stream ends or breaks. A 410 Gone (the version was
compacted away) lists the scope's pods again and hands them on as a full replacement.
Events are batched (`flush_interval`), so a rollout of hundreds of pods is one batch.

Pods are decoded as the collector decodes them. A pod watch cannot read the ReplicaSet or
Job a rollout or a CronJob run creates; those owners are recognised by the names their
controllers give them (`<deployment>-<pod-template-hash>`, `<cronjob>-<minutes>`) when the
inventory holds the Deployment or CronJob, so the pod still counts for its workload.

Nothing here raises for a failure: a 403, a server that went away, a damaged stream become
a `WatchStatus` for the UI, and the watch keeps retrying with backoff.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import msgspec
import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from audit.live import PodChanges
from audit.model import Inventory, ObjectMeta, OwnerReference, Pod, Workload
from collectors import resources as R
from collectors.kube import KubeCollector, KubeListError, RetryPolicy, tidy_pod, with_owner_chains


@dataclass(frozen=True)
class WatchStatus:
    """What the watch has to say: all well, or what is wrong (and that it keeps retrying)."""

    healthy: bool
    message: str = ""


class _Meta(msgspec.Struct, frozen=True, rename="camel"):
    name: str = ""
    namespace: str = ""
    resource_version: str = ""


class _Envelope(msgspec.Struct):
    type: str
    object: msgspec.Raw = msgspec.Raw(b"null")


class _Named(msgspec.Struct):
    metadata: _Meta = _Meta()


class _Status(msgspec.Struct):
    message: str = ""
    reason: str = ""
    code: int = 0


_envelope = msgspec.json.Decoder(_Envelope)
_named = msgspec.json.Decoder(_Named)
_pod = msgspec.json.Decoder(Pod)
_status = msgspec.json.Decoder(_Status)


class _Gone(Exception):
    """The resourceVersion is too old: list again."""


class _Failed(Exception):
    """The watch could not be opened or broke; retry after a pause."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Pending:
    """Changes seen since the last batch, as their net effect."""

    pods: dict[tuple[str, str], Pod | None] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)
    events: int = 0

    def replace(self, scope: str, pods: list[Pod]) -> None:
        for key in [k for k in self.pods if not scope or k[0] == scope]:
            del self.pods[key]
        self.replaced.add(scope)
        for pod in pods:
            self.pods[(pod.namespace, pod.name)] = pod
        self.events += len(pods) or 1


@dataclass
class PodWatcher:
    """Watches the pods of the inventory's scope and yields batches of changes (`batches()`)."""

    api_client: ApiClient
    inventory: Inventory
    """The collected inventory: its scope, its pod lists' resourceVersions and the workloads owner
    chains resolve through."""
    timeout: float = 30.0
    """Seconds to connect, and to wait for a list page."""
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=5, base_delay=0.5, max_delay=30.0))
    """Backoff between attempts while the server is away (attempts only bound a relist's retries)."""
    flush_interval: float = 1.0
    """At most one batch per this many seconds."""
    watch_timeout: int = 300
    """Seconds the server keeps one stream open before the watch resumes on a new one."""
    on_status: Callable[[WatchStatus], None] = lambda status: None

    def __post_init__(self) -> None:
        self._pending = _Pending()
        self._dirty = asyncio.Event()
        self._trouble: dict[str, str] = {}
        self._last_status: WatchStatus | None = None
        self._responses: set[Any] = set()
        self._owners = _Owners(self.inventory.workloads)

    @property
    def scopes(self) -> tuple[str, ...]:
        """One watch per namespace of the audit's scope, or "" for one across all namespaces."""
        return tuple(self.inventory.cluster.namespaces_scope) or ("",)

    async def batches(self) -> AsyncIterator[PodChanges]:
        """Batches of pod changes, forever (until closed or cancelled)."""
        loop = asyncio.get_running_loop()
        versions = self.inventory.cluster.pod_list_versions
        tasks = [asyncio.create_task(self._watch(scope, versions.get(scope, ""))) for scope in self.scopes]
        last = 0.0
        try:
            while True:
                await self._dirty.wait()
                delay = last + self.flush_interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._dirty.clear()
                last = loop.time()
                changes = self._take()
                if changes:
                    yield changes
        finally:
            for task in tasks:
                task.cancel()
            self._shutdown_streams()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- one scope ----------------------------------------------------------

    async def _watch(self, scope: str, version: str) -> None:
        attempt = 0
        while True:
            try:
                if not version:
                    version = await self._relist(scope)
                version = await self._stream(scope, version)
                attempt = 0
                self._report(scope, None)
                continue
            except _Gone:
                version = ""
                continue
            except _Failed as exc:
                self._report(scope, str(exc))
                pause = self.retry.delay(attempt, exc.retry_after)
            except KubeListError as exc:
                self._report(scope, f"list pods: {exc}")
                pause = self.retry.delay(attempt, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the watch silently; say it and go on
                self._report(scope, f"{type(exc).__name__}: {_describe(exc)}")
                pause = self.retry.delay(attempt, None)
            attempt += 1
            await asyncio.sleep(pause)

    async def _relist(self, scope: str) -> str:
        collector = KubeCollector(self.api_client, namespaces=(scope,) if scope else (), timeout=self.timeout,
                                  retry=self.retry, concurrency=1)
        pods, version = await collector.list_pods(scope or None, self._owners.workloads)
        self._pending.replace(scope, self._owners.resolve(pods))
        self._dirty.set()
        return version

    async def _stream(self, scope: str, version: str) -> str:
        """Follow one stream to its end; returns the last resourceVersion seen."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def put(kind: str, value: Any) -> None:
            with suppress(RuntimeError):  # the loop closed: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        query = [("watch", "true"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", self.watch_timeout)]
        opened: list[Any] = []
        reader = threading.Thread(target=self._read, args=(R.PODS.list_path(scope or None), query, put, opened),
                                  name=f"kubeward-watch:{scope or '*'}", daemon=True)
        reader.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "open":
                    self._report(scope, None)
                elif kind == "line":
                    try:
                        version = self._event(value, version)
                    except msgspec.MsgspecError as exc:
                        raise _Failed(f"watch pods: malformed event ({_describe(exc)})") from None
                elif kind == "end":
                    return version
                elif kind == "gone":
                    raise _Gone
                else:
                    raise value
        finally:
            for response in opened:  # a stream left early (an error, cancelled) must not read on
                with suppress(Exception):
                    response.shutdown()

    def _event(self, line: bytes, version: str) -> str:
        event = _envelope.decode(line)
        if event.type == "ERROR":
            status = _status.decode(event.object)
            if status.code == 410:
                raise _Gone
            raise _Failed(f"watch pods: {status.message or status.reason or status.code}")
        if event.type == "BOOKMARK":
            return _named.decode(event.object).metadata.resource_version or version
        if event.type in ("ADDED", "MODIFIED"):
            pod = tidy_pod(_pod.decode(event.object))
            self._pending.pods[(pod.namespace, pod.name)] = pod
            version = pod.metadata.resource_version or version
        elif event.type == "DELETED":
            meta = _named.decode(event.object).metadata
            self._pending.pods[(meta.namespace, meta.name)] = None
            version = meta.resource_version or version
        else:
            return version
        self._pending.events += 1
        self._dirty.set()
        return version

    def _read(
        self, path: str, query: list[tuple[str, Any]], put: Callable[[str, Any], None], opened: list[Any]
    ) -> None:
        """In a thread: open the stream and hand on each line (blocking reads)."""
        api = self.api_client
        response = None
        try:
            method, url, headers, _, _ = api.param_serialize(
                "GET", path, query_params=query, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"])
            rest = api.call_api(method, url, header_params=headers,
                                _request_timeout=(self.timeout, self.watch_timeout + self.timeout))
            response = rest.response
            opened.append(response)
            self._responses.add(response)
            if response.status != 200:
                body = response.read()
                try:
                    status = _status.decode(body)
                    message = status.message or status.reason
                except msgspec.MsgspecError:
                    message = body[:200].decode(errors="replace").strip()
                if response.status == 410:
                    put("gone", None)
                    return
                retry_after = response.headers.get("Retry-After")
                put("error", _Failed(f"watch pods: HTTP {response.status}: {message or 'no reason given'}",
                                     float(retry_after) if retry_after and retry_after.isdigit() else None))
                return
            put("open", None)
            buffered = b""
            for chunk in response.stream(65536, decode_content=True):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    if line.strip():
                        put("line", line)
            put("end", None)
        except urllib3.exceptions.MaxRetryError as exc:
            put("error", _Failed(f"cannot reach the API server: {_describe(exc.reason or exc)}"))
        except (urllib3.exceptions.HTTPError, ApiException, OSError, ValueError) as exc:
            put("error", _Failed(f"watch stream broke: {_describe(exc)}"))
        finally:
            if response is not None:
                self._responses.discard(response)
                with suppress(Exception):
                    response.release_conn()

    def _shutdown_streams(self) -> None:
        """Unblock the reader threads: their streams end at once."""
        for response in list(self._responses):
            with suppress(Exception):
                response.shutdown()

    # --- batches and status ----------------------------------------------------

    def _take(self) -> PodChanges:
        pending, self._pending = self._pending, _Pending()
        upserted = [pod for pod in pending.pods.values() if pod is not None]
        return PodChanges(
            pods=tuple(self._owners.resolve(upserted)),
            deleted=tuple(key for key, pod in pending.pods.items() if pod is None),
            replaced=tuple(sorted(pending.replaced)),
            events=pending.events,
        )

    def _report(self, scope: str, trouble: str | None) -> None:
        if trouble is None:
            self._trouble.pop(scope, None)
        else:
            self._trouble[scope] = trouble
        if self._trouble:
            where = next(iter(self._trouble))
            status = WatchStatus(False, f"{where + ': ' if where else ''}{self._trouble[where]} · retrying")
        else:
            status = WatchStatus(True)
        if status != self._last_status:
            self._last_status = status
            self.on_status(status)


class _Owners:
    """The inventory's workloads, and the ReplicaSets and Jobs recognised by name since."""

    def __init__(self, workloads: Sequence[Workload]) -> None:
        self.workloads: list[Workload] = list(workloads)
        self._known = {(w.kind, w.metadata.namespace or "", w.metadata.name) for w in workloads}

    def resolve(self, pods: list[Pod]) -> list[Pod]:
        """Tidied pods → with owner chains, as the collector resolves them."""
        for pod in pods:
            self._recognise(pod)
        return with_owner_chains(pods, self.workloads)

    def _recognise(self, pod: Pod) -> None:
        refs = pod.metadata.owner_references
        ref = next((r for r in refs if r.controller), refs[0] if refs else None)
        namespace = pod.namespace
        if ref is None or (ref.kind, namespace, ref.name) in self._known:
            return
        parent: tuple[str, str, str] | None = None
        template_hash = pod.metadata.labels.get("pod-template-hash", "")
        if ref.kind == "ReplicaSet" and template_hash and ref.name.endswith(f"-{template_hash}"):
            parent = ("Deployment", "apps/v1", ref.name[: -len(template_hash) - 1])
        elif ref.kind == "Job" and "-" in ref.name and ref.name.rsplit("-", 1)[1].isdigit():
            parent = ("CronJob", "batch/v1", ref.name.rsplit("-", 1)[0])
        if parent is None or (parent[0], namespace, parent[2]) not in self._known:
            return
        owner = OwnerReference(api_version=parent[1], kind=parent[0], name=parent[2], controller=True)
        self.workloads.append(Workload(kind=ref.kind, metadata=ObjectMeta(  # type: ignore[arg-type]
            name=ref.name, namespace=namespace, owner_references=(owner,))))
        self._known.add((ref.kind, namespace, ref.name))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
