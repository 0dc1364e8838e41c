"""Count sessions, not lines: fold the stages of one request and kubectl's retry into one session.

One request is logged once per stage (RequestReceived, ResponseStarted,
ResponseComplete, Panic), every line with the same audit id; the last stage
seen carries the response code. kubectl ≥ 1.30 first asks for a WebSocket
stream (`get`); when that is refused it retries at once over SPDY (`create`,
a new request with a new audit id, the same URI). A `create` by the same
identity for the same URI within `RETRY_WINDOW` after a `get` that did not
open a session is that retry: one session, two attempts, judged by the last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from audit.exec_evidence import ExecOutcome, ExecSession
from collectors.auditlog.event import STAGE_ORDER, AuditEvent
from collectors.auditlog.request import ExecRequest

RETRY_WINDOW = timedelta(seconds=10)
_OPENED = frozenset({101, 200, 201})
_DENIED = frozenset({401, 403})


def outcome_of(code: int, decision: str) -> ExecOutcome:
    if code in _OPENED:
        return ExecOutcome.OPENED
    if code in _DENIED or (code == 0 and decision == "forbid"):
        return ExecOutcome.DENIED
    return ExecOutcome.FAILED


@dataclass(slots=True)
class _Attempt:
    """One request, its stages merged."""

    event: AuditEvent
    request: ExecRequest
    time: datetime
    stage_rank: int
    code: int
    decision: str
    audit_ids: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> ExecOutcome:
        return outcome_of(self.code, self.decision)

    @property
    def identity_key(self) -> tuple[str, str, str]:
        impersonated = self.event.impersonated_user.username if self.event.impersonated_user else ""
        return (self.event.user.username, impersonated, self.event.request_uri)


class SessionFolder:
    """Takes exec events in any order (files, stages, rotations), gives sessions in time order."""

    def __init__(self) -> None:
        self._by_id: dict[str, _Attempt] = {}
        self._anonymous = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, event: AuditEvent, request: ExecRequest, time: datetime) -> None:
        key = event.audit_id
        if not key:  # every API server writes one; a hand-made line without is its own request
            self._anonymous += 1
            key = f"\x00{self._anonymous}"
        rank = STAGE_ORDER.get(event.stage, -1)
        attempt = self._by_id.get(key)
        if attempt is None:
            self._by_id[key] = _Attempt(event=event, request=request, time=time, stage_rank=rank,
                                        code=event.code, decision=event.decision,
                                        audit_ids=[event.audit_id] if event.audit_id else [])
            return
        attempt.time = min(attempt.time, time)
        attempt.decision = attempt.decision or event.decision
        if rank >= attempt.stage_rank and (event.code or not attempt.code):
            attempt.stage_rank, attempt.code, attempt.event = rank, event.code or attempt.code, event

    def sessions(self) -> list[ExecSession]:
        attempts = sorted(self._by_id.values(), key=lambda a: (a.time, a.event.verb != "get"))
        pending: dict[tuple[str, str, str], _Attempt] = {}
        """The latest unanswered `get` per identity and URI, waiting for kubectl's `create` retry."""
        retry_of: dict[int, _Attempt] = {}
        absorbed: set[int] = set()
        for attempt in attempts:
            verb = attempt.event.verb
            if verb == "create":
                refused = pending.pop(attempt.identity_key, None)
                if refused is not None and attempt.time - refused.time <= RETRY_WINDOW:
                    retry_of[id(attempt)] = refused
                    absorbed.add(id(refused))
            elif verb == "get" and attempt.outcome is not ExecOutcome.OPENED:
                pending[attempt.identity_key] = attempt
        out = [_session(a, first=retry_of.get(id(a))) for a in attempts if id(a) not in absorbed]
        out.sort(key=lambda s: s.time)
        return out


def _session(attempt: _Attempt, *, first: _Attempt | None = None) -> ExecSession:
    event, request = attempt.event, attempt.request
    impersonated = event.impersonated_user
    ids = [*(first.audit_ids if first else []), *attempt.audit_ids]
    return ExecSession(
        time=first.time if first else attempt.time,
        path=request.path,
        outcome=attempt.outcome,
        user=event.user.username,
        groups=event.user.groups,
        impersonated_user=impersonated.username if impersonated else "",
        impersonated_groups=impersonated.groups if impersonated else (),
        source_ips=event.source_ips,
        user_agent=event.user_agent,
        namespace=request.namespace,
        pod=request.pod,
        container=request.container,
        command=request.command,
        node=request.node,
        kubelet_endpoint=request.kubelet_endpoint,
        verb=event.verb,
        code=attempt.code,
        stage=event.stage,
        audit_ids=tuple(ids),
    )
