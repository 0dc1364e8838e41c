"""Exec evidence: who actually opened a shell, as the API server's audit log records it.

RBAC (the exec matrix, `audit.access`) says who *could* get a shell in a
container; the audit log says who *did*. `collectors.auditlog` reads the log
and keeps one `ExecSession` per session, not per line: the stages of one
request (RequestReceived, ResponseStarted, ResponseComplete share an audit
id) and kubectl's retry of a refused WebSocket `get` as a SPDY `create` are
folded into one. The sessions, the window read and what each file held are
an `ExecEvidence`, kept in the Inventory (`Inventory.exec_evidence`; None when
no log was given, and then nothing is said about who did or did not exec).

This module holds only plain data, so the Inventory can carry it; the join
with the exec matrix and the images is `audit.container_access`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import msgspec

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

SessionPath = Literal["pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers", "nodes/proxy"]
"""The RBAC path a session went through: the values of `audit.access.ExecPath` the log can show
(kept as strings so that this module, which the Inventory imports, needs nothing of the model)."""


class Struct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of the exec evidence structs."""


class ExecOutcome(enum.StrEnum):
    OPENED = "opened"
    """Response 101 (a WebSocket or SPDY stream), 200 or 201: the session was opened."""
    DENIED = "denied"
    """Response 401 or 403, or the authorizer's decision `forbid`."""
    FAILED = "failed"
    """Any other response (the kubelet unreachable, a bad request …), or none recorded."""


class ExecSession(Struct, kw_only=True):
    """One session (or one attempt at one) to run something in a container, from the audit log."""

    time: datetime
    """When the API server received the (first) request."""
    path: SessionPath
    outcome: ExecOutcome
    user: str
    """The authenticated user name (`alice@example.com`, `system:serviceaccount:ci:runner`)."""
    groups: tuple[str, ...] = ()
    impersonated_user: str = ""
    """The user the request impersonated (`kubectl --as`); RBAC judged the request as this user."""
    impersonated_groups: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    user_agent: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    """As the request named it; empty when it named none (the pod's default container) or for an
    ephemeral container added by patch (its name is in the request body, which the log leaves out)."""
    command: tuple[str, ...] = ()
    """The `command=` parameters, URL-decoded, values of credential-like arguments masked (`***`)."""
    node: str = ""
    """For nodes/proxy: the node whose kubelet was reached."""
    kubelet_endpoint: str = ""
    """For nodes/proxy: the kubelet endpoint behind it (`exec`, `run`, `attach`, `portForward`)."""
    verb: str = ""
    """The verb of the last attempt: `get` (WebSocket), `create` (SPDY, or kubectl's retry), `patch`."""
    code: int = 0
    """The response code of the last stage seen (0: none recorded)."""
    stage: str = ""
    """The last stage seen: `RequestReceived`, `ResponseStarted`, `ResponseComplete` or `Panic`."""
    audit_ids: tuple[str, ...] = ()
    """The audit ids of the attempts folded into this session (two for a get/create retry)."""

    @property
    def identity(self) -> str:
        """Who RBAC judged the request as: the impersonated user, else the authenticated one."""
        return self.impersonated_user or self.user

    @property
    def identity_groups(self) -> tuple[str, ...]:
        return self.impersonated_groups if self.impersonated_user else self.groups

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) when the identity is a service account."""
        return service_account_of(self.identity)

    @property
    def target(self) -> str:
        """`namespace/pod/container` (or as much of it as is known) for people."""
        return "/".join(part for part in (self.namespace, self.pod, self.container) if part) or self.node


def service_account_of(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a `system:serviceaccount:<ns>:<name>` user name, else None."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, sep, name = username.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
    return (namespace, name) if sep and namespace and name else None


class AuditLogFile(Struct, kw_only=True):
    """What one audit log file held."""

    path: str
    lines: int = 0
    candidates: int = 0
    """Lines that could concern exec (passed the byte test) and were decoded."""
    events: int = 0
    """Exec, attach, port-forward, debug-container and kubelet-exec events in the window."""
    damaged: int = 0
    """Candidate lines that are not an audit event (truncated, malformed JSON, wrong types)."""
    first_damaged_line: int | None = None
    first: datetime | None = None
    """Time of the first event in the file, when its first line is readable."""
    last: datetime | None = None
    skipped: str = ""
    """Why the file was not read (a rotated file older than the window)."""
    error: str = ""
    """Why reading stopped early (a truncated gzip stream, an I/O error); what was read stays."""


class ExecEvidence(Struct, kw_only=True):
    """Everything the audit log said about exec, for the window read."""

    since: datetime
    until: datetime
    files: tuple[AuditLogFile, ...] = ()
    sessions: tuple[ExecSession, ...] = ()
    """In time order."""

    @property
    def covered_from(self) -> datetime | None:
        """The earliest event time the files show inside the window (None: no readable event)."""
        times = [f.first for f in self.files if f.first is not None]
        return max(min(times), self.since) if times else None

    @property
    def covered_until(self) -> datetime | None:
        times = [f.last for f in self.files if f.last is not None]
        return min(max(times), self.until) if times else None


class ExecSummary(Struct, kw_only=True):
    """Sessions of one identity into one container through one path: how many, when, which commands."""

    namespace: str
    pod: str
    container: str
    identity: str
    path: SessionPath
    opened: int = 0
    denied: int = 0
    failed: int = 0
    first: datetime
    last: datetime
    commands: tuple[tuple[str, ...], ...] = ()
    """The distinct commands, most recent first (at most `MAX_COMMANDS`)."""
    users: tuple[str, ...] = ()
    """The authenticated users behind `identity`, when they differ from it (impersonation)."""
    source_ips: tuple[str, ...] = ()
    node: str = ""

    @property
    def sessions(self) -> int:
        return self.opened + self.denied + self.failed


MAX_COMMANDS = 10


def summarize(sessions: Iterable[ExecSession]) -> list[ExecSummary]:
    """One summary per (namespace, pod, container, identity, path), most recent first."""
    groups: dict[tuple[str, str, str, str, str], list[ExecSession]] = {}
    for session in sessions:
        key = (session.namespace, session.pod, session.container, session.identity, session.path)
        groups.setdefault(key, []).append(session)
    out = []
    for (namespace, pod, container, identity, path), members in groups.items():
        members.sort(key=lambda s: s.time)
        commands: list[tuple[str, ...]] = []
        for session in reversed(members):
            if session.command and session.command not in commands and len(commands) < MAX_COMMANDS:
                commands.append(session.command)
        outcomes = [s.outcome for s in members]
        out.append(ExecSummary(
            namespace=namespace, pod=pod, container=container, identity=identity, path=path,  # type: ignore[arg-type]
            opened=outcomes.count(ExecOutcome.OPENED), denied=outcomes.count(ExecOutcome.DENIED),
            failed=outcomes.count(ExecOutcome.FAILED), first=members[0].time, last=members[-1].time,
            commands=tuple(commands),
            users=tuple(sorted({s.user for s in members if s.user != identity})),
            source_ips=tuple(sorted({ip for s in members for ip in s.source_ips})),
            node=next((s.node for s in members if s.node), ""),
        ))
    out.sort(key=lambda s: s.last, reverse=True)
    return out
