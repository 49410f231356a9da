"""YAML read as Kubernetes reads it (sigs.k8s.io/yaml, on go-yaml): PyYAML's safe loader, but
a timestamp stays a string, and an integer-looking literal with no digit (`0x_`) is a string.

Manifests go through sources/documents.py, which builds on this loader; the small side texts
(kustomizations, values files, patches, legacy MetalLB configs) are read with `load`.
"""

from __future__ import annotations

from typing import Any

import yaml

try:  # the C loader is several times faster; the pure-Python one gives the same results
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - only without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment,unused-ignore]

TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
INT_TAG = "tag:yaml.org,2002:int"


class KubeLoader(_SafeLoader):
    """The safe loader with Kubernetes' readings of timestamps and digitless integers."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int | str:  # type: ignore[override]
        """An integer, or the scalar itself when its digits are all underscores."""
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError:
            # YAML 1.1's int pattern admits `0b_` and `0x__`; PyYAML then fails in int(),
            # while go-yaml finds no number there and keeps the plain scalar as a string.
            return self.construct_yaml_str(node)
        return value


# The stubs type the loader of add_constructor after the pure-Python classes, not the C ones.
KubeLoader.add_constructor(TIMESTAMP_TAG, KubeLoader.construct_yaml_str)  # type: ignore[type-var,unused-ignore]
KubeLoader.add_constructor(INT_TAG, KubeLoader.construct_yaml_int)  # type: ignore[type-var,unused-ignore]


def load(text: str) -> Any:
    """The one document of `text`, as Kubernetes reads it; raises yaml.YAMLError."""
    return yaml.load(text, Loader=KubeLoader)


def load_all(text: str) -> list[Any]:
    """Every document of `text`, as Kubernetes reads them; raises yaml.YAMLError."""
    return list(yaml.load_all(text, Loader=KubeLoader))
