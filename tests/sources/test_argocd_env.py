"""The build environment's expansion: Go's os.Expand over the ARGOCD_APP_* variables, as Argo
CD's `Env.Envsubst` expands helm value files and parameters and kustomize images and labels."""

from __future__ import annotations

import pytest

from planner.sources.argocd_env import NotEvaluated, expand


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$A/b", "x/b"),
        ("${A}b", "xb"),
        ("$$A", "$A"),  # `$$` is a dollar
        ("${}z", "z"),  # bad syntax, eaten
        ("${A", "A"),  # an unclosed brace: `${` eaten
        ("$1A", "A"),  # a digit is a one-character name
        ("a$", "a$"),
        ("$/x", "$/x"),  # no name: the dollar stays
        ("$UNKNOWN.yaml", ".yaml"),  # an unknown name is empty
        ("$A-é", "x-é"),
    ],
)
def test_expansion_is_go_os_expand(text: str, expanded: str) -> None:
    assert expand(text, {"A": "x"}) == expanded


def test_a_revision_variable_cannot_be_expanded() -> None:
    with pytest.raises(NotEvaluated, match=r"\$ARGOCD_APP_REVISION"):
        expand("v-${ARGOCD_APP_REVISION}", {})
