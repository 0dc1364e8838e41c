"""Patch-readiness checks: what makes shipping a fix unsafe or ineffective.

A container is patched by rebuilding its image and rolling it out, and a node is
patched by draining it and replacing it. Each check here finds something that
turns one of those steps into downtime, a blind rollout, a rollout that never
happens, or a patch that does not reach every replica: update strategies that
take every replica down, no readiness probe to stop a bad rollout, no revision
to roll back to, budgets that block node drains, OnDelete updates, images by
mutable tag, and replicas running different builds.

Workload-level checks read the top-level workload (its pod template, strategy
and replicas); image checks read pods, so the engine merges them per workload
and covers standalone pods too. Ephemeral containers are left out: they are
debugging sessions, never rolled out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from audit.findings import Category, Severity
from audit.model import (
    Container,
    Inventory,
    LabelSelector,
    ObjectRef,
    Pod,
    PodDisruptionBudget,
    PodSpec,
    UpdateStrategy,
    Workload,
)
from checks.engine import CheckContext, Hit, Reference, Target, check, template_prefix

# --- references ---------------------------------------------------------------------

ROLLING_UPDATE = Reference(
    "Kubernetes documentation: Deployment update strategies",
    "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#strategy",
)
PROBES = Reference(
    "Kubernetes documentation: liveness, readiness and startup probes",
    "https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/",
)
ROLLBACK = Reference(
    "Kubernetes documentation: rolling back a Deployment",
    "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-a-deployment",
)
DISRUPTIONS = Reference(
    "Kubernetes documentation: Specifying a Disruption Budget for your Application",
    "https://kubernetes.io/docs/tasks/run-application/configure-pdb/",
)
DRAIN = Reference(
    "Kubernetes documentation: Safely Drain a Node", "https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/"
)
STATEFULSET_UPDATES = Reference(
    "Kubernetes documentation: StatefulSet update strategies",
    "https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#update-strategies",
)
IMAGES = Reference(
    "Kubernetes documentation: Images (tags, digests and imagePullPolicy)",
    "https://kubernetes.io/docs/concepts/containers/images/#updating-images",
)
CONFIG_BEST_PRACTICES = Reference(
    "Kubernetes documentation: Configuration best practices (container images)",
    "https://kubernetes.io/docs/concepts/configuration/overview/#container-images",
)
NSA_CISA = Reference(
    "NSA/CISA Kubernetes Hardening Guide v1.2: Upgrading and application security practices",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)
CIS_IMAGES = Reference(
    "CIS Kubernetes Benchmark v1.10 5.5.1: Configure Image Provenance using ImagePolicyWebhook admission controller",
    "https://www.cisecurity.org/benchmark/kubernetes",
)


# --- image references -------------------------------------------------------------------

FLOATING_TAGS = frozenset({"latest", "stable", "edge", "nightly", "main", "master", "develop", "dev"})
"""Tags that by convention move to every new build (`latest` is also what no tag means)."""


@dataclass(frozen=True)
class ImageRef:
    """A container image reference: `[registry[:port]/]repository[:tag][@digest]`."""

    registry: str | None
    """None when the reference names none (Docker Hub is implied)."""
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        """The runtime pulls by digest (a tag beside it is ignored)."""
        return self.digest is not None

    @property
    def mutable(self) -> bool:
        """Referenced by a tag that moves: none (`latest` implied), `latest`, or another floating tag."""
        return not self.pinned and (self.tag is None or self.tag in FLOATING_TAGS)

    @property
    def default_pull_policy(self) -> str:
        """What the API server fills in when imagePullPolicy is unset."""
        return "Always" if not self.pinned and self.tag in (None, "latest") else "IfNotPresent"


@lru_cache(maxsize=8192)
def parse_image(reference: str) -> ImageRef:
    """Split an image reference the way container runtimes do: a colon before the last `/` is a registry
    port (`localhost:5000/app`), the one after it starts the tag, and `@` starts the digest."""
    name, _, digest = reference.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return ImageRef(registry=first, repository=rest, tag=tag, digest=digest or None)
    return ImageRef(registry=None, repository=name, tag=tag, digest=digest or None)


def _rolled_out_containers(spec: PodSpec) -> Iterator[tuple[str, Container]]:
    """Init and regular containers with their pod-relative path (ephemeral ones are never rolled out)."""
    for index, container in enumerate(spec.init_containers):
        yield f"spec.initContainers[{index}]", container
    for index, container in enumerate(spec.containers):
        yield f"spec.containers[{index}]", container


def _describe_tag(image: ImageRef) -> str:
    return "no tag (latest implied)" if image.tag is None else f"the tag {image.tag!r}"


# --- workload helpers ------------------------------------------------------------------------

_ROLLED_OUT = ("Deployment", "StatefulSet", "DaemonSet")
"""Kinds that replace their pods in a rolling update and hold them behind readiness."""
_REPLICATED = ("Deployment", "StatefulSet", "ReplicaSet")
"""Kinds with a replica count."""


def _replicas(workload: Workload) -> int | None:
    """Desired pods: spec.replicas (1 when unset), or for a DaemonSet the nodes it is scheduled on."""
    if workload.kind in _REPLICATED:
        return 1 if workload.spec.replicas is None else workload.spec.replicas
    if workload.kind == "DaemonSet":
        return workload.status.desired_number_scheduled
    return None


_PERCENT = re.compile(r"^(\d+)%$")


def _percent(value: int | str | None) -> int | None:
    match = _PERCENT.match(value) if isinstance(value, str) else None
    return int(match[1]) if match else None


def _takes_all_down(value: int | str | None, replicas: int | None) -> bool:
    """maxUnavailable lets every replica go at once: 100% or more, or a count of at least the replicas."""
    percent = _percent(value)
    if percent is not None:
        return percent >= 100
    return isinstance(value, int) and replicas is not None and 0 < replicas <= value


def _template_labels(workload: Workload) -> dict[str, str]:
    template = workload.pod_template
    return template.metadata.labels if template is not None and template.metadata is not None else {}


# --- KW-ROLL-001: every update is downtime ----------------------------------------------------


@check(
    id="KW-ROLL-001",
    name="update-takes-all-replicas-down",
    title="Update strategy takes every replica down",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.WORKLOAD,
    rationale="""
        Patching a container means rolling out a rebuilt image. With the `Recreate` strategy, or a rolling
        update whose maxUnavailable is 100% or at least the replica count, every rollout stops all replicas
        before the new ones are ready: each security patch is an outage, so patches get batched and
        deferred, and a broken image takes the whole service down instead of one replica.
    """,
    remediation="""
        Use `RollingUpdate` with a maxUnavailable below the replica count (the default 25% / maxSurge 25%
        works for most services) and run at least two replicas. Keep `Recreate` only where two versions must
        never run together, and then make sure the rollout is rehearsed.
    """,
    references=(ROLLING_UPDATE, NSA_CISA),
)
def update_takes_all_replicas_down(workload: Workload, ctx: CheckContext) -> Iterator[Hit]:
    if workload.kind not in _ROLLED_OUT:
        return
    replicas = _replicas(workload)
    if replicas == 0:
        return
    field = "strategy" if workload.kind == "Deployment" else "updateStrategy"
    strategy: UpdateStrategy | None = workload.spec.strategy if field == "strategy" else workload.spec.update_strategy
    if strategy is None:
        return
    if workload.kind == "Deployment" and strategy.type == "Recreate":
        yield Hit(
            message="The Deployment uses the Recreate strategy: every rollout, and so every image patch, stops"
            " all replicas before starting new ones.",
            field_path="spec.strategy.type",
            observed="Recreate",
        )
        return
    rolling = strategy.rolling_update
    if workload.kind == "DaemonSet" and replicas == 1:
        return  # one pod per node: replacing it always stops it, whatever maxUnavailable says
    if rolling is not None and _takes_all_down(rolling.max_unavailable, replicas):
        count = f" of {replicas} pods" if replicas is not None else ""
        yield Hit(
            message=f"The rolling update allows maxUnavailable {rolling.max_unavailable!r}{count}: every rollout"
            " may stop all replicas at once.",
            field_path=f"spec.{field}.rollingUpdate.maxUnavailable",
            observed=rolling.max_unavailable,
        )


# --- KW-ROLL-002: rollouts cannot see a bad patch ----------------------------------------------


@check(
    id="KW-ROLL-002",
    name="no-readiness-probe",
    title="Container without a readiness probe",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.WORKLOAD,
    rationale="""
        A rolling update moves on when new pods become ready. Without a readiness probe a container is ready
        as soon as its process starts, so a patched image that crashes after start-up, cannot reach its
        database or serves errors replaces every healthy replica, and traffic goes to pods that cannot serve
        it. A startup probe alone only covers the start.
    """,
    remediation="""
        Add a readinessProbe to every container of Deployments, StatefulSets and DaemonSets that checks the
        container can do its work (an HTTP health endpoint, a TCP or gRPC check), and set
        `progressDeadlineSeconds` so a stuck rollout is reported.
    """,
    references=(PROBES, ROLLING_UPDATE),
)
def no_readiness_probe(workload: Workload, ctx: CheckContext) -> Iterator[Hit]:
    template = workload.pod_template
    if workload.kind not in _ROLLED_OUT or template is None:
        return
    prefix = template_prefix(workload.kind)
    for index, container in enumerate(template.spec.containers):
        if container.readiness_probe is not None:
            continue
        if container.startup_probe is not None:
            yield Hit(
                message=f"Container {container.name!r} has a startup probe but no readiness probe: a rollout only"
                " checks that a patched image starts, not that it serves.",
                field_path=f"{prefix}spec.containers[{index}].readinessProbe",
                container=container.name,
                severity=Severity.LOW,
            )
        else:
            yield Hit(
                message=f"Container {container.name!r} has no readiness probe: a rollout counts it ready as soon"
                " as it starts, so a broken patch replaces every healthy replica.",
                field_path=f"{prefix}spec.containers[{index}].readinessProbe",
                container=container.name,
            )


# --- KW-ROLL-003: no way back --------------------------------------------------------------------


@check(
    id="KW-ROLL-003",
    name="no-rollback-history",
    title="No revision history to roll back to",
    category=Category.PATCH_READINESS,
    severity=Severity.LOW,
    target=Target.WORKLOAD,
    rationale="""
        `revisionHistoryLimit: 0` deletes the previous ReplicaSets (ControllerRevisions for StatefulSets and
        DaemonSets) as soon as a rollout completes, so `kubectl rollout undo` has nothing to return to. When a
        patch misbehaves the only way back is to rebuild and redeploy the old configuration by hand, which
        makes teams slower to ship the next patch.
    """,
    remediation="Leave revisionHistoryLimit unset (10) or set it to a few revisions.",
    references=(ROLLBACK,),
)
def no_rollback_history(workload: Workload, ctx: CheckContext) -> Iterator[Hit]:
    if workload.kind in _ROLLED_OUT and workload.spec.revision_history_limit == 0:
        yield Hit(
            message=f"The {workload.kind} keeps no revision history: `kubectl rollout undo` cannot return to the"
            " version before a bad patch.",
            field_path="spec.revisionHistoryLimit",
            observed=0,
        )


# --- disruption budgets --------------------------------------------------------------------------


def _budgets_by_namespace(ctx: CheckContext) -> dict[str, list[PodDisruptionBudget]]:
    out: dict[str, list[PodDisruptionBudget]] = {}
    for budget in ctx.inventory.pod_disruption_budgets:
        out.setdefault(budget.metadata.namespace or "", []).append(budget)
    return out


def selects(selector: LabelSelector | None, labels: dict[str, str]) -> bool:
    """policy/v1 semantics: a missing selector selects no pods, an empty one every pod of the namespace."""
    return selector is not None and selector.matches(labels)


def _budgets_for(workload: Workload, ctx: CheckContext) -> list[PodDisruptionBudget]:
    budgets = ctx.memo("patch_readiness.budgets-by-namespace", _budgets_by_namespace)
    labels = _template_labels(workload)
    return [b for b in budgets.get(workload.metadata.namespace or "", ()) if selects(b.spec.selector, labels)]


@check(
    id="KW-ROLL-004",
    name="no-disruption-budget",
    title="Single replica or StatefulSet with no PodDisruptionBudget",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.WORKLOAD,
    rationale="""
        Nodes are patched by draining them. A workload with a single replica goes down whenever its node is
        drained, so its owners resist node patching; nothing tells a drain to wait. A StatefulSet with several
        members and no PodDisruptionBudget can lose several of them in one drain and its quorum with them.
        A PodDisruptionBudget in the same namespace whose selector matches the pod template's labels is what
        lets drains proceed one replica at a time.
    """,
    remediation="""
        Run at least two replicas spread over nodes (topologySpreadConstraints) and add a PodDisruptionBudget
        with `maxUnavailable: 1` selecting them; for quorum-based StatefulSets, a budget that keeps a quorum.
    """,
    references=(DISRUPTIONS, DRAIN),
)
def no_disruption_budget(workload: Workload, ctx: CheckContext) -> Iterator[Hit]:
    if workload.kind not in _REPLICATED:
        return
    replicas = _replicas(workload)
    if not replicas or (replicas > 1 and workload.kind != "StatefulSet") or _budgets_for(workload, ctx):
        return
    if replicas == 1:
        yield Hit(
            message=f"The {workload.kind} runs a single replica and no PodDisruptionBudget selects it: draining its"
            " node to patch it takes the workload down.",
            field_path="spec.replicas",
            observed=1,
        )
    else:
        yield Hit(
            message=f"The StatefulSet runs {replicas} members and no PodDisruptionBudget selects them: a node drain"
            " may evict several at once.",
            field_path="spec.replicas",
            observed=replicas,
            severity=Severity.LOW,
        )


def _expected_pods(budget: PodDisruptionBudget, workloads: list[Workload]) -> int:
    """The pods the budget protects: the disruption controller's count when reported, else the desired
    replicas of the top-level workloads whose pod template it selects."""
    if budget.status.expected_pods is not None:
        return budget.status.expected_pods
    return sum(
        _replicas(w) or 0 for w in workloads
        if w.kind in (*_REPLICATED, "DaemonSet") and selects(budget.spec.selector, _template_labels(w))
    )


def _scaled(value: int | str, expected: int) -> int | None:
    """An int-or-percent budget field as a pod count; the disruption controller rounds percentages up."""
    percent = _percent(value)
    if percent is not None:
        return -(-percent * expected // 100)
    return value if isinstance(value, int) else None


def _blocking(budget: PodDisruptionBudget, expected: int) -> tuple[str, int | str] | None:
    """The field that leaves no voluntary disruption for `expected` healthy pods, with its value."""
    spec = budget.spec
    if spec.max_unavailable is not None:
        allowed = _scaled(spec.max_unavailable, expected)
        return ("maxUnavailable", spec.max_unavailable) if allowed == 0 else None
    if spec.min_available is not None:
        needed = _scaled(spec.min_available, expected)
        return ("minAvailable", spec.min_available) if needed is not None and needed >= expected else None
    return None


def _top_workloads_by_namespace(ctx: CheckContext) -> dict[str, list[Workload]]:
    out: dict[str, list[Workload]] = {}
    for workload in ctx.inventory.workloads:
        if not any(ref.controller for ref in workload.metadata.owner_references):
            out.setdefault(workload.metadata.namespace or "", []).append(workload)
    return out


@check(
    id="KW-ROLL-005",
    name="disruption-budget-blocks-drain",
    title="PodDisruptionBudget that allows no eviction",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.CLUSTER,
    rationale="""
        A PodDisruptionBudget with maxUnavailable 0, or a minAvailable equal to every pod it covers, allows no
        voluntary eviction at all. `kubectl drain`, cluster-autoscaler and managed node upgrades then wait on
        those pods forever (or until a timeout forces them), so the node cannot be patched: its kernel and
        runtime stay as they are, for every tenant on it.
    """,
    remediation="""
        Allow at least one disruption: `maxUnavailable: 1` (or a minAvailable below the replica count) with
        enough replicas to serve while one is moved. Protect singletons by running a second replica, not by a
        budget that forbids eviction.
    """,
    references=(DISRUPTIONS, DRAIN),
)
def disruption_budget_blocks_drain(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    workloads = ctx.memo("patch_readiness.top-workloads-by-namespace", _top_workloads_by_namespace)
    for budget in inventory.pod_disruption_budgets:
        expected = _expected_pods(budget, workloads.get(budget.metadata.namespace or "", []))
        blocking = _blocking(budget, expected) if expected > 0 else None
        if blocking is None:
            continue
        field, value = blocking
        yield Hit(
            message=f"PodDisruptionBudget {budget.metadata.name!r} sets {field} {value!r} for {expected} pod(s):"
            " no pod may be evicted, so draining their nodes for patching never completes.",
            field_path=f"spec.{field}",
            observed=value,
            resource=ObjectRef(kind="PodDisruptionBudget", name=budget.metadata.name,
                               namespace=budget.metadata.namespace),
        )


# --- KW-ROLL-006: updates that never roll out -----------------------------------------------------


@check(
    id="KW-ROLL-006",
    name="updates-not-rolled-out",
    title="Pod template changes never roll out by themselves",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.WORKLOAD,
    rationale="""
        With the `OnDelete` update strategy a StatefulSet or DaemonSet only creates pods from its new template
        when someone deletes the old ones; a StatefulSet rolling-update partition at or above the replica
        count does the same. A patched image is applied to the object and reported as deployed while every
        running pod keeps the vulnerable one.
    """,
    remediation="""
        Use `RollingUpdate` (with a readiness probe and, for StatefulSets, a PodDisruptionBudget). If updates
        must be manual, track `status.updatedReplicas` against the replica count and delete pods as part of
        every patch.
    """,
    references=(STATEFULSET_UPDATES,),
)
def updates_not_rolled_out(workload: Workload, ctx: CheckContext) -> Iterator[Hit]:
    if workload.kind not in ("StatefulSet", "DaemonSet"):
        return
    strategy = workload.spec.update_strategy
    if strategy is None:
        return
    if strategy.type == "OnDelete":
        yield Hit(
            message=f"The {workload.kind} uses the OnDelete update strategy: a new image reaches its pods only when"
            " each pod is deleted by hand.",
            field_path="spec.updateStrategy.type",
            observed="OnDelete",
        )
        return
    partition = strategy.rolling_update.partition if strategy.rolling_update else None
    replicas = _replicas(workload)
    if workload.kind == "StatefulSet" and partition and replicas and partition >= replicas:
        yield Hit(
            message=f"The rolling-update partition {partition} is not below the {replicas} replicas: no pod is"
            " updated to a new template.",
            field_path="spec.updateStrategy.rollingUpdate.partition",
            observed=partition,
        )


# --- images ------------------------------------------------------------------------------------------


@check(
    id="KW-ROLL-007",
    name="mutable-image-tag",
    title="Image referenced by a mutable tag",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        An image referenced by `:latest`, by no tag (which means latest) or by another floating tag such as
        `stable` names whatever was pushed last. Which build a pod runs depends on when its node pulled it,
        so a patch cannot be verified as deployed, replicas drift apart, a rollback pulls the current build
        instead of the previous one, and a compromised push reaches pods on their next restart without any
        rollout.
    """,
    remediation="""
        Reference an immutable version tag and, better, the digest (`registry/app:1.4.2@sha256:…`); let CI or an
        admission policy resolve tags to digests, and roll out patches by changing the reference.
    """,
    references=(IMAGES, CONFIG_BEST_PRACTICES, CIS_IMAGES, NSA_CISA),
)
def mutable_image_tag(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for path, container in _rolled_out_containers(pod.spec):
        if not container.image:
            continue
        image = parse_image(container.image)
        if image.mutable:
            yield Hit(
                message=f"Container {container.name!r} runs {container.image!r} by {_describe_tag(image)}, which"
                " moves with every push: which build runs depends on when each node pulled it.",
                field_path=f"{path}.image",
                observed=container.image,
                container=container.name,
            )


@check(
    id="KW-ROLL-008",
    name="image-not-pinned-to-digest",
    title="Image not pinned to a digest",
    category=Category.PATCH_READINESS,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        A version tag is a convention, not a guarantee: registries let it be pushed again, and base-image
        tags such as `1.27` are re-pushed on purpose for every patch release. Only a digest says exactly which
        build was reviewed, scanned and deployed, and lets a rollout be verified by comparing digests.
    """,
    remediation="""
        Append the digest to the reference (`app:1.4.2@sha256:…`), resolved by CI at build time or by an
        admission controller (e.g. Kyverno `verifyImages` with `mutateDigest`), and update it through the
        normal rollout.
    """,
    references=(IMAGES, CIS_IMAGES),
)
def image_not_pinned_to_digest(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for path, container in _rolled_out_containers(pod.spec):
        if not container.image:
            continue
        image = parse_image(container.image)
        if not image.pinned and not image.mutable:
            yield Hit(
                message=f"Container {container.name!r} runs {container.image!r} by tag without a digest: the tag"
                " can be pushed again, so the running build is not fixed by the spec.",
                field_path=f"{path}.image",
                observed=container.image,
                container=container.name,
            )


def _digests_by_container(pods: list[Pod]) -> dict[str, dict[str, list[str]]]:
    """container name → image digest → the pods running it (pods still running, digests the runtime reported)."""
    out: dict[str, dict[str, list[str]]] = {}
    for pod in pods:
        if pod.status.phase in ("Succeeded", "Failed"):
            continue
        for status in (*pod.status.init_container_statuses, *pod.status.container_statuses):
            digest = status.digest
            if digest:
                out.setdefault(status.name, {}).setdefault(digest, []).append(pod.name)
    return out


def _images_of(pods: list[Pod], name: str) -> set[str]:
    return {c.image for pod in pods for _, c in _rolled_out_containers(pod.spec) if c.name == name}


def _container_path(workload: Workload, name: str) -> str | None:
    template = workload.pod_template
    if template is None:
        return None
    prefix = template_prefix(workload.kind)
    for path, container in _rolled_out_containers(template.spec):
        if container.name == name:
            return f"{prefix}{path}.image"
    return None


@check(
    id="KW-ROLL-009",
    name="replicas-run-different-images",
    title="Replicas of one workload run different image builds",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.WORKLOAD,
    rationale="""
        The image digests the runtime reports for a workload's pods should be one per container. Two or more
        mean a rollout stuck half way (the new ReplicaSet never became ready, or the rollout was paused), or a
        mutable tag re-pushed under running pods so nodes pulled different builds. Either way a patch is on
        some replicas and not others, and the workload is reported as patched when it is not.
    """,
    remediation="""
        Check `kubectl rollout status` and the newest ReplicaSet's events; finish or roll back the rollout. For
        a re-pushed tag, pin the image to a digest and roll out so every replica runs the same build.
    """,
    references=(ROLLING_UPDATE, IMAGES),
)
def replicas_run_different_images(workload: Workload, ctx: CheckContext) -> Iterator[Hit]:
    if workload.kind not in (*_ROLLED_OUT, "ReplicaSet"):
        return
    pods = ctx.inventory.pods_by_workload.get(workload.ref, [])
    for name, digests in _digests_by_container(pods).items():
        if len(digests) < 2:
            continue
        images = _images_of(pods, name)
        cause = (f"the tag of {next(iter(images))!r} was pushed again and nodes pulled different builds"
                 if len(images) == 1 else "a rollout is stuck half way (or still in progress)")
        spread = ", ".join(f"{digest[:19]}… on {len(names)} pod(s)" for digest, names in sorted(digests.items()))
        yield Hit(
            message=f"Container {name!r} runs {len(digests)} image digests across the {workload.kind}'s pods"
            f" ({spread}): {cause}.",
            field_path=_container_path(workload, name),
            observed={digest: sorted(names) for digest, names in sorted(digests.items())},
            container=name,
            pods=tuple(sorted(p for names in digests.values() for p in names)),
        )


@check(
    id="KW-ROLL-010",
    name="stale-mutable-tag-pull-policy",
    title="Pull policy lets nodes run stale copies of a mutable tag",
    category=Category.PATCH_READINESS,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        With `imagePullPolicy: IfNotPresent` (or `Never`) a node reuses whatever copy of the image it already
        has. For a mutable tag that copy may predate the patch: after the tag is re-pushed, pods restarted or
        rescheduled on nodes that pulled it earlier keep the vulnerable build, and the workload ends up running
        several builds under one name.
    """,
    remediation="""
        Pin the image to a digest (then IfNotPresent is exact), or if a mutable tag must stay, use
        `imagePullPolicy: Always` and roll out to pick a new push up.
    """,
    references=(IMAGES,),
)
def stale_mutable_tag_pull_policy(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for path, container in _rolled_out_containers(pod.spec):
        if not container.image:
            continue
        image = parse_image(container.image)
        if not image.mutable:
            continue
        policy = container.image_pull_policy or image.default_pull_policy
        if policy not in ("IfNotPresent", "Never"):
            continue
        how = "" if container.image_pull_policy else " (the default for this tag)"
        yield Hit(
            message=f"Container {container.name!r} pulls {container.image!r} with imagePullPolicy {policy}{how}:"
            " nodes keep running the copy they pulled before the tag moved.",
            field_path=f"{path}.imagePullPolicy",
            observed=policy,
            container=container.name,
        )
