"""YAML read as Kubernetes reads it (sigs.k8s.io/yaml, on go-yaml v2): PyYAML's safe loader, but
these plain scalars stay strings, as go-yaml's resolver (resolve.go) leaves them: a timestamp, an
integer-looking literal with no digit (`0x_`), a base-60 number (`1:30`, `1:30.5`: "purposefully
unsupported"), and `=` and `<<` as values (YAML 1.1's value and merge types: kustomize writes
`matchType: =` unquoted).

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
FLOAT_TAG = "tag:yaml.org,2002:float"
# Types PyYAML resolves plain scalars to that go-yaml knows no scalar of: its reading is the text.
STRING_TAGS = (TIMESTAMP_TAG, "tag:yaml.org,2002:value", "tag:yaml.org,2002:merge")


class KubeLoader(_SafeLoader):
    """The safe loader with Kubernetes' readings of the scalars above."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int | str:  # type: ignore[override]
        """An integer, or the scalar itself when it is base 60 or its digits are all underscores."""
        if ":" in node.value:
            return self.construct_yaml_str(node)
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError:
            # YAML 1.1's int pattern admits `0b_` and `0x__`; PyYAML then fails in int(),
            # while go-yaml finds no number there and keeps the plain scalar as a string.
            return self.construct_yaml_str(node)
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float | str:  # type: ignore[override]
        """A float, or the scalar itself when it is base 60."""
        if ":" in node.value:
            return self.construct_yaml_str(node)
        value: float = super().construct_yaml_float(node)
        return value

    @classmethod
    def read_as_strings(cls, tags: tuple[str, ...]) -> None:
        """Have `tags` constructed by the class's own construct_yaml_str."""
        for tag in tags:
            # The stubs type add_constructor's loader after the pure-Python classes.
            cls.add_constructor(tag, cls.construct_yaml_str)  # type: ignore[type-var,unused-ignore]


KubeLoader.read_as_strings(STRING_TAGS)
KubeLoader.add_constructor(INT_TAG, KubeLoader.construct_yaml_int)  # type: ignore[type-var,unused-ignore]
KubeLoader.add_constructor(FLOAT_TAG, KubeLoader.construct_yaml_float)  # type: ignore[type-var,unused-ignore]


def load(text: str) -> Any:
    """The one document of `text`, as Kubernetes reads it; raises yaml.YAMLError."""
    return yaml.load(text, Loader=KubeLoader)


def load_all(text: str) -> list[Any]:
    """Every document of `text`, as Kubernetes reads them; raises yaml.YAMLError."""
    return list(yaml.load_all(text, Loader=KubeLoader))
