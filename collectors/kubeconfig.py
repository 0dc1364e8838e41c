"""Find and load the cluster connection exactly as kubectl does.

Precedence: `--kubeconfig FILE`, then every file in `KUBECONFIG` merged (the
first file to name a cluster, user or context wins, and so does the first to
set current-context), then `~/.kube/config`, then the in-cluster service
account when running inside a pod. Authentication (tokens, client
certificates, exec and auth-provider plugins) is the official client's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_HOST_ENV_NAME, InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where a pod finds its service-account token, CA and namespace."""


class KubeConfigError(Exception):
    """The connection cannot be configured; the message is one line for the user."""


@dataclass(frozen=True)
class KubeTarget:
    """A configured client and what it points at."""

    api_client: ApiClient
    context: str
    server: str
    namespace: str
    """The context's default namespace (`default` when it names none)."""


def kubeconfig_paths(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The kubeconfig files kubectl would read, in precedence order (existing ones only
    for KUBECONFIG, which kubectl also tolerates missing entries in)."""
    env = os.environ if environ is None else environ
    if explicit:
        return [Path(explicit).expanduser()]
    if env.get("KUBECONFIG"):
        paths = [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
        return [p for p in paths if p.is_file()]
    default = Path(env.get("HOME", str(Path.home()))) / ".kube" / "config"
    return [default] if default.is_file() else []


def list_contexts(kubeconfig: str | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The context names of the kubeconfig kubectl would read, merged as `load_kube_target` merges them."""
    paths = kubeconfig_paths(kubeconfig, environ)
    if not paths:
        raise KubeConfigError("no kubeconfig: pass --kubeconfig or set KUBECONFIG")
    return _merge(paths)[2]


def _merge(paths: list[Path]) -> tuple[str, KubeConfigMerger, list[str]]:
    """The kubeconfig files merged: where they are (for messages), the merger, and the context names."""
    where = os.pathsep.join(str(p) for p in paths)
    for path in paths:
        _check_yaml(path)
    try:
        merger = KubeConfigMerger(where)
        if merger.config is None:
            raise KubeConfigError(f"kubeconfig {where}: no configuration found")
        return where, merger, [c["name"] for c in merger.config.value.get("contexts") or []]
    except KubeConfigError:
        raise
    except (ConfigException, KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
        raise KubeConfigError(f"kubeconfig {where}: {_one_line(exc)}") from None


def load_kube_target(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    concurrency: int = 8,
    environ: Mapping[str, str] | None = None,
) -> KubeTarget:
    """Build an ApiClient for the chosen context, or raise KubeConfigError."""
    env = os.environ if environ is None else environ
    if kubeconfig and not Path(kubeconfig).expanduser().is_file():
        raise KubeConfigError(f"kubeconfig {kubeconfig}: no such file")
    paths = kubeconfig_paths(kubeconfig, env)
    configuration = Configuration()
    if not paths:
        if env.get(SERVICE_HOST_ENV_NAME) and (SERVICE_ACCOUNT_DIR / "token").is_file():
            return _in_cluster(configuration, concurrency, env)
        raise KubeConfigError(
            "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config"
        )
    where, merger, contexts = _merge(paths)
    try:
        chosen = context or _first_current_context(paths)
        if not chosen:
            raise KubeConfigError(
                f"kubeconfig {where}: no current-context set; pass --context"
                f" (contexts: {', '.join(contexts) or 'none'})"
            )
        if chosen not in contexts:
            raise KubeConfigError(
                f"context {chosen!r} not found in kubeconfig {where}"
                f" (contexts: {', '.join(contexts) or 'none'})"
            )
        loader = KubeConfigLoader(
            config_dict=merger.config, active_context=chosen, config_base_path=None
        )
        loader.load_and_set(configuration)
        namespace = _context_namespace(loader.current_context)
    except KubeConfigError:
        raise
    except (ConfigException, KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
        raise KubeConfigError(f"kubeconfig {where}: {_one_line(exc)}") from None
    _tune(configuration, concurrency)
    return KubeTarget(
        api_client=ApiClient(configuration),
        context=chosen,
        server=configuration.host,
        namespace=namespace,
    )


def _in_cluster(configuration: Configuration, concurrency: int, env: Mapping[str, str]) -> KubeTarget:
    try:
        InClusterConfigLoader(
            token_filename=str(SERVICE_ACCOUNT_DIR / "token"),
            cert_filename=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
            environ=env,
        ).load_and_set(configuration)
    except ConfigException as exc:
        raise KubeConfigError(f"in-cluster configuration: {_one_line(exc)}") from None
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    _tune(configuration, concurrency)
    return KubeTarget(
        api_client=ApiClient(configuration), context="in-cluster",
        server=configuration.host, namespace=namespace,
    )


def _tune(configuration: Configuration, concurrency: int) -> None:
    # kubeward retries on its own terms (backoff, Retry-After); urllib3's silent
    # retries would multiply every timeout.
    configuration.retries = urllib3.util.Retry(
        total=0, connect=0, read=0, redirect=0, status=0,
        raise_on_redirect=False, raise_on_status=False, respect_retry_after_header=False,
    )
    configuration.connection_pool_maxsize = max(4, concurrency)


def _check_yaml(path: Path) -> None:
    """Name the file and line of a YAML error instead of letting a traceback out."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise KubeConfigError(f"kubeconfig {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise KubeConfigError(f"kubeconfig {path}:{where}: malformed YAML ({problem})") from None
    if data is None:
        raise KubeConfigError(f"kubeconfig {path}: file is empty")
    if not isinstance(data, dict):
        raise KubeConfigError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
    for key in ("clusters", "contexts", "users"):
        entries = data.get(key) or []
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and "name" in e for e in entries
        ):
            raise KubeConfigError(f"kubeconfig {path}: '{key}' must be a list of named entries")


def _first_current_context(paths: list[Path]) -> str | None:
    for path in paths:
        data = yaml.safe_load(path.read_text()) or {}
        if data.get("current-context"):
            return str(data["current-context"])
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _context_namespace(context: object) -> str:
    """The default namespace of the active context (the loader hands out ConfigNodes)."""
    body = getattr(context, "value", context)
    inner = body.get("context") if isinstance(body, dict) else None
    inner = getattr(inner, "value", inner)
    namespace = inner.get("namespace") if isinstance(inner, dict) else None
    return str(namespace) if namespace else "default"
