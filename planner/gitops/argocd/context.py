"""What Argo CD hands `planner argocd generate`: its variables, and the plugin parameters checked.

>>> options_of(read_context({"PARAM_TARGET_BEHAVIOR": "fixed"})).target_behavior
'fixed'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from planner.errors import InputError
from planner.model import controller
from planner.model.controller import DEFAULT_TARGET
from planner.objects import check_lb_class
from planner.sources.documents import MAX_NESTING, json_nesting

RENDER_MODES = ("auto", "plain", "kustomize", "helm")
# The default first: `_choice` takes the first as the default, and the parameter's docs and its
# error message list the choices in this order.
BEHAVIORS = (DEFAULT_TARGET, *(b for b in controller.BEHAVIORS if b != DEFAULT_TARGET))
KUBECONFIG_ENV = "SHARED_IP_PLANNER_KUBECONFIG"  # an Application env (ARGOCD_ENV_ + this)
DEFAULT_KUBECONFIG = "/home/argocd/cmp-server/live-state/kubeconfig"
IMAGE_ENV = "SHARED_IP_PLANNER_IMAGE"  # the sidecar's env, or an Application env
DEFAULT_IMAGE = "registry.example.com/shared-ip-planner/argocd-cmp:0.1.0"
PARAMETERS_ENV = "ARGOCD_APP_PARAMETERS"
ARRAY_PARAMETERS = ("helm-values-files", "pools")
STRING_PARAMETERS = (
    "render-mode",
    "helm-release-name",
    "target-behavior",
    "live-state",
    "lb-class",
)


@dataclass(frozen=True)
class ArgoContext:
    """The variables Argo CD sets for `generate`, and the Application's parameters and env."""

    app_name: str
    app_namespace: str
    source_path: str  # relative to the repository root ("" or "." for the root)
    kube_version: str
    kube_api_versions: tuple[str, ...]
    parameters: tuple[tuple[str, str | tuple[str, ...]], ...]  # name -> string or array
    app_env: tuple[tuple[str, str], ...]  # ARGOCD_ENV_<NAME> without the prefix
    sidecar_image: str  # SHARED_IP_PLANNER_IMAGE of the sidecar ("" when unset)

    def parameter(self, name: str) -> str | tuple[str, ...] | None:
        """The parameter's string or array, None when the Application does not set it."""
        return dict(self.parameters).get(name)

    def env(self, name: str) -> str | None:
        """The Application env variable `name` (given to us as ARGOCD_ENV_<name>)."""
        return dict(self.app_env).get(name)

    @property
    def label(self) -> str:
        """The source path as messages and rendered origins show it ("." for the root)."""
        path = self.source_path.strip("/")
        return path if path not in ("", ".") else "."


@dataclass(frozen=True)
class GenerateOptions:
    """The plugin parameters, checked, with their defaults applied."""

    render_mode: str = "auto"
    helm_values_files: tuple[str, ...] = ()
    pool_paths: tuple[str, ...] = ()  # `pools`: where MetalLB's pools are kept (diff's --pools)
    helm_release_name: str = ""
    target_behavior: str = DEFAULT_TARGET
    live_state: bool = False
    kubeconfig: str = DEFAULT_KUBECONFIG
    image: str = DEFAULT_IMAGE
    lb_class: str = ""  # MetalLB's --lb-class ("" when it runs without one)


def read_context(environ: Mapping[str, str]) -> ArgoContext:
    """The Argo CD context from an environment (parameters from the JSON, else PARAM_ variables)."""
    app_env = sorted(
        (name.removeprefix("ARGOCD_ENV_"), value)
        for name, value in environ.items()
        if name.startswith("ARGOCD_ENV_")
    )
    return ArgoContext(
        app_name=environ.get("ARGOCD_APP_NAME", ""),
        app_namespace=environ.get("ARGOCD_APP_NAMESPACE", ""),
        source_path=environ.get("ARGOCD_APP_SOURCE_PATH", ""),
        kube_version=environ.get("KUBE_VERSION", ""),
        kube_api_versions=tuple(v for v in environ.get("KUBE_API_VERSIONS", "").split(",") if v),
        parameters=tuple(sorted(_parameters(environ).items())),
        app_env=tuple(app_env),
        sidecar_image=environ.get(IMAGE_ENV, ""),
    )


def _parameters(environ: Mapping[str, str]) -> dict[str, str | tuple[str, ...]]:
    """Parameters from ARGOCD_APP_PARAMETERS, or rebuilt from PARAM_<NAME>[_<i>] variables."""
    raw = environ.get(PARAMETERS_ENV, "")
    if raw.strip():
        return _parameters_of_json(raw)
    found: dict[str, str | tuple[str, ...]] = {}
    for name in STRING_PARAMETERS:
        value = environ.get(_param_variable(name))
        if value is not None:
            found[name] = value
    for name in ARRAY_PARAMETERS:
        array = _param_array(environ, _param_variable(name))
        if array:
            found[name] = array
    return found


def _param_variable(name: str) -> str:
    """PARAM_<NAME> as Argo CD spells it: upper case, anything else than A-Z0-9 becomes `_`."""
    return "PARAM_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _param_array(environ: Mapping[str, str], prefix: str) -> tuple[str, ...]:
    values: list[str] = []
    while f"{prefix}_{len(values)}" in environ:
        values.append(environ[f"{prefix}_{len(values)}"])
    return tuple(values)


def _parameters_of_json(raw: str) -> dict[str, str | tuple[str, ...]]:
    """Argo CD's list of {name, string | array | map} entries (maps are not used, so ignored)."""
    too_deep = InputError(
        f"{PARAMETERS_ENV} is nested too deeply; Argo CD sends a list of "
        "{name, string | array} entries"
    )
    # Our own limit first: how deep the C decoder may go depends on the Python version.
    if json_nesting(raw) > MAX_NESTING:
        raise too_deep
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"{PARAMETERS_ENV} is not valid JSON: {err.msg}") from err
    except RecursionError as err:  # the C decoder counts its nesting against the stack limit
        raise too_deep from err
    if not isinstance(entries, list):
        raise InputError(f"{PARAMETERS_ENV} must be a JSON list of parameters")
    found: dict[str, str | tuple[str, ...]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(f"{PARAMETERS_ENV} holds an entry without a string `name`")
        name = entry["name"]
        if isinstance(entry.get("array"), list):
            found[name] = tuple(_scalar(name, item) for item in entry["array"])
        elif "string" in entry:
            found[name] = _scalar(name, entry["string"])
    return found


def _scalar(name: str, value: object) -> str:
    """A parameter value as text; lists and objects are refused (nothing turns them into a
    meaningful string, and they could nest arbitrarily deep)."""
    if isinstance(value, list | dict):
        raise InputError(
            f"parameter `{name}` in {PARAMETERS_ENV} holds a JSON {type(value).__name__} "
            "where a string belongs"
        )
    return str(value)


def options_of(context: ArgoContext, lb_class: str = "") -> GenerateOptions:
    """The checked options; InputError naming the parameter for a value it does not know.
    `lb_class`: the command's --lb-class, which the Application's `lb-class` parameter overrides."""
    return GenerateOptions(
        render_mode=_choice(context, "render-mode", RENDER_MODES),
        helm_values_files=_array(context, "helm-values-files"),
        pool_paths=_array(context, "pools"),
        helm_release_name=_string(context, "helm-release-name"),
        target_behavior=_choice(context, "target-behavior", BEHAVIORS),
        live_state=_choice(context, "live-state", ("false", "true")) == "true",
        kubeconfig=context.env(KUBECONFIG_ENV) or DEFAULT_KUBECONFIG,
        image=context.env(IMAGE_ENV) or context.sidecar_image or DEFAULT_IMAGE,
        lb_class=_lb_class(context, lb_class),
    )


def _lb_class(context: ArgoContext, flag: str) -> str:
    """The `lb-class` parameter when the Application sets it (even to "": no class), else the
    sidecar's --lb-class: one sidecar may serve clusters whose MetalLBs differ."""
    if context.parameter("lb-class") is None:
        return flag
    return check_lb_class(_string(context, "lb-class"), "parameter `lb-class`")


def _string(context: ArgoContext, name: str) -> str:
    value = context.parameter(name)
    if isinstance(value, tuple):
        raise InputError(f"parameter `{name}` must be a string, not an array")
    return (value or "").strip()


def _array(context: ArgoContext, name: str) -> tuple[str, ...]:
    value = context.parameter(name)
    if isinstance(value, str):  # a single file given as a string
        return (value,) if value.strip() else ()
    return tuple(v for v in value or () if v.strip())


def _choice(context: ArgoContext, name: str, allowed: tuple[str, ...]) -> str:
    value = _string(context, name) or allowed[0]
    if value not in allowed:
        raise InputError(f"parameter `{name}` is {value!r}; expected one of {', '.join(allowed)}")
    return value
