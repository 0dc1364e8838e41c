"""Kubeconfig discovery, merging and context selection follow kubectl's rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from collectors.kubeconfig import KubeConfigError, load_kube_target


def write_config(path: Path, *, clusters: dict[str, str], contexts: dict[str, tuple[str, str]],
                 users: dict[str, str], current: str | None = None, namespace: str | None = None) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in clusters.items()],
        "users": [{"name": n, "user": {"token": t}} for n, t in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": u, **({"namespace": namespace} if namespace else {})}}
            for n, (c, u) in contexts.items()
        ],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    first = write_config(
        tmp_path / "a.yaml",
        clusters={"shared": "https://127.0.0.1:1111", "alpha": "https://127.0.0.1:2222"},
        contexts={"alpha": ("alpha", "alice"), "shared": ("shared", "alice")},
        users={"alice": "token-a"},
        current="alpha",
        namespace="team-a",
    )
    second = write_config(
        tmp_path / "b.yaml",
        clusters={"shared": "https://127.0.0.1:9999", "beta": "https://127.0.0.1:3333"},
        contexts={"beta": ("beta", "bob")},
        users={"bob": "token-b"},
        current="beta",
    )
    return first, second


def env_with(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env.update(values)
    return env


def test_kubeconfig_env_merges_files_first_one_wins(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    env = env_with(KUBECONFIG=f"{first}{os.pathsep}{second}")
    target = load_kube_target(environ=env)
    # current-context: the first file that sets it wins, as in kubectl
    assert target.context == "alpha"
    assert target.server == "https://127.0.0.1:2222"
    assert target.namespace == "team-a"
    # a context defined only in the second file is reachable
    beta = load_kube_target(context="beta", environ=env)
    assert beta.server == "https://127.0.0.1:3333"
    assert beta.namespace == "default"
    assert beta.api_client.configuration.auth_settings()["BearerToken"]["value"] == "Bearer token-b"
    # a cluster named in both files: the first definition wins
    shared = load_kube_target(context="shared", environ=env)
    assert shared.server == "https://127.0.0.1:1111"


def test_kubeconfig_env_order_matters(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    target = load_kube_target(environ=env_with(KUBECONFIG=f"{second}{os.pathsep}{first}"))
    assert target.context == "beta"


def test_kubeconfig_env_ignores_missing_entries(two_files: tuple[Path, Path], tmp_path: Path) -> None:
    first, _ = two_files
    env = env_with(KUBECONFIG=f"{tmp_path / 'missing'}{os.pathsep}{first}")
    assert load_kube_target(environ=env).context == "alpha"


def test_explicit_kubeconfig_beats_environment(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    target = load_kube_target(str(second), environ=env_with(KUBECONFIG=str(first)))
    assert target.context == "beta"
    with pytest.raises(KubeConfigError, match="context 'alpha' not found"):
        load_kube_target(str(second), "alpha", environ=env_with(KUBECONFIG=str(first)))


def test_home_kubeconfig_is_the_fallback(two_files: tuple[Path, Path], tmp_path: Path) -> None:
    first, _ = two_files
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(first.read_text())
    env = env_with(HOME=str(home))
    assert load_kube_target(environ=env).context == "alpha"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("clusters: [\n  - name: x\n    cluster: {server: https://a\n", r"line \d+: malformed YAML"),
        ("", "file is empty"),
        ("- just\n- a list\n", "not a kubeconfig"),
        ("clusters: 5\n", "'clusters' must be a list"),
        ("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n", "no current-context set"),
    ],
)
def test_bad_kubeconfig_is_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(KubeConfigError, match=message) as info:
        load_kube_target(str(path), environ=env_with())
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_context_names_the_known_ones(two_files: tuple[Path, Path]) -> None:
    first, _ = two_files
    with pytest.raises(KubeConfigError, match=r"context 'nope' not found .*\(contexts: alpha, shared\)"):
        load_kube_target(str(first), "nope", environ=env_with())


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="no such file"):
        load_kube_target(str(tmp_path / "absent"), environ=env_with())
    with pytest.raises(KubeConfigError, match="no kubeconfig found"):
        load_kube_target(environ=env_with(HOME=str(tmp_path)))
