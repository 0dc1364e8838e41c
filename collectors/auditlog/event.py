"""The few fields of an audit.k8s.io/v1 Event that exec evidence needs, as narrow structs.

Decoding into these skips every other field (request and response bodies at
the Request levels, annotations, `extra`) without building Python objects for
them, which is most of the cost of reading a log.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import field


class EventUser(msgspec.Struct, frozen=True):
    username: str = ""
    groups: tuple[str, ...] = ()


class EventObjectRef(msgspec.Struct, frozen=True):
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    api_group: str = field(default="", name="apiGroup")


class EventStatus(msgspec.Struct, frozen=True):
    code: int = 0


class AuditEvent(msgspec.Struct, frozen=True):
    """One line of the log: one stage of one request."""

    kind: str = ""
    audit_id: str = field(default="", name="auditID")
    stage: str = ""
    request_uri: str = field(default="", name="requestURI")
    verb: str = ""
    user: EventUser = EventUser()
    impersonated_user: EventUser | None = field(default=None, name="impersonatedUser")
    source_ips: tuple[str, ...] = field(default=(), name="sourceIPs")
    user_agent: str = field(default="", name="userAgent")
    object_ref: EventObjectRef | None = field(default=None, name="objectRef")
    response_status: EventStatus | None = field(default=None, name="responseStatus")
    received: datetime | None = field(default=None, name="requestReceivedTimestamp")
    stage_time: datetime | None = field(default=None, name="stageTimestamp")
    annotations: dict[str, str] = {}

    @property
    def time(self) -> datetime | None:
        return self.received or self.stage_time

    @property
    def code(self) -> int:
        return self.response_status.code if self.response_status is not None else 0

    @property
    def decision(self) -> str:
        """The authorizer's decision annotation: `allow`, `forbid` or empty."""
        return self.annotations.get("authorization.k8s.io/decision", "")


class EventTime(msgspec.Struct, frozen=True):
    """Just the time of an event (the first and last line of a file say what it covers)."""

    received: datetime | None = field(default=None, name="requestReceivedTimestamp")
    stage_time: datetime | None = field(default=None, name="stageTimestamp")


event_decoder = msgspec.json.Decoder(AuditEvent)
time_decoder = msgspec.json.Decoder(EventTime)

STAGE_ORDER = {"RequestReceived": 0, "ResponseStarted": 1, "ResponseComplete": 2, "Panic": 3}
"""Later stages know more (the response code); a request's last stage wins."""
