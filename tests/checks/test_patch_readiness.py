"""The patch-readiness checks' helper logic: image references, maxUnavailable arithmetic,
PodDisruptionBudget selection and blocking."""

from __future__ import annotations

import pytest

from audit.model import LabelSelector, LabelSelectorRequirement, PodDisruptionBudget
from checks.patch_readiness import ImageRef, _blocking, _takes_all_down, parse_image, selects

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("reference", "expected"), [
    ("nginx", ImageRef(None, "nginx", None, None)),
    ("nginx:1.27.3", ImageRef(None, "nginx", "1.27.3", None)),
    ("library/nginx:latest", ImageRef(None, "library/nginx", "latest", None)),
    ("registry:5000/ns/img:tag@" + DIGEST, ImageRef("registry:5000", "ns/img", "tag", DIGEST)),
    ("img@" + DIGEST, ImageRef(None, "img", None, DIGEST)),
    ("localhost:5000/img", ImageRef("localhost:5000", "img", None, None)),
    ("localhost/img:2", ImageRef("localhost", "img", "2", None)),
    ("ghcr.io/org/team/app:v1.2", ImageRef("ghcr.io", "org/team/app", "v1.2", None)),
    ("registry.example.com:5000/shop/web", ImageRef("registry.example.com:5000", "shop/web", None, None)),
])
def test_parse_image(reference: str, expected: ImageRef) -> None:
    assert parse_image(reference) == expected


@pytest.mark.parametrize(("reference", "mutable", "pinned", "policy"), [
    ("nginx", True, False, "Always"),
    ("nginx:latest", True, False, "Always"),
    ("nginx:stable", True, False, "IfNotPresent"),
    ("nginx:1.27.3", False, False, "IfNotPresent"),
    ("localhost:5000/img", True, False, "Always"),
    ("nginx:latest@" + DIGEST, False, True, "IfNotPresent"),
    ("img@" + DIGEST, False, True, "IfNotPresent"),
])
def test_mutable_pinned_and_default_pull_policy(reference: str, mutable: bool, pinned: bool, policy: str) -> None:
    image = parse_image(reference)
    assert (image.mutable, image.pinned, image.default_pull_policy) == (mutable, pinned, policy)


@pytest.mark.parametrize(("value", "replicas", "all_down"), [
    ("100%", 3, True), ("150%", 2, True), ("99%", 1, False), ("50%", 1, False), ("25%", 4, False),
    (3, 3, True), (5, 3, True), (2, 3, False), (1, 1, True), (0, 0, False), ("100%", None, True),
    (4, None, False), (None, 3, False), ("junk", 3, False),
])
def test_takes_all_down(value: int | str | None, replicas: int | None, all_down: bool) -> None:
    assert _takes_all_down(value, replicas) is all_down


def test_a_missing_selector_selects_nothing_and_an_empty_one_everything() -> None:
    assert not selects(None, {"app": "web"})
    assert selects(LabelSelector(), {"app": "web"})


def test_match_expressions_select() -> None:
    selector = LabelSelector(match_expressions=(
        LabelSelectorRequirement(key="app", operator="In", values=("web", "api")),
        LabelSelectorRequirement(key="canary", operator="DoesNotExist"),
    ))
    assert selects(selector, {"app": "api"})
    assert not selects(selector, {"app": "api", "canary": "true"})
    assert not selects(selector, {"app": "worker"})


def _budget(**spec: int | str) -> PodDisruptionBudget:
    import msgspec

    return msgspec.convert({"metadata": {"name": "b"}, "spec": spec}, type=PodDisruptionBudget)


@pytest.mark.parametrize(("spec", "expected", "blocking"), [
    ({"maxUnavailable": 0}, 3, ("maxUnavailable", 0)),
    ({"maxUnavailable": "0%"}, 3, ("maxUnavailable", "0%")),
    ({"maxUnavailable": 1}, 3, None),
    ({"maxUnavailable": "10%"}, 5, None),  # rounds up to 1
    ({"minAvailable": 3}, 3, ("minAvailable", 3)),
    ({"minAvailable": 4}, 3, ("minAvailable", 4)),
    ({"minAvailable": 2}, 3, None),
    ({"minAvailable": "100%"}, 3, ("minAvailable", "100%")),
    ({"minAvailable": "50%"}, 1, ("minAvailable", "50%")),  # rounds up to the only pod
    ({"minAvailable": "50%"}, 4, None),
    ({}, 3, None),
])
def test_blocking(spec: dict, expected: int, blocking: tuple | None) -> None:
    assert _blocking(_budget(**spec), expected) == blocking
