"""Image checks (KW-IMG-001 … KW-IMG-005): what the running images themselves bring.

The facts come from the image scan (`Inventory.images`, see `audit/images.py`): the OS
release, the shells and package managers left in the final filesystem, and the image
config (build time, default user). A container is matched to its image through the digest
its status reports (`Inventory.image_of`). A container whose image was not read gets no
finding here, neither pass nor fail: the unread image is a coverage gap of the Report.

Every container is looked at (init, regular and ephemeral), except that the shell and
package-manager checks leave ephemeral containers out: those are the debugging containers
`kubectl debug` adds, whose images carry a shell on purpose.

The shell and package-manager checks are one half of the exec-access picture. RBAC
(checks/exec_access.py) says who may `kubectl exec` into a pod; a shell in the image is
what turns that into an interactive foothold (`kubectl exec -it … -- sh`), and a package
manager lets the intruder install whatever else is missing. A distroless image has neither:
exec then runs only binaries the image already holds.

What depends only on the image is judged once per image digest (`ctx.memo`), so 10,000
pods running 200 images cost 200 judgements. End of life and age compare against
`ctx.today`, the day the inventory was collected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from audit.findings import Category, Severity
from audit.images import ImageInventory, OSRelease
from audit.model import Container, Pod
from checks.engine import CheckContext, Hit, Reference, Target, check

DATA = Path(__file__).parent / "data"

# --- references ---------------------------------------------------------------------------

NIST_800_190 = Reference(
    "NIST SP 800-190 Application Container Security Guide, 4.1 Image risks",
    "https://csrc.nist.gov/pubs/sp/800/190/final",
)
NSA_GUIDE = Reference(
    "NSA/CISA Kubernetes Hardening Guide 1.2: Kubernetes Pod security (non-root containers, immutable images)",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)
DISTROLESS = Reference("Distroless container images", "https://github.com/GoogleContainerTools/distroless")
EPHEMERAL_DEBUGGING = Reference(
    "Kubernetes: debugging with an ephemeral container (for images without a shell)",
    "https://kubernetes.io/docs/tasks/debug/debug-application/debug-running-pod/#ephemeral-container",
)
CONTAINER_ADMIN_COMMAND = Reference(
    "MITRE ATT&CK T1609: Container Administration Command", "https://attack.mitre.org/techniques/T1609/"
)

# --- where a container's image is ------------------------------------------------------------

_KINDS = {"initContainers": "Init container", "containers": "Container", "ephemeralContainers": "Ephemeral container"}


@dataclass(frozen=True, slots=True)
class RunningImage:
    """A container of a pod with the image it runs, as the scan read it."""

    field: str
    """`initContainers`, `containers` or `ephemeralContainers`."""
    path: str
    """The container's pod-relative path, e.g. `spec.containers[1]`."""
    container: Container
    image: ImageInventory

    @property
    def who(self) -> str:
        """`Container 'web'`, to start a message."""
        return f"{_KINDS[self.field]} {self.container.name!r}"

    def hit(self, message: str, observed: object, severity: Severity | None = None) -> Hit:
        """A hit on this container's `image` field, the reference the finding is about."""
        return Hit(message=message, field_path=f"{self.path}.image", observed=observed,
                   container=self.container.name, severity=severity)


def running_images(pod: Pod, ctx: CheckContext, *, ephemeral: bool = True) -> tuple[RunningImage, ...]:
    """Every container of the pod whose image was read (optionally leaving out ephemeral ones)."""
    found = ctx.memo("images.running", _index_running_images).get(id(pod), ())
    return found if ephemeral else tuple(r for r in found if r.field != "ephemeralContainers")


def _index_running_images(ctx: CheckContext) -> dict[int, tuple[RunningImage, ...]]:
    """The running images of every pod, once per run for all five checks, keyed by the pod's identity
    (the engine hands the checks the Inventory's own pod objects). Nothing when no image was read."""
    inventory = ctx.inventory
    if not inventory.images:
        return {}
    index: dict[int, tuple[RunningImage, ...]] = {}
    for pod in inventory.pods:
        found: list[RunningImage] = []
        for field, group in (("initContainers", pod.spec.init_containers), ("containers", pod.spec.containers),
                             ("ephemeralContainers", pod.spec.ephemeral_containers)):
            for position, container in enumerate(group):
                image = inventory.image_of(pod, container.name)
                if image is not None:
                    found.append(RunningImage(field, f"spec.{field}[{position}]", container, image))
        if found:
            index[id(pod)] = tuple(found)
    return index


_Judged = TypeVar("_Judged")


def per_image(ctx: CheckContext, key: str, image: ImageInventory,
              judge: Callable[[ImageInventory, date], _Judged]) -> _Judged:
    """`judge(image, ctx.today)`, computed once per run for each image digest."""
    judged: dict[str, Any] = ctx.memo(f"images.{key}", lambda _ctx: {})
    try:
        return judged[image.digest]
    except KeyError:
        value = judged[image.digest] = judge(image, ctx.today)
        return value


# --- the OS end-of-life table -----------------------------------------------------------------


class _ReleaseEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    eol: date
    regular_until: date | None = None
    note: str | None = None


class _DistributionEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    ids: tuple[str, ...]
    source: str
    pretty_name: str | None = None
    release_file: str | None = None
    components: int = 1
    reduced: str | None = None
    rolling: bool = False
    releases: dict[str, _ReleaseEntry] = {}


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The security support of one release of a distribution."""

    eol: date
    """The last day of free security updates."""
    regular_until: date | None = None
    """The last day of regular support, when a reduced free phase follows until `eol` (Debian LTS)."""
    note: str | None = None
    """Paid extensions past `eol`."""


@dataclass(frozen=True)
class Distribution:
    """One distribution of the table: how to recognise it and its releases' lifecycles."""

    name: str
    ids: tuple[str, ...]
    source: str
    pretty_name: re.Pattern[str] | None
    release_file: re.Pattern[str] | None
    components: int
    reduced: str | None
    rolling: bool
    releases: Mapping[str, Lifecycle]

    def recognises(self, os_release: OSRelease) -> bool:
        """Whether an os-release (or a one-line `etc/redhat-release`) is this distribution's."""
        if os_release.path == _REDHAT_RELEASE:
            return self.release_file is not None and bool(self.release_file.search(os_release.pretty_name))
        if os_release.id not in self.ids:
            return False
        return self.pretty_name is None or bool(self.pretty_name.search(os_release.pretty_name))

    def release_of(self, os_release: OSRelease) -> str | None:
        """The release key (`3.19`, `12`, `22.04`), or None when the version names no release."""
        version = os_release.version_id
        if not version and os_release.path == _REDHAT_RELEASE:
            found = _RELEASE_WORD.search(os_release.pretty_name)
            version = found.group(1) if found else ""
        if not _NUMERIC_VERSION.match(version):
            return None
        return ".".join(version.split(".")[: self.components])


_REDHAT_RELEASE = "etc/redhat-release"
_RELEASE_WORD = re.compile(r"\brelease (\d+(?:\.\d+)*)")
_NUMERIC_VERSION = re.compile(r"^\d+(\.\d+)*$")


def load_distributions(path: Path = DATA / "image_os.yaml") -> tuple[Distribution, ...]:
    """Read and check the image OS table (called once, at import)."""
    entries = msgspec.convert(yaml.safe_load(path.read_text()), type=list[_DistributionEntry])
    out = []
    for e in entries:
        if e.components not in (1, 2):
            raise ValueError(f"{path}: {e.name}: components must be 1 or 2")
        for release, r in e.releases.items():
            if r.regular_until is not None and (e.reduced is None or r.regular_until > r.eol):
                raise ValueError(f"{path}: {e.name} {release}: regular_until needs `reduced` and must not pass eol")
        out.append(Distribution(
            name=e.name, ids=e.ids, source=e.source,
            pretty_name=re.compile(e.pretty_name) if e.pretty_name else None,
            release_file=re.compile(e.release_file) if e.release_file else None,
            components=e.components, reduced=e.reduced, rolling=e.rolling,
            releases={k: Lifecycle(r.eol, r.regular_until, r.note) for k, r in e.releases.items()},
        ))
    return tuple(out)


DISTRIBUTIONS = load_distributions()


def identify(os_release: OSRelease) -> tuple[Distribution, str | None] | None:
    """The distribution of an image's OS release and its release key (None: no release named)."""
    for distribution in DISTRIBUTIONS:
        if distribution.recognises(os_release):
            return distribution, distribution.release_of(os_release)
    return None


@dataclass(frozen=True, slots=True)
class Lapse:
    """An OS release past (part of) its security support on a given day."""

    distribution: Distribution
    release: str
    lifecycle: Lifecycle
    ended: bool
    """True: past `eol`, no free security updates at all. False: past regular support, in the reduced phase."""
    label: str
    """How to name the OS in a message: `Debian 12`, `Debian 12 (Distroless)`."""

    @property
    def severity(self) -> Severity:
        return Severity.HIGH if self.ended else Severity.LOW


def support_lapse(os_release: OSRelease, today: date) -> Lapse | None:
    """Whether an OS release is past its security support on `today` (the day after its last day).

    None when it is supported, rolling, unknown, or names no release.
    """
    found = identify(os_release)
    if found is None:
        return None
    distribution, release = found
    if distribution.rolling or release is None or release not in distribution.releases:
        return None
    lifecycle = distribution.releases[release]
    if today > lifecycle.eol:
        ended = True
    elif lifecycle.regular_until is not None and today > lifecycle.regular_until:
        ended = False
    else:
        return None
    label = f"{distribution.name} {release}"
    pretty = os_release.pretty_name
    if pretty and os_release.path != _REDHAT_RELEASE and distribution.name.split()[0].lower() not in pretty.lower():
        label += f" ({pretty})"
    return Lapse(distribution, release, lifecycle, ended, label)


def image_lapse(image: ImageInventory, today: date) -> Lapse | None:
    """`support_lapse` of an image's OS release; None when the OS could not be identified."""
    return support_lapse(image.os_release, today) if image.os_release is not None else None


def _os_evidence(os_release: OSRelease) -> str:
    """What the lookup went by: `debian 12`, or the line of a one-line release file."""
    if os_release.path == _REDHAT_RELEASE:
        return os_release.pretty_name
    return f"{os_release.id} {os_release.version_id}".strip()


def _lapse_message(lapse: Lapse) -> str:
    """The end of the sentence "… runs an image on …": what ended and when."""
    lifecycle = lapse.lifecycle
    if not lapse.ended:
        return (f"{lapse.label}, past its regular security support (ended {lifecycle.regular_until}): "
                f"only {lapse.distribution.reduced} still patches it, for fewer packages, until {lifecycle.eol}")
    also = f", {lapse.distribution.reduced} included" if lapse.distribution.reduced else ""
    note = f" ({lifecycle.note})" if lifecycle.note else ""
    return f"{lapse.label}, whose security support ended {lifecycle.eol}{also}{note}"


@check(
    id="KW-IMG-001",
    name="image-os-end-of-life",
    title="Image operating system past end of security support",
    category=Category.IMAGE,
    severity=Severity.HIGH,
    target=Target.POD,
    rationale="""
        Once a distribution release leaves security support, no fixed package will ever be published for
        it: every vulnerability found from then on in its OpenSSL, glibc or zlib stays in the image, and
        rebuilding the image changes nothing. The OS is read from the image's os-release (a distroless
        image names the Debian release it is built from) and judged against a table of end-of-support
        dates with their sources (checks/data/image_os.yaml) on the day the inventory was collected.
        Debian releases past regular security support but still in Debian LTS are reported at low
        severity: LTS is free but covers fewer packages. Ubuntu is judged by its standard support; the
        Expanded Security Maintenance that follows needs an Ubuntu Pro subscription attached inside the
        image, which public images do not have. Rolling distributions (Wolfi, Chainguard) and releases the
        table does not know are not judged, nor are images whose OS could not be identified.
    """,
    remediation="""
        Rebase the image on a supported release of its distribution (or on a distroless or minimal image
        of one), rebuild it and roll it out; a paid extension (Debian ELTS, Ubuntu Pro, Red Hat ELS) only
        buys time to do so.
    """,
    references=(
        Reference("Debian Long Term Support", "https://wiki.debian.org/LTS"),
        Reference("Ubuntu release cycle", "https://ubuntu.com/about/release-cycle"),
        Reference("Alpine Linux releases and end of support", "https://alpinelinux.org/releases/"),
        Reference("Red Hat Enterprise Linux life cycle", "https://access.redhat.com/support/policy/updates/errata"),
        Reference("endoflife.date: operating system end-of-life dates", "https://endoflife.date/"),
        NIST_800_190,
    ),
)
def image_os_end_of_life(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for running in running_images(pod, ctx):
        os_release = running.image.os_release
        if os_release is None:
            continue
        lapse = per_image(ctx, "os-lapse", running.image, image_lapse)
        if lapse is None:
            continue
        yield running.hit(f"{running.who} runs an image on {_lapse_message(lapse)}.", _os_evidence(os_release),
                          severity=lapse.severity)


# --- shells and package managers ----------------------------------------------------------------

_LISTED = 4
"""How many paths a message names before saying how many more there are."""


def executable_paths(image: ImageInventory, kind: str) -> tuple[str, ...]:
    """The absolute paths of the image's executables of one kind (`shell`, `package-manager`), sorted."""
    return tuple(sorted("/" + e.path.lstrip("/") for e in image.executables if e.kind == kind))


def _listing(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:_LISTED])
    more = len(paths) - _LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _kind_judge(kind: str) -> Callable[[ImageInventory, date], tuple[str, ...]]:
    return lambda image, _today: executable_paths(image, kind)


@check(
    id="KW-IMG-002",
    name="image-ships-shell",
    title="Image ships a shell",
    category=Category.IMAGE,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        A shell in the image (sh, bash, ash, dash, zsh, busybox …) is what `kubectl exec -it … -- sh` needs:
        with it, anyone whom RBAC lets exec into the pod (see the exec-access checks), and any intruder who
        reaches a command injection in the application, gets an interactive foothold with pipes, loops and
        redirection to work with. Without it, as in a distroless image, exec can only run the binaries the
        image already holds, and debugging goes through an ephemeral container that the API server audits.
        Ephemeral containers are not reported: they are debugging tools that carry a shell on purpose.
    """,
    remediation="""
        Build the runtime image from a distroless or scratch base (multi-stage build: compile in a full
        image, copy only the artifact), so it holds no shell; debug with `kubectl debug --image=…
        --target=<container>` (an ephemeral container) instead of exec.
    """,
    references=(
        DISTROLESS,
        EPHEMERAL_DEBUGGING,
        CONTAINER_ADMIN_COMMAND,
        Reference("MITRE ATT&CK T1059.004: Unix Shell", "https://attack.mitre.org/techniques/T1059/004/"),
        NIST_800_190,
    ),
)
def image_ships_shell(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for running in running_images(pod, ctx, ephemeral=False):
        shells = per_image(ctx, "shells", running.image, _kind_judge("shell"))
        if shells:
            yield running.hit(
                f"{running.who} runs an image that ships a shell ({_listing(shells)}): whoever can exec into "
                f"the pod gets an interactive shell in it.", list(shells))


@check(
    id="KW-IMG-003",
    name="image-ships-package-manager",
    title="Image ships a package manager",
    category=Category.IMAGE,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        A package manager left in the runtime image (apt, dpkg, apk, dnf, yum, microdnf, rpm, pip …) lets
        whoever gets a shell in the container install the tools the image lacks (a compiler, a scanner, a
        reverse shell), and lets a running container drift away from the image that was reviewed and
        scanned. It is also the mark of an image built in one stage, whose build tools ship to production.
        Ephemeral containers are not reported.
    """,
    remediation="""
        Use a multi-stage build whose final stage is distroless, scratch or a minimal base without a
        package manager; where one must stay, make the root filesystem read-only and run as non-root so it
        cannot install anything.
    """,
    references=(
        DISTROLESS,
        Reference("MITRE ATT&CK T1105: Ingress Tool Transfer", "https://attack.mitre.org/techniques/T1105/"),
        Reference("Docker: multi-stage builds", "https://docs.docker.com/build/building/multi-stage/"),
        NIST_800_190,
    ),
)
def image_ships_package_manager(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for running in running_images(pod, ctx, ephemeral=False):
        managers = per_image(ctx, "package-managers", running.image, _kind_judge("package-manager"))
        if managers:
            yield running.hit(
                f"{running.who} runs an image that ships a package manager ({_listing(managers)}): an intruder "
                f"with a shell in it can install whatever tools it lacks.", list(managers))


# --- image age ---------------------------------------------------------------------------------------

AGE_LOW_DAYS = 180
"""An image built more than this many days before the inventory was collected is reported (low)."""
AGE_MEDIUM_DAYS = 365
"""… and at medium severity past this many days."""
PLACEHOLDER_BEFORE = date(1980, 1, 2)
"""Build times before this are placeholders, not build times: reproducible builds (ko, Bazel, Nix,
`SOURCE_DATE_EPOCH=0`) write the Unix epoch, Cloud Native Buildpacks write 1980-01-01."""


@dataclass(frozen=True, slots=True)
class Age:
    days: int
    built: date
    severity: Severity


def image_age(created: datetime | None, today: date) -> Age | None:
    """How old an image is when that is worth reporting; None when it is recent enough or its build
    time is unknown (missing, a reproducible-build placeholder, or in the future)."""
    if created is None:
        return None
    built = created.date()
    if built < PLACEHOLDER_BEFORE:
        return None
    days = (today - built).days
    if days > AGE_MEDIUM_DAYS:
        return Age(days, built, Severity.MEDIUM)
    if days > AGE_LOW_DAYS:
        return Age(days, built, Severity.LOW)
    return None


@check(
    id="KW-IMG-004",
    name="image-age",
    title="Image built long ago",
    category=Category.IMAGE,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale=f"""
        A container is patched by rebuilding its image: every package fix published since the image was
        built is missing from it, whatever the base image tag says today. An image built more than
        {AGE_LOW_DAYS} days before the inventory was collected is reported at low severity, more than
        {AGE_MEDIUM_DAYS} days at medium. The build time is the image config's `created`; images that write a
        fixed placeholder there for reproducibility (the 1970 epoch, or 1980-01-01 from buildpacks) and
        images without one are not judged.
    """,
    remediation="""
        Rebuild images on a schedule (weekly, and when the base image publishes security fixes) with
        `--pull` so the base is fresh, and roll the rebuilt images out; pin the result by digest.
    """,
    references=(
        Reference("Docker: building best practices, rebuild your images often",
                  "https://docs.docker.com/build/building/best-practices/#rebuild-your-images-often"),
        NIST_800_190,
        NSA_GUIDE,
    ),
)
def image_built_long_ago(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for running in running_images(pod, ctx):
        age = per_image(ctx, "age", running.image, lambda image, today: image_age(image.config.created, today))
        if age is not None:
            created = running.image.config.created
            yield running.hit(
                f"{running.who} runs an image built {age.days} days ago ({age.built}): it lacks every package "
                f"fix published since.", created.isoformat() if created else None, severity=age.severity)


# --- default user ------------------------------------------------------------------------------------


def is_root_user(user: str) -> bool:
    """Whether an image config `User` (`name`, `uid`, `uid:gid`, or empty) makes the process root."""
    name = user.strip().partition(":")[0]
    return name in ("", "root", "0")


def _windows(pod: Pod, image: ImageInventory) -> bool:
    """Windows images have no uid 0; their users (ContainerAdministrator …) are another matter."""
    return image.config.os == "windows" or (pod.spec.os is not None and pod.spec.os.name == "windows")


@dataclass(frozen=True, slots=True)
class _SpecUser:
    """What the securityContext says about the user: the container's value wins over the pod's."""

    run_as_user: int | None
    run_as_non_root: bool | None
    non_root_level: str
    """`container`, `pod`, or "" when nothing sets runAsNonRoot."""


def _spec_user(pod: Pod, container: Container) -> _SpecUser:
    own = container.security_context
    pod_level = pod.spec.security_context
    uid = own.run_as_user if own is not None and own.run_as_user is not None else (
        pod_level.run_as_user if pod_level is not None else None)
    if own is not None and own.run_as_non_root is not None:
        return _SpecUser(uid, own.run_as_non_root, "container")
    if pod_level is not None and pod_level.run_as_non_root is not None:
        return _SpecUser(uid, pod_level.run_as_non_root, "pod")
    return _SpecUser(uid, None, "")


@check(
    id="KW-IMG-005",
    name="image-default-user-root",
    title="Image runs as root by default, and the pod does not override it",
    category=Category.IMAGE,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        An image with no USER, or USER root or 0, runs its process as uid 0 unless the pod says otherwise.
        With neither runAsUser nor runAsNonRoot: true in the container's or the pod's securityContext, the
        image's default decides, so this container runs as root: every escape bug, writable mount or
        missing mask is worse for it. (KW-ISO-020 judges the pod spec; this check names the image as the
        cause, since fixing the image fixes every workload that runs it.) In a user namespace
        (`hostUsers: false`) uid 0 is not root on the node, so the severity is one step lower.
    """,
    remediation="""
        Add a numeric non-root `USER` to the image (e.g. `USER 65532:65532`; distroless `:nonroot` images
        have one), and set `runAsNonRoot: true` in the pod's securityContext so the kubelet refuses an
        image that regresses.
    """,
    references=(
        Reference("Dockerfile reference: USER", "https://docs.docker.com/reference/dockerfile/#user"),
        Reference("Pod Security Standards (Restricted): Running as Non-root",
                  "https://kubernetes.io/docs/concepts/security/pod-security-standards/"),
        Reference("CIS Docker Benchmark 4.1: Ensure that a user for the container has been created",
                  "https://www.cisecurity.org/benchmark/docker"),
        NSA_GUIDE,
        Reference("MITRE ATT&CK T1611: Escape to Host", "https://attack.mitre.org/techniques/T1611/"),
    ),
)
def image_default_user_root(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    userns = pod.spec.host_users is False
    for running in running_images(pod, ctx):
        config = running.image.config
        if _windows(pod, running.image) or not is_root_user(config.user):
            continue
        spec = _spec_user(pod, running.container)
        if spec.run_as_user is not None or spec.run_as_non_root is True:
            continue  # the spec decides the user; KW-ISO-020 judges it
        default = f"USER {config.user}" if config.user.strip() else "no USER"
        guard = (f"runAsNonRoot is false (set on the {spec.non_root_level})" if spec.non_root_level
                 else "neither runAsUser nor runAsNonRoot is set")
        note = " (in a user namespace: hostUsers is false, so uid 0 is not root on the node)" if userns else ""
        yield running.hit(
            f"{running.who} runs as root: its image has {default} and {guard}{note}.", config.user,
            severity=Severity.LOW if userns else Severity.MEDIUM)

