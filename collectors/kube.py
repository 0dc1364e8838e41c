"""Read the cluster: every kind kubeward audits, listed concurrently, read-only.

Requests go through the official client's configuration and connection pool
(so kubeconfig auth of every kind works) but ask for raw JSON and decode it
with msgspec straight into the Inventory's structs. Only GET ever leaves this
module, and Secrets are never asked for.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec
import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from audit.findings import CoverageGap
from audit.model import (
    ClusterInfo,
    Inventory,
    Namespace,
    NetworkPolicy,
    Node,
    ObjectRef,
    OwnerReference,
    Pod,
    PodDisruptionBudget,
    Role,
    RoleBinding,
    RuntimeClass,
    ServerVersion,
    Service,
    ServiceAccount,
    VulnerabilityReport,
    Workload,
)
from audit.progress import Progress, ProgressCallback, ignore_progress
from collectors import resources as R
from collectors.resources import Resource

T = TypeVar("T")

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""Dropped on read: it repeats the whole spec, literal env values included."""


class KubeConnectionError(Exception):
    """The API server cannot be used at all; the message is one line for the user."""


class KubeListError(Exception):
    """A list that could not be read (after retries); the message is one line."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ListMeta(msgspec.Struct, frozen=True, rename="camel"):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class ObjectList(msgspec.Struct, Generic[T]):
    metadata: ListMeta = ListMeta()
    items: list[T] | None = None


class _Status(msgspec.Struct):
    """The body of an API error."""

    message: str = ""
    reason: str = ""
    code: int = 0


_ITEM_TYPES: dict[Resource, type] = {
    R.PODS: Pod,
    R.NAMESPACES: Namespace,
    R.NODES: Node,
    **{w: Workload for w in R.WORKLOADS},
    R.SERVICE_ACCOUNTS: ServiceAccount,
    R.SERVICES: Service,
    R.ROLES: Role,
    R.CLUSTER_ROLES: Role,
    R.ROLE_BINDINGS: RoleBinding,
    R.CLUSTER_ROLE_BINDINGS: RoleBinding,
    R.NETWORK_POLICIES: NetworkPolicy,
    R.RUNTIME_CLASSES: RuntimeClass,
    R.POD_DISRUPTION_BUDGETS: PodDisruptionBudget,
    R.VULNERABILITY_REPORTS: VulnerabilityReport,
}
_KIND_FILLED = {*R.WORKLOADS, R.ROLES, R.CLUSTER_ROLES, R.ROLE_BINDINGS, R.CLUSTER_ROLE_BINDINGS}
class _APIResource(msgspec.Struct):
    name: str = ""


class _APIResourceList(msgspec.Struct):
    """A group version's discovery document, reduced to the resource names it serves."""

    resources: list[_APIResource] = []


_status_decoder = msgspec.json.Decoder(_Status)
_discovery_decoder = msgspec.json.Decoder(_APIResourceList)
_version_decoder = msgspec.json.Decoder(ServerVersion)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for 429 and 5xx answers and broken connections."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return min(self.base_delay * (2**attempt), self.max_delay)


@dataclass(frozen=True)
class KubeResult:
    inventory: Inventory
    gaps: tuple[CoverageGap, ...]


class _HttpError(Exception):
    def __init__(self, status: int, message: str, reason: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after = retry_after


class _Transient(Exception):
    """A broken connection or a damaged body: worth another try."""


class _TimedOut(Exception):
    pass


@dataclass
class KubeCollector:
    """Lists everything in `resources` from one cluster, concurrently and read-only."""

    api_client: ApiClient
    context: str = ""
    server: str = ""
    namespaces: Sequence[str] = ()
    """Limit namespaced kinds to these namespaces; empty means all namespaces."""
    page_size: int = 500
    timeout: float = 30.0
    """Seconds to wait for one response (connect and read each)."""
    concurrency: int = 6
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_progress: ProgressCallback = ignore_progress
    resources: Sequence[Resource] = R.COLLECTED
    optional_resources: Sequence[Resource] = R.OPTIONAL
    """Custom resources read only where discovery says the cluster serves them (Trivy Operator's reports)."""
    max_list_restarts: int = 3

    def __post_init__(self) -> None:
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._gaps: list[CoverageGap] = []
        self._failed: set[Resource] = set()
        self._pod_list_versions: dict[str, str] = {}

    # --- public ---------------------------------------------------------

    async def collect(self) -> KubeResult:
        """Read the cluster. Raises KubeConnectionError only when nothing can be read."""
        started = time.monotonic()
        collected_at = datetime.now(UTC)
        version = await self._preflight()
        lists = await asyncio.gather(*(self._collect_resource(r) for r in self.resources))
        optional = await asyncio.gather(*(self._collect_optional(r) for r in self.optional_resources))
        by_resource = dict(zip(self.resources, lists, strict=True))
        # An optional kind that is not installed, or could not be read, is absent rather than empty.
        by_resource.update((r, found) for r, found in zip(self.optional_resources, optional, strict=True)
                           if found is not None)
        inventory = _assemble(by_resource, ClusterInfo(
            context=self.context, server=self.server, version=version, namespaces_scope=tuple(self.namespaces),
            collected_at=collected_at, pod_list_versions=dict(self._pod_list_versions)))
        self.on_progress(
            Progress(source="kube", task="cluster", count=len(inventory.pods), done=True,
                     message=f"read in {time.monotonic() - started:.1f}s")
        )
        return KubeResult(inventory=inventory, gaps=tuple(self._gaps))

    async def list_pods(self, namespace: str | None, owners: Iterable[Workload]) -> tuple[list[Pod], str]:
        """One scope's pods (None: every namespace), decoded as `collect` decodes them, with owner
        chains resolved through `owners`, and the list's resourceVersion. Raises KubeListError."""
        found: list[Pod] = []
        self._pod_list_versions.pop(namespace or "", None)
        if await self._list(R.PODS, namespace, msgspec.json.Decoder(ObjectList[Pod]), found) is None:
            gap = self._gaps.pop()
            raise KubeListError(gap.message or gap.reason, status=gap.status)
        pods = _with_owner_chains([_tidy(pod, None) for pod in found], owners)
        return pods, self._pod_list_versions.get(namespace or "", "")

    # --- requests -------------------------------------------------------

    def _get_blocking(self, path: str, query: list[tuple[str, Any]]) -> bytes:
        """One GET, in a worker thread. Raises _HttpError, _Transient or _TimedOut."""
        api = self.api_client
        method, url, headers, _, _ = api.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            response = api.call_api(
                method, url, header_params=headers, _request_timeout=(self.timeout, self.timeout)
            )
            data = response.read()
        except urllib3.exceptions.NewConnectionError:
            raise  # refused or unresolvable; urllib3 makes it a subclass of the timeout error
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError) as exc:
            raise _TimedOut(str(exc)) from None
        except urllib3.exceptions.MaxRetryError as exc:
            reason = exc.reason
            if isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
                reason, urllib3.exceptions.NewConnectionError
            ):
                raise _TimedOut(str(reason)) from None
            raise
        except urllib3.exceptions.ProtocolError as exc:
            raise _Transient(f"connection broken: {_describe(exc)}") from None
        status = response.status
        if 200 <= status < 300:
            return data
        try:
            body = _status_decoder.decode(data)
            message, reason = body.message, body.reason
        except msgspec.MsgspecError:
            message, reason = data[:200].decode(errors="replace").strip(), ""
        raise _HttpError(status, message or f"HTTP {status}", reason,
                         _retry_after(response.headers.get("Retry-After")))

    async def _get(self, path: str, query: list[tuple[str, Any]], decoder: msgspec.json.Decoder) -> Any:
        """GET and decode, retrying 429, 5xx and broken answers with backoff."""
        for attempt in range(self.retry.attempts):
            last = attempt + 1 == self.retry.attempts
            try:
                async with self._semaphore:
                    data = await asyncio.to_thread(self._get_blocking, path, query)
                try:
                    return decoder.decode(data)
                except msgspec.MsgspecError as exc:
                    raise _Transient(f"malformed response ({_describe(exc)})") from None
            except _HttpError as exc:
                if last or not (exc.status == 429 or exc.status >= 500):
                    raise
                await asyncio.sleep(self.retry.delay(attempt, exc.retry_after))
            except _Transient:
                if last:
                    raise
                await asyncio.sleep(self.retry.delay(attempt, None))
        raise AssertionError("unreachable")

    async def _preflight(self) -> ServerVersion:
        """GET /version: tells unreachable, untrusted and unauthenticated apart up front."""
        where = self.server or "the API server"
        try:
            return await self._get("/version", [], _version_decoder)
        except _HttpError as exc:
            if exc.status == 401:
                raise KubeConnectionError(
                    f"{where} rejected the credentials of context {self.context!r}"
                    f" (401 Unauthorized: token expired or wrong?)"
                ) from None
            if exc.status == 403:
                self._gap(verb="get", resource="/version", reason="forbidden", message=exc.message,
                          status=403)
                return ServerVersion()
            raise KubeConnectionError(f"{where} answered /version with HTTP {exc.status}: {exc.message}") from None
        except _TimedOut:
            raise KubeConnectionError(f"{where} did not answer within {self.timeout:g}s") from None
        except _Transient as exc:
            raise KubeConnectionError(f"{where}: {exc}") from None
        except ApiException as exc:  # the client reports some TLS failures this way
            raise KubeConnectionError(f"TLS verification failed for {where}: {_tls_reason(str(exc.reason))}") from None
        except urllib3.exceptions.MaxRetryError as exc:
            if isinstance(exc.reason, urllib3.exceptions.SSLError):
                raise KubeConnectionError(
                    f"TLS verification failed for {where}: {_tls_reason(str(exc.reason))}"
                ) from None
            raise KubeConnectionError(f"cannot reach {where}: {_connection_reason(exc)}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise KubeConnectionError(f"cannot reach {where}: {_describe(exc)}") from None

    # --- lists ------------------------------------------------------------

    async def _collect_resource(self, resource: Resource) -> list[Any]:
        decoder = msgspec.json.Decoder(ObjectList[_ITEM_TYPES[resource]])  # type: ignore[valid-type]
        task = resource.qualified
        found: list[Any] = []
        failed = False
        if resource.namespaced and self.namespaces:
            for namespace in self.namespaces:
                items = await self._list(resource, namespace, decoder, found)
                failed |= items is None
        elif resource is R.NAMESPACES and self.namespaces:
            failed = not await self._get_namespaces(decoder, found)
        else:
            failed = await self._list(resource, None, decoder, found) is None
        if failed:
            self._failed.add(resource)
        self.on_progress(Progress(source="kube", task=task, count=len(found), done=True, failed=failed))
        return found

    async def _collect_optional(self, resource: Resource) -> list[Any] | None:
        """A custom resource's objects; None when the cluster does not serve it or it could not be read.

        Discovery (`GET /apis/<group>/<version>`, which every authenticated user may read) answers
        whether it is installed: a 404, or a group version without that resource, is silently "not
        installed". Once it is served, a failed list (403 …) is a coverage gap like any other.
        """
        try:
            served = await self._get(resource.group_version_path, [], _discovery_decoder)
        except _HttpError as exc:
            if exc.status == 404:
                return None
            self._gap_from_error(exc, "get", resource, None, name="")
            return None
        except (_TimedOut, _Transient, ApiException, urllib3.exceptions.HTTPError) as exc:
            self._gap(verb="get", resource=resource.group_version_path, reason="error", message=_describe(exc))
            return None
        if resource.plural not in {r.name for r in served.resources}:
            return None
        found = await self._collect_resource(resource)
        return None if resource in self._failed else found

    async def _list(
        self, resource: Resource, namespace: str | None, decoder: msgspec.json.Decoder, out: list[Any]
    ) -> list[Any] | None:
        """Append every object of one list to `out`, page by page; None on a coverage gap."""
        path = resource.list_path(namespace)
        before = len(out)
        token = ""
        restarts = 0
        while True:
            query: list[tuple[str, Any]] = [("limit", self.page_size)]
            if token:
                query.append(("continue", token))
            try:
                page = await self._get(path, query, decoder)
            except _HttpError as exc:
                if exc.status == 410 and token and restarts < self.max_list_restarts:
                    # The continue token expired: the only consistent answer is to start over.
                    restarts += 1
                    del out[before:]
                    token = ""
                    continue
                self._gap_from_error(exc, "list", resource, namespace)
                del out[before:]
                if resource is R.PODS:
                    self._pod_list_versions.pop(namespace or "", None)
                return None
            except (_TimedOut, _Transient, ApiException, urllib3.exceptions.HTTPError) as exc:
                self._gap(verb="list", resource=resource.qualified, namespace=namespace,
                          reason="timeout" if isinstance(exc, _TimedOut) else "error",
                          message=_describe(exc) if not isinstance(exc, _TimedOut)
                          else f"no answer within {self.timeout:g}s")
                del out[before:]
                if resource is R.PODS:
                    self._pod_list_versions.pop(namespace or "", None)
                return None
            if page.items:
                out.extend(page.items)
            if resource is R.PODS and not token:
                # every page of one list comes from the snapshot its first page was served from
                self._pod_list_versions[namespace or ""] = page.metadata.resource_version
            self.on_progress(Progress(source="kube", task=resource.qualified, count=len(out)))
            token = page.metadata.continue_
            if not token:
                return out

    async def _get_namespaces(self, decoder: msgspec.json.Decoder, out: list[Any]) -> bool:
        """With `-n`, read just the named namespaces (listing them all may be forbidden)."""
        item_decoder = msgspec.json.Decoder(Namespace)
        ok = True
        for name in self.namespaces:
            try:
                out.append(await self._get(R.NAMESPACES.item_path(name), [], item_decoder))
            except _HttpError as exc:
                self._gap_from_error(exc, "get", R.NAMESPACES, None, name=name)
                ok = False
            except (_TimedOut, _Transient, ApiException, urllib3.exceptions.HTTPError) as exc:
                self._gap(verb="get", resource=f"namespaces/{name}", reason="error", message=_describe(exc))
                ok = False
        return ok

    # --- gaps -------------------------------------------------------------

    def _gap(self, **fields: Any) -> None:
        self._gaps.append(CoverageGap(source="kube", **fields))

    def _gap_from_error(
        self, exc: _HttpError, verb: str, resource: Resource, namespace: str | None, name: str = ""
    ) -> None:
        reason = {401: "unauthorized", 403: "forbidden", 404: "not-found", 410: "expired",
                  429: "throttled"}.get(exc.status, "error")
        what = f"{resource.qualified}/{name}" if name else resource.qualified
        message = exc.message
        if exc.status == 404 and not name:
            message = f"the server does not serve {resource.plural} in {resource.api_version}"
        self._gap(verb=verb, resource=what, namespace=namespace, reason=reason, message=message,
                  status=exc.status)



def inventory_from_objects(objects: Iterable[dict[str, Any]], *, cluster: ClusterInfo | None = None) -> Inventory:
    """Build an Inventory from Kubernetes objects as JSON-shaped dicts (fixtures, manifests),
    decoded and tidied exactly as the collector does with what the API server sends."""
    lists: dict[Resource, list[Any]] = {}
    for obj in objects:
        resource = R.BY_KIND.get(obj.get("kind", ""))
        if resource is None:
            continue
        item = msgspec.json.decode(msgspec.json.encode(obj), type=_ITEM_TYPES[resource])
        lists.setdefault(resource, []).append(item)
    return _assemble(lists, cluster or ClusterInfo())


def _assemble(lists: dict[Resource, list[Any]], cluster: ClusterInfo) -> Inventory:
    """Lists of decoded objects → the Inventory: kinds filled in, owner chains resolved."""

    def tidied(*resources: Resource) -> tuple[Any, ...]:
        return tuple(
            _tidy(obj, resource.kind if resource in _KIND_FILLED else None)
            for resource in resources for obj in lists.get(resource, ())
        )

    workloads = tidied(*R.WORKLOADS)
    return Inventory(
        cluster=cluster,
        namespaces=tidied(R.NAMESPACES),
        nodes=tidied(R.NODES),
        pods=tuple(_with_owner_chains(list(tidied(R.PODS)), workloads)),
        workloads=workloads,
        service_accounts=tidied(R.SERVICE_ACCOUNTS),
        roles=tidied(R.ROLES, R.CLUSTER_ROLES),
        role_bindings=tidied(R.ROLE_BINDINGS, R.CLUSTER_ROLE_BINDINGS),
        network_policies=tidied(R.NETWORK_POLICIES),
        runtime_classes=tidied(R.RUNTIME_CLASSES),
        pod_disruption_budgets=tidied(R.POD_DISRUPTION_BUDGETS),
        services=tidied(R.SERVICES),
        trivy_reports=tidied(R.VULNERABILITY_REPORTS) if R.VULNERABILITY_REPORTS in lists else None,
    )


def _tidy(obj: Any, kind: str | None) -> Any:
    """Fill in the kind list items lack and drop the last-applied annotation."""
    changes: dict[str, Any] = {}
    if kind is not None and obj.kind != kind:
        changes["kind"] = kind
    meta = obj.metadata
    if LAST_APPLIED in meta.annotations:
        annotations = {k: v for k, v in meta.annotations.items() if k != LAST_APPLIED}
        changes["metadata"] = msgspec.structs.replace(meta, annotations=annotations)
    return msgspec.structs.replace(obj, **changes) if changes else obj


def _controller(refs: Iterable[OwnerReference]) -> OwnerReference | None:
    first = None
    for ref in refs:
        if ref.controller:
            return ref
        first = first or ref
    return first


def tidy_pod(pod: Pod) -> Pod:
    """A pod as the API server sent it → as the Inventory keeps it (owner chain not yet resolved)."""
    return _tidy(pod, None)


def with_owner_chains(pods: list[Pod], workloads: Iterable[Workload]) -> list[Pod]:
    """Each pod with its owner chain resolved through `workloads`, as `collect` resolves it."""
    return _with_owner_chains(pods, workloads)


def _with_owner_chains(pods: list[Pod], workloads: Iterable[Workload]) -> list[Pod]:
    """Each pod's controllers up to the top workload (Pod → ReplicaSet → Deployment,
    Pod → Job → CronJob). An owner kubeward could not read ends the chain."""
    owner_of: dict[tuple[str, str | None, str], OwnerReference | None] = {
        (w.kind, w.metadata.namespace, w.metadata.name): _controller(w.metadata.owner_references)
        for w in workloads
    }
    out = []
    for pod in pods:
        ref = _controller(pod.metadata.owner_references)
        if ref is None:
            out.append(pod)
            continue
        chain: list[ObjectRef] = []
        namespace = pod.metadata.namespace
        while ref is not None and len(chain) < 8:
            # Nodes own static (mirror) pods and are cluster-scoped
            chain.append(ObjectRef(kind=ref.kind, name=ref.name, namespace=None if ref.kind == "Node" else namespace))
            ref = owner_of.get((ref.kind, namespace, ref.name))
        out.append(msgspec.structs.replace(pod, owner_chain=tuple(chain)))
    return out


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _connection_reason(exc: urllib3.exceptions.MaxRetryError) -> str:
    reason = exc.reason
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        cause = reason.__cause__ or reason.__context__
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        text = str(reason)
        return text.split(": ", 1)[-1] if ": " in text else text
    return _describe(reason) if reason else _describe(exc)


def _tls_reason(text: str) -> str:
    """The useful part of an SSL error: `certificate verify failed: self-signed certificate …`."""
    text = " ".join(text.split())
    for marker in ("certificate verify failed", "hostname mismatch", "wrong version number"):
        index = text.find(marker)
        if index >= 0:
            return text[index:].split(" (_ssl")[0].rstrip(")'\" ")
    return text
