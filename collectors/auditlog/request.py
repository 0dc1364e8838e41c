"""What an audit event's request was, from its URI: a path into a container, or nothing of interest.

    /api/v1/namespaces/<ns>/pods/<pod>/exec?command=sh&command=-c&command=id&container=app
    /api/v1/namespaces/<ns>/pods/<pod>/attach?container=app    …/portforward    …/ephemeralcontainers
    /api/v1/nodes/<node>/proxy/exec/<ns>/<pod>/<container>?command=id     (the kubelet API behind
    /api/v1/nodes/<node>/proxy/run/<ns>/<pod>/<container>                  nodes/proxy; a pod uid may
    /api/v1/nodes/<node>/proxy/attach/<ns>/<pod>/<container>               come before the container)
    /api/v1/nodes/<node>/proxy/portForward/<ns>/<pod>

The URI is the authority (the objectRef of a nodes/proxy request does not say
which pod the kubelet was asked for). Only the verbs that open a session
count: `get` (WebSocket) and `create` (SPDY, or the kubelet's POST) for
exec, attach, port-forward and nodes/proxy; `patch` and `update` for
ephemeral containers (`get` merely reads them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from audit.exec_evidence import SessionPath

_POD_SUBRESOURCE = re.compile(
    r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/(exec|attach|portforward|ephemeralcontainers)/?$")
_NODE_PROXY = re.compile(r"^/api/v1/nodes/([^/]+)/proxy/(exec|run|attach|portForward)/(.+?)/?$")

_SUBRESOURCE_PATHS: dict[str, SessionPath] = {
    "exec": "pods/exec", "attach": "pods/attach", "portforward": "pods/portforward",
    "ephemeralcontainers": "pods/ephemeralcontainers",
}
_STREAM_VERBS = frozenset({"get", "create"})
_DEBUG_VERBS = frozenset({"patch", "update"})

MAX_COMMAND_ARGS = 32
MAX_ARG_LENGTH = 256
_SECRET_ASSIGNMENT = re.compile(
    r"^(-{0,2}[A-Za-z0-9_.-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|credential)[A-Za-z0-9_.-]*[=:])(.+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ExecRequest:
    """The container a request was about, and what it asked to run there."""

    path: SessionPath
    namespace: str
    pod: str
    container: str = ""
    command: tuple[str, ...] = ()
    node: str = ""
    kubelet_endpoint: str = ""


def exec_request(uri: str, verb: str) -> ExecRequest | None:
    """The exec request a URI and verb make, or None for every other request."""
    parts = urlsplit(uri)
    match = _POD_SUBRESOURCE.match(parts.path)
    if match is not None:
        namespace, pod, subresource = (unquote(g) for g in match.groups())
        path = _SUBRESOURCE_PATHS[subresource]
        if verb not in (_DEBUG_VERBS if path == "pods/ephemeralcontainers" else _STREAM_VERBS):
            return None
        container, command = _query(parts.query)
        return ExecRequest(path=path, namespace=namespace, pod=pod, container=container, command=command)
    match = _NODE_PROXY.match(parts.path)
    if match is None or verb not in _STREAM_VERBS:
        return None
    node, endpoint, rest = match.groups()
    segments = [unquote(s) for s in rest.split("/")]
    if len(segments) < 2:
        return None
    namespace, pod = segments[0], segments[1]
    container = segments[-1] if endpoint != "portForward" and len(segments) >= 3 else ""
    _, command = _query(parts.query)
    return ExecRequest(path="nodes/proxy", namespace=namespace, pod=pod, container=container, command=command,
                       node=_node_name(unquote(node)), kubelet_endpoint=endpoint)


def _query(query: str) -> tuple[str, tuple[str, ...]]:
    container = ""
    command: list[str] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "container":
            container = value
        elif key in ("command", "cmd") and len(command) < MAX_COMMAND_ARGS:
            command.append(mask_secret(value)[:MAX_ARG_LENGTH])
    return container, tuple(command)


def mask_secret(argument: str) -> str:
    """`--password=hunter2` → `--password=***`, `PGPASSWORD=x` → `PGPASSWORD=***`; other arguments as they are.

    The snapshot keeps no container command lines (they carry credentials); an exec command is
    evidence worth keeping, so only the values of credential-like assignments are dropped."""
    match = _SECRET_ASSIGNMENT.match(argument)
    return f"{match.group(1)}***" if match else argument


def _node_name(text: str) -> str:
    """`node-1`, `node-1:10250` and `https:node-1:10250` all name node-1."""
    parts = text.split(":")
    if len(parts) > 1 and parts[0] in ("http", "https"):
        parts = parts[1:]
    return parts[0]
