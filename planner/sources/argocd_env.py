"""An Argo CD source's build environment: Go's `os.Expand` over its `ARGOCD_APP_*` variables, as
the repo server expands a helm source's value file paths and parameters and a kustomize
source's images and common labels (argo-cd `Env.Envsubst`).

    >>> expand("values-$ARGOCD_APP_NAME.yaml", {"ARGOCD_APP_NAME": "dns"})
    'values-dns.yaml'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# The build environment's revision variables: the commit Argo CD syncs, not known before.
REVISION_VARIABLES = frozenset(
    {"ARGOCD_APP_REVISION", "ARGOCD_APP_REVISION_SHORT", "ARGOCD_APP_REVISION_SHORT_8"}
)
# Go's os.Expand: `${name}` (an unclosed `${` is dropped), a one-character special name, or a run
# of ASCII letters, digits and `_`.
_SHELL_NAME = re.compile(
    r"\$(?:\{(?P<braced>[^}]*)\}|(?P<bad>\{)|(?P<special>[*#$@!?\-0-9])|(?P<plain>[A-Za-z0-9_]+))"
)


class NotEvaluated(Exception):
    """A setting that cannot be evaluated here; the message says which and why."""


def expand(text: str, environment: Mapping[str, str]) -> str:
    """`text` with `$NAME` and `${NAME}` expanded as Go's os.Expand does (`$$` is `$`, an unknown
    name is empty, `${}` is dropped); NotEvaluated for a revision variable."""

    def value(match: re.Match[str]) -> str:
        name = match["braced"] or match["special"] or match["plain"] or ""
        if name == "$":
            return "$"
        if name in REVISION_VARIABLES:
            raise NotEvaluated(f"`{text}` names ${name}, the revision Argo CD syncs")
        return environment.get(name, "")

    return _SHELL_NAME.sub(value, text)
