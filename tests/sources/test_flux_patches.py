"""A Flux Kustomization's variables as the cluster holds it: the parent that builds its file
patches `postBuild` into it (selected by a label selector, the home-ops pattern), and a
SOPS-encrypted Secret among its sources hides values but not names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.sources import load_desired
from planner.sources.flux_patches import merge, selects
from tests.sources.conftest import write

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: dns
  namespace: dns
spec:
  type: LoadBalancer
  loadBalancerIP: ${SVC_DNS_ADDR}
  ports:
    - port: 53
      protocol: UDP
"""

PATCH = """\
    - patch: |-
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: not-used
        spec:
          postBuild:
            substituteFrom:
              - kind: ConfigMap
                name: cluster-settings
              - kind: Secret
                name: cluster-secrets
      target:
        group: kustomize.toolkit.fluxcd.io
        kind: Kustomization
        labelSelector: substitution.flux.home.arpa/disabled notin (true)
"""

JSON_PATCH = """\
    - patch: |-
        - op: add
          path: /spec/postBuild
          value: {substituteFrom: [{kind: ConfigMap, name: other}]}
      target:
        kind: Kustomization
"""

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-settings
  namespace: flux-system
data:
  SVC_DNS_ADDR: 192.168.1.53
"""


def parent(patches: str) -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata:\n  name: cluster-apps\n  namespace: flux-system\n"
        "spec:\n  path: ./apps\n  sourceRef: {kind: GitRepository, name: flux-system}\n"
        f"  patches:\n{patches}"
    )


def child(labels: str = "") -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata:\n  name: dns\n  namespace: flux-system\n{labels}"
        "spec:\n  path: ./apps/dns/app\n  sourceRef: {kind: GitRepository, name: flux-system}\n"
    )


def secrets(keys: str) -> str:
    """A SOPS-encrypted Secret as the repository holds it: keys in the clear, values not."""
    return (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n"
        f"  namespace: flux-system\nstringData:\n{keys}"
        "sops:\n  age: []\n  lastmodified: '2024-01-01T00:00:00Z'\n  mac: ENC[AES256_GCM,data:x]\n"
    )


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    write(git_repo / "clusters/home/settings.yaml", SETTINGS)
    write(git_repo / "clusters/home/secrets.sops.yaml", secrets("  SECRET_DOMAIN: ENC[x]\n"))
    write(git_repo / "apps/dns/app/service.yaml", SERVICE)
    return git_repo


def address() -> object:
    """The dns Service's IP, or why it was set aside (a value it reads is unknown)."""
    state = load_desired(["apps/dns/ks.yaml"])
    if "dns/dns" in state.services:
        return state.services["dns/dns"]["spec"]["loadBalancerIP"]
    return " ".join(entry.reason for entry in state.unrendered if entry.kind == "Service")


def test_the_parents_patch_gives_the_child_its_variables(repo: Path) -> None:
    write(repo / "clusters/home/apps.yaml", parent(PATCH))
    write(repo / "apps/dns/ks.yaml", child())
    # before: no postBuild of its own, so `${SVC_DNS_ADDR}` stayed as written
    assert address() == "192.168.1.53"


def test_a_child_the_selector_leaves_out_is_not_substituted(repo: Path) -> None:
    write(repo / "clusters/home/apps.yaml", parent(PATCH))
    labels = "  labels:\n    substitution.flux.home.arpa/disabled: 'true'\n"
    write(repo / "apps/dns/ks.yaml", child(labels))
    # Flux would apply the text as written, which the API server refuses
    with pytest.raises(InputError, match=r"'\$\{SVC_DNS_ADDR\}' is not a valid IP address"):
        address()


def test_an_encrypted_secret_hides_only_the_variables_it_names(repo: Path) -> None:
    write(repo / "clusters/home/apps.yaml", parent(PATCH))
    write(repo / "apps/dns/ks.yaml", child())
    assert address() == "192.168.1.53"  # the Secret comes later but does not name it
    keys = "  SECRET_DOMAIN: ENC[x]\n  SVC_DNS_ADDR: ENC[y]\n"
    write(repo / "clusters/home/secrets.sops.yaml", secrets(keys))
    assert re.search(r"`\$\{SVC_DNS_ADDR\}` in `spec` cannot be resolved", str(address()))


def test_a_json_patch_on_the_child_leaves_its_variables_unknown(repo: Path) -> None:
    write(repo / "clusters/home/apps.yaml", parent(JSON_PATCH))
    write(repo / "apps/dns/ks.yaml", child())
    assert re.search(r"`\$\{SVC_DNS_ADDR\}` in `spec` cannot be resolved", str(address()))


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("", True),
        ("a", True),
        ("!a", False),
        ("a=1", True),
        ("a==2", False),
        ("a!=2", True),
        ("a in (1, 2),b notin (x)", True),
        ("a notin (1)", False),
        ("b in (x)", False),
        ("a in (1", False),  # does not parse: selects nothing
    ],
)
def test_label_selectors(selector: str, selected: bool) -> None:
    assert selects(selector, {"a": "1"}) is selected


def test_the_patch_keeps_the_childs_name_and_adds_its_labels(repo: Path) -> None:
    from planner.sources.flux_patches import as_applied
    from planner.sources.flux_repository import FluxIndex, Repository

    write(
        repo / "clusters/home/apps.yaml",
        parent(PATCH.replace("name: not-used", "name: x\n          labels: {a: b}")),
    )
    write(repo / "apps/dns/ks.yaml", child())
    index = FluxIndex.scan(Repository(repo))
    [ks] = [d for d in index.documents if d.body["metadata"]["name"] == "dns"]
    metadata = as_applied(ks, index).document.body["metadata"]
    assert metadata == {"name": "dns", "namespace": "flux-system", "labels": {"a": "b"}}


def test_merge_patches_mappings_and_replaces_lists() -> None:
    base = {"spec": {"path": "./a", "postBuild": {"substituteFrom": [1]}, "gone": 1}}
    patch = {"spec": {"postBuild": {"substituteFrom": [2]}, "gone": None}}
    assert merge(base, patch) == {"spec": {"path": "./a", "postBuild": {"substituteFrom": [2]}}}


def test_a_patch_with_aliases_is_not_evaluated(repo: Path) -> None:
    """An alias bomb in a repository's patch costs nothing: the child's variables are unknown."""
    bomb = JSON_PATCH.replace("- op: add", "- &a op: add").replace("path: /spec", "path: *a")
    write(repo / "clusters/home/apps.yaml", parent(bomb.replace("- op", "- op")))
    write(repo / "apps/dns/ks.yaml", child())
    assert re.search(r"`\$\{SVC_DNS_ADDR\}` in `spec` cannot be resolved", str(address()))
