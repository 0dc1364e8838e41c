"""The exec matrix joined with the images: who can exec × whether there is a shell to get."""

from __future__ import annotations

import msgspec

from audit.images import Executable, ImageInventory
from checks.engine import REGISTRY, all_checks, evaluate
from collectors.kube import inventory_from_objects


def pod(name: str, digest: str | None) -> dict:
    status = {"containerStatuses": [{"name": "app", "image": "x", "imageID": f"x@{digest}"}]} if digest else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"containers": [{"name": "app", "image": "x"}]}, "status": status}


RBAC = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "exec", "namespace": "shop"},
     "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "deployer-exec", "namespace": "shop"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "exec"},
     "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "shop"}]},
]
SHELL, DISTROLESS = "sha256:" + "5" * 64, "sha256:" + "6" * 64


def message(images: tuple[ImageInventory, ...], pods: list[dict]) -> str:
    inventory = msgspec.structs.replace(inventory_from_objects([*RBAC, *pods]), images=images)
    all_checks()
    [finding] = evaluate(inventory, checks=[REGISTRY["KW-EXEC-002"]]).findings
    return finding.message


def test_the_finding_says_how_many_reachable_pods_ship_a_shell() -> None:
    images = (ImageInventory(digest=SHELL, executables=(Executable(path="bin/sh", kind="shell", name="dash"),)),
              ImageInventory(digest=DISTROLESS))
    text = message(images, [pod("web", SHELL), pod("api", DISTROLESS), pod("pending", None)])
    assert text.endswith("It reaches 3 pods, 1 of them running an image that ships a shell (1 not read).")


def test_without_images_it_says_the_shell_is_unknown() -> None:
    text = message((), [pod("web", SHELL)])
    assert text.endswith("It reaches 1 pod; whether their images ship a shell is unknown (not read).")
