"""Audit log benchmark: reading about 1 GB of API server audit log (some 2 million events) for exec evidence.

    python -m bench.auditlog [--size-mb 1024] [--runs 3] [--write docs/benchmarks.md]

Generates, in a temporary directory, what a kube-apiserver with a
Metadata-level policy writes: three rotated backups and the live `audit.log`,
one audit.k8s.io/v1 Event a line. The mix is a busy cluster's: lease renewals,
kubelets and controllers reading and watching, events created, token and
access reviews, people listing pods and reading logs; 0.2 % of the events
are exec, attach, port-forward, debug-container and kubelet-exec requests,
logged stage by stage, with kubectl's refused-then-retried pairs among them.
Then measures, each in a fresh process, in the same run, with the files in
the page cache:

- kubeward: `read_audit_logs` over the directory (wall time and peak RSS);
- the baseline: `grep -c -F` with the same byte strings kubeward looks for
  (the cheapest tool that reads every byte and finds the candidate lines),
  and `wc -l` for scale.

Goals: ≤ 30 s and ≤ 300 MB for 1 GB. `--size-mb` makes the log smaller for a quick
run; the figures recorded in docs/benchmarks.md are for the default, the issue's size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.markdown import publish
from bench.measure import run_process

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
EXEC_SHARE = 0.002
FILES = 4
KUBECTL = "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07"


def _event(verb: str, uri: str, user: str, groups: list[str], code: int, stage: str = "ResponseComplete",
           object_ref: dict[str, str] | None = None, agent: str = KUBECTL, ip: str = "10.20.0.10",
           impersonate: str | None = None, audit_id: str = "{id}") -> str:
    """An event as a template: the audit id, `{received}` and `{stamp}` are filled in per line."""
    event: dict[str, object] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "@ID@", "stage": stage,
        "requestURI": uri, "verb": verb, "user": {"username": user, "groups": groups},
    }
    if impersonate:
        event["impersonatedUser"] = {"username": impersonate, "groups": ["system:serviceaccounts"]}
    event.update(sourceIPs=[ip], userAgent=agent)
    if object_ref is not None:
        event["objectRef"] = {**object_ref, "apiVersion": "v1"}
    if stage != "RequestReceived":
        event["responseStatus"] = {"metadata": {}, "code": code}
    event.update(requestReceivedTimestamp="@RECEIVED@", stageTimestamp="@STAMP@",
                 annotations={"authorization.k8s.io/decision": "forbid" if code == 403 else "allow",
                              "authorization.k8s.io/reason": ""})
    text = json.dumps(event, separators=(",", ":")).replace("{", "{{").replace("}", "}}")
    return text.replace("@ID@", audit_id).replace("@RECEIVED@", "{received}").replace("@STAMP@", "{stamp}")


def noise_templates(rng: random.Random) -> list[str]:
    """Ordinary traffic, weighted as a busy cluster's log is."""
    out = []
    system = ["system:authenticated"]
    for component in ("kube-controller-manager", "kube-scheduler", "cloud-controller-manager"):
        lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{component}"
        out += [_event("update", lease, f"system:{component}", system, 200,
                       object_ref={"resource": "leases", "namespace": "kube-system", "name": component},
                       agent=f"{component}/v1.36.0 (linux/amd64) leader-election")] * 6
    for index in range(60):
        namespace, pod, node = f"team-{index % 12}", f"app-{index}-7d9f8-x{index:03d}", f"node-{index % 40:03d}"
        kubelet = f"system:node:{node}"
        out.append(_event("get", f"/api/v1/namespaces/{namespace}/pods/{pod}", kubelet, ["system:nodes", *system],
                          200, object_ref={"resource": "pods", "namespace": namespace, "name": pod},
                          agent="kubelet/v1.36.0 (linux/amd64) kubernetes/0e5a8f3", ip="10.20.1.5"))
        out.append(_event("patch", f"/api/v1/namespaces/{namespace}/pods/{pod}/status", kubelet,
                          ["system:nodes", *system], 200,
                          object_ref={"resource": "pods", "namespace": namespace, "name": pod,
                                      "subresource": "status"},
                          agent="kubelet/v1.36.0 (linux/amd64) kubernetes/0e5a8f3", ip="10.20.1.5"))
        out.append(_event("create", f"/api/v1/namespaces/{namespace}/events",
                          "system:serviceaccount:kube-system:replicaset-controller",
                          ["system:serviceaccounts", *system], 201,
                          object_ref={"resource": "events", "namespace": namespace},
                          agent="kube-controller-manager/v1.36.0 (linux/amd64) kubernetes/0e5a8f3"))
        out.append(_event("watch", f"/api/v1/namespaces/{namespace}/configmaps?allowWatchBookmarks=true&"
                                   f"resourceVersion={rng.randrange(10**6)}&timeout=7m&watch=true",
                          kubelet, ["system:nodes", *system], 200, stage="ResponseStarted",
                          object_ref={"resource": "configmaps", "namespace": namespace}))
        if index % 4 == 0:
            out.append(_event("get", f"/api/v1/namespaces/{namespace}/pods/{pod}/log?container=app&tailLines=100",
                              f"dev{index}@example.com", system, 200, ip="10.30.4.17",
                              object_ref={"resource": "pods", "namespace": namespace, "name": pod,
                                          "subresource": "log"}))
            out.append(_event("list", f"/api/v1/namespaces/{namespace}/pods?limit=500", f"dev{index}@example.com",
                              system, 200, ip="10.30.4.17", object_ref={"resource": "pods", "namespace": namespace}))
    out.append(_event("create", "/apis/authentication.k8s.io/v1/tokenreviews", "system:kube-apiserver", system, 201,
                      object_ref={"resource": "tokenreviews"}))
    out.append(_event("create", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "system:kube-apiserver",
                      system, 201, object_ref={"resource": "subjectaccessreviews"}))
    out.append(_event("get", "/version?timeout=32s", "kubernetes-admin", ["system:masters", *system], 200))
    return out


def exec_requests(rng: random.Random) -> list[list[str]]:
    """Exec evidence: each item is one session's lines (its stages share `{id}`; kubectl's retry is a new
    request, `{retry}`)."""
    out = []
    people = [f"dev{n}@example.com" for n in range(20)]
    for index in range(40):
        namespace, pod = f"team-{index % 12}", f"app-{index}-7d9f8-x{index:03d}"
        user = rng.choice(people)
        ref = {"resource": "pods", "namespace": namespace, "name": pod}
        uri = (f"/api/v1/namespaces/{namespace}/pods/{pod}/exec"
               "?command=bash&container=app&stdin=true&stdout=true&tty=true")
        opened = [_event("get", uri, user, ["system:authenticated"], 101, stage=stage, ip="10.30.4.17",
                         object_ref={**ref, "subresource": "exec"})
                  for stage in ("ResponseStarted", "ResponseComplete")]
        refused = [_event("get", uri, "mallory@example.com", ["system:authenticated"], 403,
                          object_ref={**ref, "subresource": "exec"}, ip="203.0.113.50"),
                   _event("create", uri, "mallory@example.com", ["system:authenticated"], 403,
                          object_ref={**ref, "subresource": "exec"}, ip="203.0.113.50", audit_id="{retry}")]
        attach = [_event("get", f"/api/v1/namespaces/{namespace}/pods/{pod}/attach?container=app&stdin=true",
                         user, ["system:authenticated"], 101, stage=stage, object_ref={**ref, "subresource": "attach"})
                  for stage in ("ResponseStarted", "ResponseComplete")]
        debug = [_event("patch", f"/api/v1/namespaces/{namespace}/pods/{pod}/ephemeralcontainers", user,
                        ["system:authenticated"], 200, object_ref={**ref, "subresource": "ephemeralcontainers"})]
        kubelet = [_event("get", f"/api/v1/nodes/node-{index % 40:03d}/proxy/exec/{namespace}/{pod}/app?command=id",
                          "system:serviceaccount:monitoring:prometheus", ["system:serviceaccounts"], 101,
                          object_ref={"resource": "nodes", "name": f"node-{index % 40:03d}", "subresource": "proxy"})]
        ci = [_event("create", uri.replace("command=bash", "command=sh&command=-c&command=make+migrate"),
                     "system:serviceaccount:ci:runner", ["system:serviceaccounts"], 101,
                     object_ref={**ref, "subresource": "exec"})]
        out += [opened] * 6 + [refused] * 2 + [attach, debug, kubelet] + [ci] * 4
    return out


def write_log(directory: Path, size_mb: int, seed: int = 7) -> tuple[int, int, int]:
    """The log files; returns (events, sessions, bytes)."""
    rng = random.Random(seed)
    noise, sessions = noise_templates(rng), exec_requests(rng)
    target = size_mb << 20
    per_file = target // FILES
    start = NOW - timedelta(days=20)
    step = timedelta(days=19) / max(1, target // 520)
    moment, events, opened_sessions, written = start, 0, 0, 0
    for number in range(FILES):
        rotated = start + timedelta(days=19) * (number + 1) / FILES
        name = "audit.log" if number == FILES - 1 else f"audit-{rotated:%Y-%m-%dT%H-%M-%S}.000.log"
        size = 0
        with open(directory / name, "w", buffering=1 << 20) as out:
            batch: list[str] = []
            while size < per_file:
                moment += step
                received = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                if rng.random() < EXEC_SHARE:
                    lines = rng.choice(sessions)
                    opened_sessions += 1
                else:
                    lines = [rng.choice(noise)]
                audit_id, retry = _audit_id(rng), _audit_id(rng)
                for template in lines:
                    line = template.format(id=audit_id, retry=retry, received=received, stamp=received) + "\n"
                    batch.append(line)
                    size += len(line)
                    events += 1
                if len(batch) >= 4096:
                    out.write("".join(batch))
                    batch.clear()
            out.write("".join(batch))
        written += size
    return events, opened_sessions, written


def _audit_id(rng: random.Random) -> str:
    bits = rng.getrandbits(128)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:]}"


def child_read(directory: str) -> None:
    """Runs in a fresh process: read the directory once, print time, sessions, lines and candidates."""
    from collectors.auditlog.reader import read_audit_logs

    started = time.perf_counter()
    result = read_audit_logs([Path(directory)], now=NOW, window=timedelta(days=30))
    seconds = time.perf_counter() - started
    files = result.evidence.files
    print(f"{seconds:.6f} {len(result.evidence.sessions)} {sum(f.lines for f in files)} "
          f"{sum(f.candidates for f in files)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated log (default 1024)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", type=Path, help="update this benchmarks markdown file")
    parser.add_argument("--child-read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_read:
        child_read(args.child_read)
        return
    from collectors.auditlog.reader import NEEDLES

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        started = time.perf_counter()
        events, sessions, size = write_log(directory, args.size_mb)
        files = sorted(str(p) for p in directory.iterdir())
        print(f"log: {events:,} events, {sessions:,} exec sessions, {size / 1e6:.0f} MB in {len(files)} files, "
              f"written in {time.perf_counter() - started:.1f} s")
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # into the page cache
        grep = ["grep", "-c", "-F", *(arg for needle in NEEDLES for arg in ("-e", needle.decode())), *files]
        rows: dict[str, list[float]] = {k: [] for k in ("read_s", "read_rss", "grep_s", "grep_rss", "wc_s")}
        for _ in range(args.runs):
            seconds, rss, out = run_process([sys.executable, "-m", "bench.auditlog", "--child-read", str(directory)])
            found, lines = int(out.split()[1]), int(out.split()[2])
            if found != sessions or lines != events:
                raise SystemExit(f"read {found} sessions in {lines} lines, wrote {sessions} in {events}")
            rows["read_s"].append(seconds)
            rows["read_rss"].append(rss)
            print(f"kubeward: {seconds:.2f} s, {rss} MB (own time, sessions, lines, candidates: {out.strip()})")
            seconds, rss, _ = run_process(grep)
            rows["grep_s"].append(seconds)
            rows["grep_rss"].append(rss)
            seconds, _, _ = run_process(["wc", "-l", *files])
            rows["wc_s"].append(seconds)
    section = render(rows, events, sessions, size, args.runs)
    publish(section, args.write)


def render(rows: dict[str, list[float]], events: int, sessions: int, size: int, runs: int) -> str:
    med = {k: statistics.median(v) for k, v in rows.items()}
    return "\n".join([
        f"## Audit log: {size / 1e9:.2f} GB, {events / 1e6:.1f} million events, median of {runs} runs",
        "",
        "Generated by `python -m bench.auditlog --write docs/benchmarks.md`.",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Three rotated files and the live `audit.log` of Metadata-level",
        f"events (leases, kubelets, controllers, watches, reviews, people reading logs); {EXEC_SHARE:.1%} of the",
        f"events are exec requests, stage by stage and with kubectl's retries, {sessions:,} sessions in all",
        "(each run checks it finds exactly those). Whole processes, files in the page cache.",
        "",
        "| | wall time | peak RSS |",
        "| --- | ---: | ---: |",
        f"| `read_audit_logs` | {med['read_s']:.2f} s (goal ≤ 30 s) | {med['read_rss']:.0f} MB (goal ≤ 300 MB) |",
        f"| baseline: `grep -c -F` with the same byte strings | {med['grep_s']:.2f} s | {med['grep_rss']:.0f} MB |",
        f"| for scale: `wc -l` | {med['wc_s']:.2f} s | |",
        f"| **ratio kubeward / grep** | **{med['read_s'] / med['grep_s']:.2f}×** | |",
        "",
    ])


if __name__ == "__main__":
    main()
