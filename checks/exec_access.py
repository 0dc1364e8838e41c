"""Exec-access checks: who RBAC lets get a shell in a running container.

`checks.rbac` expands every binding into the paths it gives each of its
subjects (the exec matrix, kept whole in the Report). These checks flag the
(binding, subject) pairs that matter:

- a group every user or every service account belongs to, or the anonymous
  user, with any path (KW-EXEC-001);
- a service account with any path: its token is a shell for whoever steals it,
  worse when it is a namespace's `default` account or mounted into running pods
  (KW-EXEC-002);
- a user or group with a shell in every namespace (KW-EXEC-003), or with
  impersonate, escalate or bind (KW-EXEC-004);
- cluster-admin, or any role allowing every verb on every resource, bound to a
  user or group (KW-EXEC-005): flagged once, not once per path.

Each finding is about the binding (the object to change), its field path the
subject in `subjects`, its observed value the paths (`["cluster-admin"]` for a
full-access role). A pair gets at most one finding from KW-EXEC-001, -002 and
-005, which cover every path; KW-EXEC-003 and -004 are separate problems and
can both fire.

Built-in subjects are in the matrix but never flagged: users and groups named
`system:…` (the reserved prefix: `system:masters`, `system:nodes`,
`system:node:<name>`, `system:kube-scheduler` …), and the users, groups and
kube-system service accounts of a bootstrap binding (labelled
`kubernetes.io/bootstrapping: rbac-defaults`, or named `system:…` or
`kubeadm:…`, such as the `system:controller:*` bindings of the
controller-manager's accounts or kubeadm's `kubeadm:cluster-admins`). The
broad groups are flagged even there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from audit.access import CLUSTER_WIDE, ExecGrant, ExecPath, Subject
from audit.findings import Category, Severity
from audit.model import Inventory, Pod
from checks.engine import CheckContext, Hit, Reference, Target, check
from checks.rbac import BoundSubject, bound_subjects

BROAD_GROUPS = frozenset({"system:authenticated", "system:unauthenticated", "system:serviceaccounts"})
"""Groups every user, every anonymous request, or every service account is in."""
ALL_SERVICE_ACCOUNTS_OF = "system:serviceaccounts:"
"""Prefix of the group of every service account of one namespace."""
ANONYMOUS_USER = "system:anonymous"
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
BOOTSTRAP_BINDING_PREFIXES = ("system:", "kubeadm:")

FULL_ACCESS = "cluster-admin"
"""What `observed` says for a role allowing every verb on every resource."""
_ESCALATIONS = (ExecPath.IMPERSONATE, ExecPath.ESCALATE_BIND)

# --- references ---------------------------------------------------------------

_CIS_URL = "https://www.cisecurity.org/benchmark/kubernetes"


def _cis(section: str, title: str) -> Reference:
    return Reference(f"CIS Kubernetes Benchmark v1.10 {section}: {title}", _CIS_URL)


NSA_CISA = Reference(
    "NSA/CISA Kubernetes Hardening Guide v1.2: Authentication and authorization",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)
RBAC_GOOD_PRACTICES = Reference(
    "Kubernetes documentation: Role Based Access Control Good Practices",
    "https://kubernetes.io/docs/concepts/security/rbac-good-practices/",
)
RBAC_DOCS = Reference(
    "Kubernetes documentation: Using RBAC Authorization",
    "https://kubernetes.io/docs/reference/access-authn-authz/rbac/",
)
CONTAINER_ADMIN_COMMAND = Reference(
    "MITRE ATT&CK T1609: Container Administration Command", "https://attack.mitre.org/techniques/T1609/"
)
DEPLOY_CONTAINER = Reference("MITRE ATT&CK T1610: Deploy Container", "https://attack.mitre.org/techniques/T1610/")
STEAL_TOKEN = Reference(
    "MITRE ATT&CK T1528: Steal Application Access Token", "https://attack.mitre.org/techniques/T1528/"
)
CLUSTER_ROLES_TECHNIQUE = Reference(
    "MITRE ATT&CK T1098.006: Account Manipulation: Additional Container Cluster Roles",
    "https://attack.mitre.org/techniques/T1098/006/",
)
IMPERSONATION_DOCS = Reference(
    "Kubernetes documentation: User impersonation",
    "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation",
)
KUBELET_AUTHZ_DOCS = Reference(
    "Kubernetes documentation: Kubelet authentication/authorization",
    "https://kubernetes.io/docs/reference/access-authn-authz/kubelet-authn-authz/",
)


# --- who is who ----------------------------------------------------------------------


def is_broad(subject: Subject) -> bool:
    """A group of everyone (or every service account), or the anonymous user."""
    if subject.kind == "Group":
        return subject.name in BROAD_GROUPS or subject.name.startswith(ALL_SERVICE_ACCOUNTS_OF)
    return subject.kind == "User" and subject.name == ANONYMOUS_USER


def is_builtin(bound: BoundSubject) -> bool:
    """A subject Kubernetes itself binds: listed in the matrix, never flagged (broad groups excepted)."""
    if is_broad(bound.subject):
        return False
    subject = bound.subject
    if subject.kind != "ServiceAccount" and subject.name.startswith("system:"):
        return True
    if subject.kind == "ServiceAccount" and subject.namespace != "kube-system":
        return False
    metadata = bound.binding.metadata
    key, value = BOOTSTRAP_LABEL
    return metadata.labels.get(key) == value or metadata.name.startswith(BOOTSTRAP_BINDING_PREFIXES)


def _bound(ctx: CheckContext) -> tuple[BoundSubject, ...]:
    """Every (binding, subject) pair with its grants, expanded once per run."""
    return ctx.memo("exec_access.bound", lambda ctx: bound_subjects(ctx.inventory))


def _flaggable(ctx: CheckContext) -> list[BoundSubject]:
    """Every non-built-in (binding, subject) pair with a path, each pair once."""

    def build(ctx: CheckContext) -> list[BoundSubject]:
        seen: set[tuple[object, Subject]] = set()
        out = []
        for bound in _bound(ctx):
            if not bound.grants or is_builtin(bound) or (bound.ref, bound.subject) in seen:
                continue
            seen.add((bound.ref, bound.subject))
            out.append(bound)
        return out

    return ctx.memo("exec_access.flaggable", build)


# --- evidence -------------------------------------------------------------------------


def _scope(bound: BoundSubject) -> str:
    return "cluster-wide" if bound.namespace == CLUSTER_WIDE else f"in namespace {bound.namespace}"


def _observed(bound: BoundSubject, grants: Iterable[ExecGrant] | None = None) -> list[str]:
    """The paths, each with the objects it is restricted to when every grant of it is."""
    if bound.full_access:
        return [FULL_ACCESS]
    by_path: dict[ExecPath, list[ExecGrant]] = {}
    for grant in bound.grants if grants is None else grants:
        by_path.setdefault(grant.path, []).append(grant)
    out = []
    for path in sorted(by_path, key=lambda p: p.value):
        restricted = by_path[path]
        if all(g.resource_names for g in restricted):
            names = sorted({n for g in restricted for n in g.resource_names})
            out.append(f"{path.value} on {', '.join(names)}")
        else:
            out.append(path.value)
    return out


def _through(bound: BoundSubject) -> str:
    role = bound.role
    aggregated = sorted({name for g in bound.grants for name in g.via.aggregated_from})
    via = f" (aggregating {', '.join(aggregated)})" if aggregated else ""
    return f"{role.kind} {role.name}{via}"


def _hit(bound: BoundSubject, message: str, observed: list[str], *, ctx: CheckContext,
         severity: Severity | None = None, pods: tuple[str, ...] = ()) -> Hit:
    return Hit(
        message=message + _shell_reach(bound, ctx),
        field_path=f"subjects[{bound.index}]",
        observed=observed,
        detail=str(bound.subject),
        severity=severity,
        resource=bound.ref,
        pods=pods,
    )


def _shell_reach(bound: BoundSubject, ctx: CheckContext) -> str:
    """The exec matrix joined with the images: how many of the pods this subject can exec or attach
    into run an image that ships a shell (a path into a distroless pod gives no interactive
    foothold). A debug container or a new pod brings its own image, shell included: said apart."""
    paths = {g.path for g in bound.grants if g.path.shell}
    own_image = sorted(p.value for p in paths - _NEEDS_IMAGE_SHELL)
    verb = "bring" if len(own_image) > 1 else "brings"
    brings = f" {' and '.join(own_image)} {verb} its own image, shell included." if own_image else ""
    needs_shell = [g for g in bound.grants if g.path in _NEEDS_IMAGE_SHELL]
    if not (bound.full_access or needs_shell):
        return brings
    names = None  # every pod, unless every such grant is limited to named pods
    if needs_shell and not bound.full_access and all(g.resource_names for g in needs_shell):
        names = {n for g in needs_shell for n in g.resource_names}
    pods = [
        pod for pod in (ctx.inventory.pods if bound.namespace == CLUSTER_WIDE
                        else ctx.inventory.pods_by_namespace.get(bound.namespace, ()))
        if names is None or pod.name in names
    ]
    if not pods:
        return brings
    shells = _pods_with_shell(ctx)
    known = [pod for pod in pods if (pod.namespace, pod.name) in shells]
    reach = f" It reaches {len(pods)} pod{'s' if len(pods) != 1 else ''}"
    if not known:
        return f"{reach}; whether their images ship a shell is unknown (not read).{brings}"
    with_shell = sum(shells[(pod.namespace, pod.name)] for pod in known)
    unread = f" ({len(pods) - len(known)} not read)" if len(known) < len(pods) else ""
    return f"{reach}, {with_shell} of them running an image that ships a shell{unread}.{brings}"


_NEEDS_IMAGE_SHELL = frozenset({ExecPath.EXEC, ExecPath.ATTACH, ExecPath.NODES_PROXY})


def _pods_with_shell(ctx: CheckContext) -> dict[tuple[str, str], bool]:
    """(namespace, pod) → whether any of its containers' images ships a shell, for pods whose images were read."""

    def build(ctx: CheckContext) -> dict[tuple[str, str], bool]:
        inventory = ctx.inventory
        out: dict[tuple[str, str], bool] = {}
        for pod in inventory.pods:
            images = [inventory.image_of(pod, c.name) for c in pod.spec.containers]
            if any(image is not None for image in images):
                out[(pod.namespace, pod.name)] = any(image is not None and image.has_shell for image in images)
        return out

    return ctx.memo("exec_access.pods-with-shell", build)


def _what(bound: BoundSubject, observed: list[str]) -> str:
    if bound.full_access:
        return "holds every permission (cluster-admin)"
    return f"has {', '.join(observed)}"


# --- KW-EXEC-001 ---------------------------------------------------------------------------


@check(
    id="KW-EXEC-001",
    name="broad-group-exec",
    title="Every user or every service account can get a shell",
    category=Category.EXEC_ACCESS,
    severity=Severity.CRITICAL,
    target=Target.CLUSTER,
    rationale="""
        `system:authenticated` holds every user and every service account, `system:unauthenticated`
        every anonymous request, `system:serviceaccounts` (and `system:serviceaccounts:<namespace>`)
        every service-account token, as does the user `system:anonymous` for unauthenticated
        requests. A path to a shell bound to one of them — exec, attach, an ephemeral container,
        creating a pod or workload, the kubelet's proxy, impersonation, escalate or bind — is
        given to any pod in the cluster and any credential ever leaked.
    """,
    remediation="""
        Remove the group from the binding and bind the role to the named users, groups or service
        accounts that need it. To let people into a shared namespace, bind `view` or a role
        without pods/exec, pods/attach and create on pods.
    """,
    references=(
        _cis("5.1.1", "Ensure that the cluster-admin role is only used where required"),
        _cis("5.1.4", "Minimize access to create pods"),
        RBAC_GOOD_PRACTICES, CONTAINER_ADMIN_COMMAND, NSA_CISA,
    ),
)
def broad_group_exec(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    for bound in _flaggable(ctx):
        if not is_broad(bound.subject):
            continue
        observed = _observed(bound)
        yield _hit(bound, f"{bound.subject} {_what(bound, observed)} {_scope(bound)} through {_through(bound)}.",
                   observed, ctx=ctx)


# --- KW-EXEC-002 ---------------------------------------------------------------------------


def _token_mounted(pod: Pod, automount_by_account: dict[tuple[str, str], bool | None]) -> bool:
    """Whether the pod has its service account's token: automounted (the pod's field wins over
    the account's) or projected by hand."""
    spec = pod.spec
    if any(source.service_account_token is not None
           for volume in spec.volumes if volume.projected is not None for source in volume.projected.sources):
        return True
    automount = spec.automount_service_account_token
    if automount is None:
        automount = automount_by_account.get((pod.namespace, spec.service_account_name or "default"))
    return automount is not False


def mounted_tokens(inventory: Inventory) -> dict[tuple[str, str], tuple[str, ...]]:
    """(namespace, service account) → the running pods that hold its token, sorted."""
    automount = {
        (sa.metadata.namespace or "", sa.metadata.name): sa.automount_service_account_token
        for sa in inventory.service_accounts
    }
    out: dict[tuple[str, str], list[str]] = {}
    for pod in inventory.pods:
        if pod.status.phase == "Running" and _token_mounted(pod, automount):
            out.setdefault((pod.namespace, pod.spec.service_account_name or "default"), []).append(pod.name)
    return {key: tuple(sorted(names)) for key, names in out.items()}


@check(
    id="KW-EXEC-002",
    name="service-account-exec",
    title="A service account can get a shell (its token is a shell)",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        A service account's token is a bearer credential: whoever reads it from a pod, a CI log or
        a backup has every path the account has. An account that can exec, attach, add an
        ephemeral container, create pods or workloads, reach the kubelet through nodes/proxy,
        impersonate, escalate or bind turns one compromised pod into a shell in others.
        Critical when it is a namespace's `default` account (every pod that names no account runs
        as it) or when running pods hold its token, where a compromise of that pod hands it over.
    """,
    remediation="""
        Give the workload a dedicated account whose role has only what it needs; run exec-based
        automation (CI runners, operators) in their own namespace with a RoleBinding rather than a
        ClusterRoleBinding; set `automountServiceAccountToken: false` on pods that do not call the
        API; never bind roles to a `default` account.
    """,
    references=(
        _cis("5.1.5", "Ensure that default service accounts are not actively used"),
        _cis("5.1.6", "Ensure that Service Account Tokens are only mounted where necessary"),
        STEAL_TOKEN, CONTAINER_ADMIN_COMMAND, RBAC_GOOD_PRACTICES,
    ),
)
def service_account_exec(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    mounted = ctx.memo("exec_access.mounted-tokens", lambda ctx: mounted_tokens(ctx.inventory))
    for bound in _flaggable(ctx):
        subject = bound.subject
        if subject.kind != "ServiceAccount":
            continue
        observed = _observed(bound)
        pods = mounted.get((subject.namespace or "", subject.name), ())
        message = f"{subject} {_what(bound, observed)} {_scope(bound)} through {_through(bound)}"
        severity = None
        if subject.name == "default":
            severity = Severity.CRITICAL
            message += f"; it is the default account of namespace {subject.namespace}"
        if pods:
            severity = Severity.CRITICAL
            message += f"; {len(pods)} running pod(s) hold its token"
        yield _hit(bound, message + ".", observed, ctx=ctx, severity=severity, pods=pods)


# --- KW-EXEC-003 ---------------------------------------------------------------------------


def _person(bound: BoundSubject) -> bool:
    """A user or group that is neither broad (KW-EXEC-001) nor a full-access holder (KW-EXEC-005)."""
    return bound.subject.kind != "ServiceAccount" and not is_broad(bound.subject) and not bound.full_access


@check(
    id="KW-EXEC-003",
    name="cluster-wide-exec",
    title="A user or group can get a shell in every namespace",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        A ClusterRoleBinding that gives exec, attach, ephemeral containers, pod or workload
        creation, or nodes/proxy reaches every container of every namespace, kube-system's
        included, and the secrets and tokens they hold. Short of being a cluster administrator,
        nobody needs that: a compromised laptop or identity-provider account becomes a shell in
        production. (Port-forward is in the exec matrix but not flagged here: it reaches ports,
        not a shell.)
    """,
    remediation="""
        Bind the role per namespace with RoleBindings where the people work; for on-call
        debugging, grant exec for a limited time through an access-request tool; give monitoring
        the kubelet's fine-grained subresources (nodes/metrics, nodes/stats) instead of
        nodes/proxy.
    """,
    references=(
        _cis("5.1.4", "Minimize access to create pods"),
        _cis("5.1.10", "Minimize access to the proxy sub-resource of nodes"),
        CONTAINER_ADMIN_COMMAND, DEPLOY_CONTAINER, KUBELET_AUTHZ_DOCS, RBAC_GOOD_PRACTICES,
    ),
)
def cluster_wide_exec(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    for bound in _flaggable(ctx):
        if not _person(bound) or bound.namespace != CLUSTER_WIDE:
            continue
        shells = [g for g in bound.grants if g.path.shell]
        if not shells:
            continue
        observed = _observed(bound, shells)
        yield _hit(bound, f"{bound.subject} has {', '.join(observed)} cluster-wide through {_through(bound)}.",
                   observed, ctx=ctx)


# --- KW-EXEC-004 ---------------------------------------------------------------------------


def _far_reaching(ctx: CheckContext) -> dict[str, set[str]]:
    """namespace → its service accounts that have a path outside it (cluster-wide or elsewhere)."""

    def build(ctx: CheckContext) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for bound in _bound(ctx):
            subject = bound.subject
            if subject.kind == "ServiceAccount" and bound.grants and bound.namespace != subject.namespace:
                out.setdefault(subject.namespace or "", set()).add(subject.name)
        return out

    return ctx.memo("exec_access.far-reaching-accounts", build)


def _escalating(grant: ExecGrant, far_reaching: dict[str, set[str]]) -> bool:
    """Whether an impersonate/escalate/bind grant gives more than the namespace it holds in.

    Impersonating the service accounts of one namespace (which `edit` allows) gives
    nothing creating a pod there would not, unless one of them reaches further.
    """
    if grant.path == ExecPath.ESCALATE_BIND or grant.cluster_wide or grant.resources != ("serviceaccounts",):
        return True
    accounts = far_reaching.get(grant.namespace, set())
    return bool(accounts & set(grant.resource_names) if grant.resource_names else accounts)


@check(
    id="KW-EXEC-004",
    name="impersonate-escalate-bind",
    title="A user or group can impersonate others, escalate roles or bind them",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        `impersonate` on users, groups or service accounts lets its holder act as anyone, for
        instance as a member of `system:masters`; `escalate` lets it put any permission in a role
        it can edit and `bind` lets it bind any role, both bypassing RBAC's rule that nobody grants
        more than they hold. Each is a path to every shell the cluster has. Impersonating the
        service accounts of one namespace (part of `edit`) is flagged only when one of them
        reaches beyond that namespace.
    """,
    remediation="""
        Remove `impersonate`, `escalate` and `bind` from roles bound to people; where impersonation
        is needed for support, restrict it with resourceNames to the identities concerned and
        audit its use; let a GitOps controller, not people, write RBAC.
    """,
    references=(
        _cis("5.1.8", "Limit use of the Bind, Impersonate and Escalate permissions in the Kubernetes cluster"),
        IMPERSONATION_DOCS, CLUSTER_ROLES_TECHNIQUE, RBAC_DOCS, RBAC_GOOD_PRACTICES,
    ),
)
def impersonate_escalate_bind(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    far_reaching = _far_reaching(ctx)
    for bound in _flaggable(ctx):
        if not _person(bound):
            continue
        risky = [g for g in bound.grants if g.path in _ESCALATIONS and _escalating(g, far_reaching)]
        if not risky:
            continue
        observed = _observed(bound, risky)
        what = "; ".join(
            f"{', '.join(g.verbs)} {', '.join(g.resources)}"
            + (f" named {', '.join(g.resource_names)}" if g.resource_names else "")
            for g in risky
        )
        yield _hit(bound, f"{bound.subject} can {what} {_scope(bound)} through {_through(bound)}.", observed,
                   ctx=ctx)


# --- KW-EXEC-005 ---------------------------------------------------------------------------


@check(
    id="KW-EXEC-005",
    name="cluster-admin-binding",
    title="cluster-admin (every permission) bound to a user or group",
    category=Category.EXEC_ACCESS,
    severity=Severity.HIGH,
    target=Target.CLUSTER,
    rationale="""
        cluster-admin, and any role whose rule allows verbs `*` on resources `*` in apiGroups `*`,
        is every path to a shell at once and everything else besides: exec anywhere, read every
        secret, rewrite RBAC. Bound cluster-wide it is the whole cluster; bound by a RoleBinding it
        is the whole namespace, including the right to escalate and bind there (medium). It is
        reported once per binding and subject, not once per path.
    """,
    remediation="""
        Keep cluster-admin for a break-glass group with audited membership; give day-to-day
        operators `admin` or `edit` per namespace; replace wildcard roles with the verbs and
        resources the team uses.
    """,
    references=(
        _cis("5.1.1", "Ensure that the cluster-admin role is only used where required"),
        _cis("5.1.3", "Minimize wildcard use in Roles and ClusterRoles"),
        RBAC_GOOD_PRACTICES, NSA_CISA,
    ),
)
def cluster_admin_binding(inventory: Inventory, ctx: CheckContext) -> Iterator[Hit]:
    for bound in _flaggable(ctx):
        subject = bound.subject
        if not bound.full_access or subject.kind == "ServiceAccount" or is_broad(subject):
            continue
        severity = None if bound.namespace == CLUSTER_WIDE else Severity.MEDIUM
        yield _hit(bound, f"{subject} holds every permission (cluster-admin) {_scope(bound)} through "
                          f"{_through(bound)}.", [FULL_ACCESS], ctx=ctx, severity=severity)
