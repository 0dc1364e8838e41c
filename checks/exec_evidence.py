"""Exec-evidence checks: what the API server's audit log shows people and accounts did.

They read `Inventory.exec_evidence` (sessions, not lines: `collectors.auditlog`
folds stages and kubectl's get/create retry) and say nothing when no audit
log was given:

- a session opened into a sensitive workload or a production namespace
  (KW-EXEC-006), by a service account (KW-EXEC-007), or through the kubelet
  API behind nodes/proxy (KW-EXEC-008);
- one identity denied again and again: probing (KW-EXEC-009);
- a session opened by an identity that no binding of the exec matrix allows:
  impersonation, or a binding removed since (KW-EXEC-010);
- an exec path a binding grants that nobody used in the window read: a
  candidate for removal (KW-EXEC-011).

Sessions into pods are reported on the pod's top workload (the pods named),
identity findings on the service account or on the user (`User/<name>`, an
object the cluster does not store).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from audit.access import CLUSTER_WIDE, ExecGrant, ExecPath, Subject
from audit.exec_evidence import ExecEvidence, ExecOutcome, ExecSession, service_account_of
from audit.findings import Category, Severity
from audit.model import Inventory, ObjectRef, Pod
from checks.engine import CheckContext, Hit, Reference, Target, check
from checks.exec_access import CONTAINER_ADMIN_COMMAND, KUBELET_AUTHZ_DOCS, RBAC_GOOD_PRACTICES, is_builtin
from checks.rbac import bound_subjects, exec_matrix

SHELL_PATHS = frozenset({"pods/exec", "pods/attach", "pods/ephemeralcontainers", "nodes/proxy"})
"""Session paths that put a command or a debug container inside a container (port-forward does not)."""
PRIVILEGED_GROUP = "system:masters"
"""The API server allows this group everything before RBAC is asked."""
MAX_LISTED = 10

AUDIT_LOG_DOCS = Reference(
    "Kubernetes documentation: Auditing", "https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/"
)
DEBUG_DOCS = Reference(
    "Kubernetes documentation: Debug Running Pods (ephemeral containers)",
    "https://kubernetes.io/docs/tasks/debug/debug-application/debug-running-pod/",
)
VALID_ACCOUNTS = Reference("MITRE ATT&CK T1078: Valid Accounts", "https://attack.mitre.org/techniques/T1078/")
BRUTE_FORCE = Reference("MITRE ATT&CK T1110: Brute Force", "https://attack.mitre.org/techniques/T1110/")
NSA_CISA_AUDIT = Reference(
    "NSA/CISA Kubernetes Hardening Guide v1.2: Audit Logging and Threat Detection",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)


# --- shared --------------------------------------------------------------------------


def _evidence(ctx: CheckContext) -> ExecEvidence | None:
    return ctx.inventory.exec_evidence


def _sessions(ctx: CheckContext) -> tuple[ExecSession, ...]:
    evidence = _evidence(ctx)
    return evidence.sessions if evidence is not None else ()


def _pods(ctx: CheckContext) -> dict[tuple[str, str], Pod]:
    return ctx.memo("exec_evidence.pods", lambda ctx: {(p.namespace, p.name): p for p in ctx.inventory.pods})


def _target(ctx: CheckContext, session: ExecSession) -> ObjectRef:
    """The object a session went into: the pod's top workload, or the pod when it is gone."""
    pod = _pods(ctx).get((session.namespace, session.pod))
    if pod is not None:
        return pod.workload
    return ObjectRef(kind="Pod", name=session.pod, namespace=session.namespace or None)


def identity_ref(identity: str) -> ObjectRef:
    """A service account as itself; any other user as `User/<name>`."""
    account = service_account_of(identity)
    if account is not None:
        return ObjectRef(kind="ServiceAccount", name=account[1], namespace=account[0])
    return ObjectRef(kind="User", name=identity)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _span(sessions: list[ExecSession]) -> str:
    first, last = sessions[0].time, sessions[-1].time
    return f"on {_when(first)}" if first == last else f"between {_when(first)} and {_when(last)}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _commands(sessions: Iterable[ExecSession]) -> list[str]:
    out: list[str] = []
    for session in sorted(sessions, key=lambda s: s.time, reverse=True):
        command = " ".join(session.command)
        if command and command not in out:
            out.append(command)
    return out[:MAX_LISTED]


def _targets(sessions: Iterable[ExecSession]) -> list[str]:
    return sorted({s.target for s in sessions})


def _by_identity(sessions: Iterable[ExecSession]) -> dict[str, list[ExecSession]]:
    out: dict[str, list[ExecSession]] = {}
    for session in sessions:
        out.setdefault(session.identity, []).append(session)
    return out


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _as(session: ExecSession) -> str:
    """The identity, and who was behind it when it was impersonated."""
    if session.impersonated_user:
        return f"{session.identity} (impersonated by {session.user})"
    return session.identity


def _observed(sessions: list[ExecSession], **extra: object) -> dict[str, object]:
    out: dict[str, object] = {
        "sessions": len(sessions), "first": sessions[0].time.isoformat(), "last": sessions[-1].time.isoformat(),
        "paths": sorted({s.path for s in sessions}),
    }
    commands = _commands(sessions)
    if commands:
        out["commands"] = commands
    ips = sorted({ip for s in sessions for ip in s.source_ips})
    if ips:
        out["source_ips"] = ips[:MAX_LISTED]
    impersonators = sorted({s.user for s in sessions if s.impersonated_user})
    if impersonators:
        out["impersonated_by"] = impersonators
    out.update(extra)
    return out


# --- KW-EXEC-006 ---------------------------------------------------------------------


def _why_sensitive(ctx: CheckContext, session: ExecSession) -> str | None:
    """Why a session's target matters, or None when it is an ordinary workload."""
    pod = _pods(ctx).get((session.namespace, session.pod))
    if pod is not None:
        labels = dict(pod.metadata.labels)
        workload = ctx.inventory.workloads_by_ref.get(pod.workload)
        if workload is not None:
            labels.update(workload.metadata.labels)
        matched = sorted(f"{k}={labels[k]}" for k, values in ctx.config.sensitive.labels.items()
                         if k in labels and (not values or labels[k] in values))
        if matched:
            return f"the workload is sensitive ({', '.join(matched)})"
    production = ctx.config.production
    namespace = ctx.inventory.namespaces_by_name.get(session.namespace)
    if session.namespace in production.namespaces or (
            namespace is not None and production.matches(namespace.metadata.labels)):
        return f"namespace {session.namespace} is production"
    return None


@check(
    id="KW-EXEC-006",
    name="exec-session-sensitive-workload",
    title="A shell was opened in a sensitive workload or a production namespace",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        The audit log shows an exec, attach, debug container or kubelet exec session opened into a
        pod of a workload labelled sensitive (the `sensitive` labels of the configuration) or in a
        production namespace (`production`: by name or namespace label). A shell there reads the
        card data, tokens and keys the workload holds, and changes the running container outside
        any review or rollout. Each session should be accounted for by a change or incident ticket.
    """,
    remediation="""
        Confirm each session with the person named; replace routine exec with logs, metrics and
        read-only debugging endpoints; grant exec into sensitive namespaces only for a limited time
        through an access-request tool, and redeploy a container someone changed by hand.
    """,
    references=(CONTAINER_ADMIN_COMMAND, AUDIT_LOG_DOCS, NSA_CISA_AUDIT),
)
def exec_session_sensitive_workload(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    groups: dict[tuple[ObjectRef, str, str], tuple[str, list[ExecSession]]] = {}
    for session in _sessions(ctx):
        if session.outcome is not ExecOutcome.OPENED or session.path not in SHELL_PATHS:
            continue
        why = _why_sensitive(ctx, session)
        if why is None:
            continue
        key = (_target(ctx, session), session.container, session.identity)
        groups.setdefault(key, (why, []))[1].append(session)
    for (resource, container, identity), (why, sessions) in groups.items():
        where = f"container {container} of {resource}" if container else str(resource)
        yield Hit(
            message=f"{_as(sessions[-1])} opened {_count(len(sessions), 'session')} "
                    f"({', '.join(sorted({s.path for s in sessions}))}) into {where} {_span(sessions)}; {why}.",
            observed=_observed(sessions), container=container or None, detail=identity, resource=resource,
            pods=tuple(sorted({s.pod for s in sessions})),
        )


# --- KW-EXEC-007 ---------------------------------------------------------------------


@check(
    id="KW-EXEC-007",
    name="service-account-exec-session",
    title="A service account opened a shell in a container",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        The audit log shows a service account (or someone impersonating one) opening exec, attach,
        debug-container or kubelet exec sessions. Automation that needs a shell in other containers
        is a smell: it holds a token that is a shell for whoever steals it from its pod, its CI logs
        or its backups, and its sessions blend into the noise of routine jobs.
    """,
    remediation="""
        Replace exec-based automation with an API the workload exposes (a Job, an HTTP endpoint, a
        controller); where it must stay, give the account exec only in the namespaces it serves,
        bound by a RoleBinding, and keep its token out of long-lived pods.
    """,
    references=(CONTAINER_ADMIN_COMMAND, VALID_ACCOUNTS, AUDIT_LOG_DOCS, RBAC_GOOD_PRACTICES),
)
def service_account_exec_session(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    opened = (s for s in _sessions(ctx)
              if s.outcome is ExecOutcome.OPENED and s.path in SHELL_PATHS and s.service_account is not None)
    for identity, sessions in _by_identity(opened).items():
        targets = _targets(sessions)
        yield Hit(
            message=f"{_as(sessions[-1])} opened {_count(len(sessions), 'session')} into "
                    f"{_listed(targets)} {_span(sessions)}.",
            observed=_observed(sessions, targets=targets[:MAX_LISTED]), detail=identity,
            resource=identity_ref(identity),
        )


# --- KW-EXEC-008 ---------------------------------------------------------------------


@check(
    id="KW-EXEC-008",
    name="nodes-proxy-exec-session",
    title="A command was run in a container through the kubelet API (nodes/proxy)",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        The audit log shows a request through nodes/proxy to a kubelet's exec, run, attach or
        portForward endpoint that the API server let through. The kubelet runs it in any pod on its
        node; the pod's own RBAC (pods/exec) is never asked, and the API server's log records only
        the proxy request, not what the kubelet did. Critical when the kubelet opened the session.
    """,
    remediation="""
        Remove nodes/proxy from every role that does not strictly need it (monitoring needs
        nodes/metrics and nodes/stats, not nodes/proxy); use `kubectl exec`, which is authorized
        per pod and audited as such.
    """,
    references=(
        Reference("CIS Kubernetes Benchmark v1.10 5.1.10: Minimize access to the proxy sub-resource of nodes",
                  "https://www.cisecurity.org/benchmark/kubernetes"),
        KUBELET_AUTHZ_DOCS, CONTAINER_ADMIN_COMMAND,
    ),
)
def nodes_proxy_exec_session(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    groups: dict[tuple[str, str], list[ExecSession]] = {}
    for session in _sessions(ctx):
        if session.path == "nodes/proxy" and session.outcome is not ExecOutcome.DENIED:
            groups.setdefault((session.node, session.identity), []).append(session)
    for (node, identity), sessions in groups.items():
        opened = sum(s.outcome is ExecOutcome.OPENED for s in sessions)
        endpoints = sorted({s.kubelet_endpoint for s in sessions})
        outcome = f"{opened} opened" if opened else "none opened (the kubelet answered with an error)"
        yield Hit(
            message=f"{_as(sessions[-1])} sent {_count(len(sessions), 'request')} to the kubelet of node {node}"
                    f" ({', '.join(endpoints)}) for {_listed(_targets(sessions))} {_span(sessions)}; {outcome}.",
            observed=_observed(sessions, endpoints=endpoints, opened=opened), detail=identity,
            severity=Severity.CRITICAL if opened else None,
            resource=ObjectRef(kind="Node", name=node), pods=tuple(sorted({s.pod for s in sessions})),
        )


# --- KW-EXEC-009 ---------------------------------------------------------------------


@check(
    id="KW-EXEC-009",
    name="denied-exec-probing",
    title="One identity was repeatedly denied a shell (probing)",
    category=Category.EXEC_ACCESS,
    severity=Severity.MEDIUM,
    target=Target.CLUSTER,
    rationale="""
        The audit log shows one identity denied exec, attach, port-forward, debug containers or
        nodes/proxy at least `exec_probe_threshold` times (3 by default) in the window: sessions, not
        log lines, and kubectl's retry of a refused request counts once. A person who lacks a
        permission asks for it once or twice; a stolen token or a compromised pod tries pod after
        pod. Worth a look in either case.
    """,
    remediation="""
        Find out who is behind the identity and from where (the source addresses are in the
        evidence); if it is a service account, inspect the pods that hold its token; if it is a
        person, give them the access they need the intended way or explain why not.
    """,
    references=(BRUTE_FORCE, VALID_ACCOUNTS, AUDIT_LOG_DOCS, NSA_CISA_AUDIT),
)
def denied_exec_probing(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    threshold = max(1, ctx.config.exec_probe_threshold)
    denied = (s for s in _sessions(ctx) if s.outcome is ExecOutcome.DENIED)
    for identity, sessions in _by_identity(denied).items():
        if len(sessions) < threshold:
            continue
        targets = _targets(sessions)
        yield Hit(
            message=f"{_as(sessions[-1])} was denied {_count(len(sessions), 'exec session')} into "
                    f"{_listed(targets)} {_span(sessions)} (threshold {threshold}).",
            observed=_observed(sessions, targets=targets[:MAX_LISTED]), detail=identity,
            resource=identity_ref(identity),
        )


# --- KW-EXEC-010 ---------------------------------------------------------------------


def _matrix(ctx: CheckContext) -> dict[str, list[ExecGrant]]:
    """The exec matrix by path."""

    def build(ctx: CheckContext) -> dict[str, list[ExecGrant]]:
        out: dict[str, list[ExecGrant]] = {}
        for grant in exec_matrix(ctx.inventory):
            out.setdefault(grant.path.value, []).append(grant)
        return out

    return ctx.memo("exec_evidence.matrix", build)


def subject_matches(subject: Subject, username: str, groups: Iterable[str]) -> bool:
    """Whether a request by this user, in these groups, is one a binding's subject covers."""
    if subject.kind == "Group":
        return subject.name in groups
    return subject.username == username


def grant_allows(grant: ExecGrant, session: ExecSession) -> bool:
    """Whether a grant allows the request the session made (path, verb, namespace, object)."""
    if grant.path.value != session.path or session.verb not in grant.verbs:
        return False
    if grant.path == ExecPath.NODES_PROXY:
        return not grant.resource_names or session.node in grant.resource_names
    if grant.namespace not in (CLUSTER_WIDE, session.namespace):
        return False
    return not grant.resource_names or session.pod in grant.resource_names


def rbac_allows(ctx: CheckContext, session: ExecSession) -> bool:
    """Whether the exec matrix allows the session's identity what it did (system:masters always)."""
    groups = session.identity_groups
    if PRIVILEGED_GROUP in groups:
        return True
    return any(subject_matches(g.subject, session.identity, groups) and grant_allows(g, session)
               for g in _matrix(ctx).get(session.path, ()))


@check(
    id="KW-EXEC-010",
    name="exec-session-without-grant",
    title="A shell was opened by an identity no RBAC binding allows",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        The audit log shows a session opened by an identity to which none of the cluster's
        bindings (the exec matrix, as collected) gives that path in that namespace. Either it was
        impersonated (`kubectl --as`: the log names who was behind it), or the binding that allowed
        it has been removed since (someone had exec, used it, and the trace is gone from RBAC), or
        an authorizer other than RBAC (a webhook, ABAC) allowed it. Each is worth explaining:
        impersonation and short-lived bindings hide who had a shell.
    """,
    remediation="""
        Match each session with the access grant or impersonation that allowed it; restrict
        `impersonate` with resourceNames and review who holds it (KW-EXEC-004); keep
        temporary exec grants in an access-request tool that records them.
    """,
    references=(
        Reference("Kubernetes documentation: User impersonation",
                  "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation"),
        VALID_ACCOUNTS, CONTAINER_ADMIN_COMMAND, AUDIT_LOG_DOCS,
    ),
)
def exec_session_without_grant(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    unexplained = (s for s in _sessions(ctx) if s.outcome is ExecOutcome.OPENED and not rbac_allows(ctx, s))
    for identity, sessions in _by_identity(unexplained).items():
        targets = _targets(sessions)
        impersonators = sorted({s.user for s in sessions if s.impersonated_user})
        why = (f"it was impersonated by {', '.join(impersonators)}" if impersonators else
               "the binding that allowed it was removed since, or another authorizer allowed it")
        yield Hit(
            message=f"{identity} opened {_count(len(sessions), 'session')} "
                    f"({', '.join(sorted({s.path for s in sessions}))}) into {_listed(targets)} {_span(sessions)},"
                    f" though no binding allows it that now: {why}.",
            observed=_observed(sessions, targets=targets[:MAX_LISTED]), detail=identity,
            resource=identity_ref(identity),
        )


# --- KW-EXEC-011 ---------------------------------------------------------------------

LOGGED_PATHS = frozenset({ExecPath.EXEC, ExecPath.ATTACH, ExecPath.PORT_FORWARD, ExecPath.EPHEMERAL_CONTAINERS,
                          ExecPath.NODES_PROXY})
"""The paths whose use the audit log shows (creating pods, impersonating and escalating are not read)."""


@check(
    id="KW-EXEC-011",
    name="exec-grant-unused",
    title="An exec path was granted but not used in the audit log's window",
    category=Category.EXEC_ACCESS,
    severity=Severity.LOW,
    target=Target.CLUSTER,
    rationale="""
        A binding gives a user, group or service account exec, attach, port-forward, ephemeral
        containers or nodes/proxy, and the audit log read (`--audit-log`, the `--since` window)
        shows no request through it that RBAC let pass. A permission nobody uses is risk with no
        benefit: a grant candidate for removal. Nothing is said when no audit log was given, and
        the evidence names the time the log actually covers, which may be shorter than the window.
        Full-access roles (cluster-admin) are left to KW-EXEC-005.
    """,
    remediation="""
        Remove the path from the role, or the subject from the binding; grant it again for a
        limited time when it is needed. Check first that the log covers the whole API server
        (every control-plane instance) and a representative stretch of time.
    """,
    references=(RBAC_GOOD_PRACTICES, AUDIT_LOG_DOCS),
)
def exec_grant_unused(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    evidence = _evidence(ctx)
    if evidence is None or evidence.covered_from is None:
        return
    covered_from, covered_until = evidence.covered_from, evidence.covered_until or evidence.until
    authorized = [s for s in evidence.sessions if s.outcome is not ExecOutcome.DENIED]
    seen: set[tuple[ObjectRef, Subject]] = set()
    for bound in bound_subjects(inventory):
        if bound.full_access or is_builtin(bound) or (bound.ref, bound.subject) in seen:
            continue
        seen.add((bound.ref, bound.subject))
        grants = [g for g in bound.grants if g.path in LOGGED_PATHS]
        if not grants:
            continue
        mine = [s for s in authorized if subject_matches(bound.subject, s.identity, s.identity_groups)]
        unused = sorted({g.path.value for g in grants if not any(grant_allows(g, s) for s in mine)})
        if not unused:
            continue
        scope = "cluster-wide" if bound.namespace == CLUSTER_WIDE else f"in namespace {bound.namespace}"
        days = max(1, round((covered_until - covered_from).total_seconds() / 86400))
        yield Hit(
            message=f"{bound.subject} has {', '.join(unused)} {scope} through {bound.role.kind} {bound.role.name},"
                    f" and the audit log shows no use of it between {_when(covered_from)} and"
                    f" {_when(covered_until)} ({_count(days, 'day')}): a candidate for removal.",
            field_path=f"subjects[{bound.index}]", observed=unused, detail=str(bound.subject), resource=bound.ref,
        )
