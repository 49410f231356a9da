"""`planner argocd generate`: the Argo CD Config Management Plugin's manifest generator.

Argo CD runs it in the Application's source directory of a fresh copy of the repository, with
its `ARGOCD_*` variables (docs/argocd.md, plugins/argocd/README.md). It renders the directory,
stamps the group-wide annotations, gives Services `argocd.argoproj.io/sync-wave` values in plan
order, adds the metallb-0.14 nudge hook, and returns one YAML stream; the same input gives the
same bytes.

    >>> context = read_context(os.environ)  # doctest: +SKIP
    >>> stream = generate(Path.cwd(), context)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planner.diff.scenario import build_scenario
from planner.errors import InputError, PlannerError
from planner.model.group_annotations import desired_sharing_groups, stamp_group_annotations
from planner.model.pools import Pool, pools_from_objects
from planner.model.service import AllocationInputs, allocation_inputs
from planner.objects import KubeObject, Manifest, ObjectKey, svc_key_of
from planner.plan.build import build_plan
from planner.plan.graph import order_units
from planner.plan.units import APPLY, AutoCandidates, UnitInputs, Write, draft_units
from planner.sources.desired import MANIFEST_SUFFIXES, DesiredState, Source, load_sources
from planner.sources.helm import HelmOptions, is_chart_dir
from planner.sources.kinds import is_pool_manifest
from planner.sources.kustomize import KUSTOMIZATION_FILES, is_kustomization_dir
from planner.sources.live import LiveState, load_live_kubectl

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"

RENDER_MODES = ("auto", "plain", "kustomize", "helm")
BEHAVIORS = ("metallb-0.15", "metallb-0.14", "fixed")
KUBECONFIG_ENV = "SHARED_IP_PLANNER_KUBECONFIG"  # an Application env (ARGOCD_ENV_ + this)
DEFAULT_KUBECONFIG = "/home/argocd/cmp-server/live-state/kubeconfig"
IMAGE_ENV = "SHARED_IP_PLANNER_IMAGE"  # the sidecar's env, or an Application env
DEFAULT_IMAGE = "registry.example.com/shared-ip-planner/argocd-cmp:0.1.0"
NUDGE_TIMEOUT_SECONDS = 600
NUDGE_DEADLINE_MARGIN = 60  # activeDeadlineSeconds = timeout + this

# Where the nudge hook templates are: the source checkout, then where the sidecar image puts them.
TEMPLATE_DIRS = (
    Path(__file__).resolve().parents[2] / "plugins" / "argocd" / "nudge-hook",
    Path("/usr/local/share/shared-ip-planner/argocd/nudge-hook"),
)

# How kustomize spells remote bases without a scheme (github.com/org/repo//path?ref=v1, git@...).
REMOTE_PREFIXES = ("github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::", "ssh:")

try:  # libyaml's loader and emitter are several times faster and give the same results
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - only without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
_WAVE = re.compile(r"^\s*[-+]?[0-9]+\s*$")


# --- what Argo CD hands over -----------------------------------------------------------------


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
        return dict(self.parameters).get(name)

    def env(self, name: str) -> str | None:
        return dict(self.app_env).get(name)


@dataclass(frozen=True)
class GenerateOptions:
    """The plugin parameters, checked, with their defaults applied."""

    render_mode: str = "auto"
    helm_values_files: tuple[str, ...] = ()
    helm_release_name: str = ""
    target_behavior: str = "metallb-0.15"
    live_state: bool = False
    kubeconfig: str = DEFAULT_KUBECONFIG
    image: str = DEFAULT_IMAGE


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
    raw = environ.get("ARGOCD_APP_PARAMETERS", "")
    if raw.strip():
        return _parameters_of_json(raw)
    found: dict[str, str | tuple[str, ...]] = {}
    for name in ("render-mode", "helm-release-name", "target-behavior", "live-state"):
        value = environ.get(_param_variable(name))
        if value is not None:
            found[name] = value
    array = _param_array(environ, _param_variable("helm-values-files"))
    if array:
        found["helm-values-files"] = array
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
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"ARGOCD_APP_PARAMETERS is not valid JSON: {err.msg}") from err
    if not isinstance(entries, list):
        raise InputError("ARGOCD_APP_PARAMETERS must be a JSON list of parameters")
    found: dict[str, str | tuple[str, ...]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError("ARGOCD_APP_PARAMETERS holds an entry without a string `name`")
        if isinstance(entry.get("array"), list):
            found[entry["name"]] = tuple(str(item) for item in entry["array"])
        elif "string" in entry:
            found[entry["name"]] = str(entry["string"])
    return found


def options_of(context: ArgoContext) -> GenerateOptions:
    """The checked options; InputError naming the parameter for a value it does not know."""
    return GenerateOptions(
        render_mode=_choice(context, "render-mode", RENDER_MODES),
        helm_values_files=_array(context, "helm-values-files"),
        helm_release_name=_string(context, "helm-release-name"),
        target_behavior=_choice(context, "target-behavior", BEHAVIORS),
        live_state=_choice(context, "live-state", ("false", "true")) == "true",
        kubeconfig=context.env(KUBECONFIG_ENV) or DEFAULT_KUBECONFIG,
        image=context.env(IMAGE_ENV) or context.sidecar_image or DEFAULT_IMAGE,
    )


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


# --- reading the source directory, and nothing outside the repository copy --------------------


def repository_root(source_dir: Path, source_path: str) -> Path:
    """The copy's root: `source_dir` without the trailing ARGOCD_APP_SOURCE_PATH components.

    When the path does not end the directory (or is unset), the source directory is the root.
    """
    parts = [p for p in Path(source_path).parts if p not in (".", "")]
    resolved = source_dir.resolve()
    if parts and len(resolved.parts) > len(parts) and list(resolved.parts[-len(parts) :]) == parts:
        return Path(*resolved.parts[: -len(parts)])
    return resolved


def check_symlinks(root: Path) -> None:
    """InputError naming the first symlink (by sorted path) under `root` that points outside it."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            path = Path(directory, name)
            if path.is_symlink():
                _check_symlink(path, root)


def _check_symlink(path: Path, root: Path) -> None:
    shown = path.relative_to(root).as_posix()
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: a loop of symlinks
        raise InputError(f"`{shown}` is a symlink that cannot be resolved ({err})") from err
    if not _inside(target, root):
        raise InputError(
            f"`{shown}` is a symlink that points outside the repository "
            f"(to {os.readlink(path)}); refusing to read it"
        )


def check_kustomize_references(app_dir: Path, root: Path) -> None:
    """InputError for a kustomization (the app's, or one it includes) that names a remote
    resource (rendering must not use the network) or a path outside the repository copy.

    Files a kustomization loads itself (patches, generators) are kept inside its own directory
    by kustomize's default load restrictor; only `resources`, `bases` and `components` may
    reach further, so those are followed."""
    pending, seen = [app_dir.resolve()], set()
    while pending:
        directory = pending.pop()
        if directory in seen or not is_kustomization_dir(directory):
            continue
        seen.add(directory)
        for entry, shown in _kustomize_entries(directory, root):
            if _is_remote(entry):
                raise InputError(
                    f"{shown} names the remote resource `{entry}`; the plugin renders without "
                    "network access, so vendor it into the repository"
                )
            target = (directory / entry).resolve()
            if not _inside(target, root):
                raise InputError(f"{shown} names `{entry}`, which lies outside the repository")
            pending.append(target)


def _kustomize_entries(directory: Path, root: Path) -> list[tuple[str, str]]:
    """(entry, "where it is written") of a kustomization's resources, bases and components."""
    name = next(n for n in KUSTOMIZATION_FILES if (directory / n).is_file())
    shown = (directory / name).relative_to(root).as_posix()
    body = _kustomization_body(directory / name, shown)
    entries = []
    for field_name in ("resources", "bases", "components"):
        for entry in body.get(field_name) or []:
            if isinstance(entry, str):
                entries.append((entry, f"{shown} (`{field_name}`)"))
    return entries


def _kustomization_body(path: Path, shown: str) -> Manifest:
    """A kustomization file as a mapping (it need not carry apiVersion and kind)."""
    try:
        body = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise InputError(f"{shown} cannot be read as YAML: {type(err).__name__}") from err
    return body if isinstance(body, dict) else {}


def _is_remote(entry: str) -> bool:
    return "://" in entry or "?ref=" in entry or entry.startswith(REMOTE_PREFIXES)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def render(source_dir: Path, context: ArgoContext, options: GenerateOptions) -> list[KubeObject]:
    """Every object the source directory declares, rendered as `render-mode` says."""
    mode = resolved_mode(source_dir, options.render_mode)
    label = _label(context)
    if mode == "kustomize":
        check_kustomize_references(source_dir, repository_root(source_dir, context.source_path))
        sources = [Source(source_dir, label, "kustomize")]
    elif mode == "helm":
        sources = [Source(source_dir, label, "helm")]
    else:
        sources = plain_sources(source_dir)
    helm = helm_options(source_dir, context, options)
    return load_sources(sources, helm=helm).objects


def resolved_mode(source_dir: Path, mode: str) -> str:
    """`auto` made concrete: kustomization → kustomize, Chart.yaml → helm, else plain."""
    if mode != "auto":
        return mode
    if is_kustomization_dir(source_dir):
        return "kustomize"
    if is_chart_dir(source_dir):
        return "helm"
    return "plain"


def plain_sources(source_dir: Path) -> list[Source]:
    """Every *.yaml, *.yml and *.json below the directory, sorted by path; hidden entries skipped
    (so the marker file `.shared-ip-planner.yaml` is never read as a manifest)."""
    found: list[Source] = []
    for directory, dirnames, filenames in os.walk(source_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in MANIFEST_SUFFIXES:
                path = Path(directory, name)
                found.append(Source(path, path.relative_to(source_dir).as_posix(), "file"))
    return sorted(found, key=lambda source: source.label)


def _label(context: ArgoContext) -> str:
    path = context.source_path.strip("/")
    return path if path not in ("", ".") else "."


def helm_options(source_dir: Path, context: ArgoContext, options: GenerateOptions) -> HelmOptions:
    """How `helm template` runs for the app; InputError for a values file outside the repository."""
    root = repository_root(source_dir, context.source_path)
    for values_file in options.helm_values_files:
        if not _inside((source_dir / values_file).resolve(), root):
            raise InputError(
                f"helm values file `{values_file}` lies outside the repository; refusing to read it"
            )
    return HelmOptions(
        release=options.helm_release_name or context.app_name or None,
        namespace=context.app_namespace or None,
        values=options.helm_values_files,
        kube_version=context.kube_version or None,
        api_versions=context.kube_api_versions,
    )


# --- sync waves ------------------------------------------------------------------------------


def user_wave(obj: KubeObject) -> int:
    """The object's own `argocd.argoproj.io/sync-wave` (0 when unset); InputError when not an int."""
    value = _annotations(obj.body).get(SYNC_WAVE)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WAVE.match(value):
        return int(value)
    raise InputError(
        f"the {SYNC_WAVE} annotation of {obj.key} must be an integer, not {value!r}", obj.origin
    )


def is_sync_phase(obj: KubeObject) -> bool:
    """Whether the object is applied in the Sync phase (no hook, or a Sync hook)."""
    hook = _annotations(obj.body).get(HOOK)
    return hook is None or str(hook).strip() == "Sync"


def plan_levels(desired: Mapping[str, Manifest], pools: list[Pool]) -> dict[str, int]:
    """svc_key → its 0-based plan wave from the desired Services (stamped) alone: every Service
    is planned as a creation, so the only order visible is requested IPs before auto-assignment
    (releases need the live state)."""
    data = UnitInputs(
        live={},
        desired=desired,
        writes={svc: Write(svc, APPLY, manifest) for svc, manifest in desired.items()},
        pool_of=_pool_of(pools),
        auto_candidates=_auto_candidates(desired, pools),
    )
    ordered = order_units(draft_units(data))
    return {
        svc: i for i, wave in enumerate(ordered.waves) for unit in wave for svc in unit.services
    }


@dataclass(frozen=True)
class LivePlan:
    """What the plan against live state says: each written Service's 0-based wave (the first
    wave that writes it) and the Services stock v0.14 may leave pending until nudged."""

    levels: dict[str, int]
    stuck_014: frozenset[str]


def live_plan(placed: list[KubeObject], live: LiveState, behavior: str) -> LivePlan:
    """The full plan (planner.plan.build) of the rendered objects (Services in the namespaces
    Argo CD applies them to) against the live state."""
    desired = DesiredState(placed)
    plan = build_plan(build_scenario(desired, live), target=behavior)
    levels: dict[str, int] = {}
    stuck: set[str] = set()
    for wave in plan.waves:
        for write in wave.writes:
            levels.setdefault(write.service, wave.index - 1)
        stuck |= set(wave.nudges.get("metallb-0.14", ()))
    return LivePlan(levels, frozenset(stuck))


def _namespaced(obj: KubeObject, namespace: str) -> KubeObject:
    """A Service without a namespace as Argo CD applies it: in the destination namespace."""
    if not obj.is_service or (obj.body.get("metadata") or {}).get("namespace") or not namespace:
        return obj
    key = ObjectKey(obj.key.kind, namespace, obj.key.name)
    return KubeObject(key, _with_namespace(obj.body, namespace), obj.origin, obj.rendered_by)


def _pool_of(pools: list[Pool]) -> Callable[[str], str]:
    def pool_of(ip: str) -> str:
        address = ipaddress.ip_address(ip)
        return next((pool.name for pool in pools if pool.contains(address)), "")

    return pool_of


def _auto_candidates(desired: Mapping[str, Manifest], pools: list[Pool]) -> AutoCandidates:
    """IPs an auto-assigned Service could take: IPs others request in the pools it may use, and
    the first free address of each. Without pools in the app, any IP another Service requests."""
    requested = _requested_ips(desired)

    def candidates(
        manifest: Manifest, inputs: AllocationInputs, inside: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        taken = {ip for ip, svcs in requested.items() if svcs - inside}
        usable = [pool for pool in pools if _may_use(pool, inputs)]
        if not pools:
            return frozenset(taken), frozenset()
        ips = {ip for ip in taken if _pool_of(usable)(ip)}
        ips |= {ip for pool in usable for ip in _first_free(pool, taken)}
        return frozenset(ips), frozenset(pool.name for pool in usable)

    return candidates


def _requested_ips(desired: Mapping[str, Manifest]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for svc, manifest in desired.items():
        for ip in allocation_inputs(manifest).requested_ips:
            found.setdefault(ip, set()).add(svc)
    return found


def _may_use(pool: Pool, inputs: AllocationInputs) -> bool:
    """A superset of the pools MetalLB may pick for the Service (selectors are not evaluated)."""
    if inputs.requested_pool:
        return pool.name == inputs.requested_pool
    return pool.auto_assign


def _first_free(pool: Pool, taken: set[str]) -> list[str]:
    """The first address of the pool nobody requests or holds, as a one-element list (or [])."""
    for network in pool.networks:
        for count, address in enumerate(network):
            if count > len(taken) + 2:
                break
            if pool.owns_address(network.version, int(address)) and str(address) not in taken:
                return [str(address)]
    return []


def place_waves(objects: list[KubeObject], levels: Mapping[str, int]) -> dict[str, int]:
    """svc_key → sync wave: a Service with its own wave w and plan level p (ranked among the
    levels used at w) goes to w + rank; InputError when a wave some other object uses is in the way.
    """
    services = {o.key.svc_key: o for o in objects if o.is_service and is_sync_phase(o)}
    base = {svc: user_wave(obj) for svc, obj in services.items()}
    ranks = _ranks(base, levels)
    fixed = sorted({user_wave(o) for o in objects if is_sync_phase(o)})
    placed: dict[str, int] = {}
    for svc in sorted(services):
        rank = ranks.get(svc, 0)
        if rank:
            _check_room(base[svc], rank, fixed, services[svc], objects)
        placed[svc] = base[svc] + rank
    return placed


def _ranks(base: Mapping[str, int], levels: Mapping[str, int]) -> dict[str, int]:
    """Each Service's level ranked among the levels used by the Services of its own wave."""
    used: dict[int, set[int]] = {}
    for svc, wave in base.items():
        used.setdefault(wave, set()).add(levels.get(svc, 0))
    order = {wave: {level: i for i, level in enumerate(sorted(ls))} for wave, ls in used.items()}
    return {svc: order[wave][levels.get(svc, 0)] for svc, wave in base.items()}


def _check_room(
    wave: int, rank: int, fixed: list[int], obj: KubeObject, objects: list[KubeObject]
) -> None:
    blocking = next((w for w in fixed if wave < w <= wave + rank), None)
    if blocking is None:
        return
    holder = next(o for o in objects if is_sync_phase(o) and user_wave(o) == blocking)
    raise InputError(
        f"{obj.key} must follow other Services of sync wave {wave} (plan wave {rank + 1}), "
        f"but wave {blocking} is already used by {holder.key}; leave {rank} unused sync "
        f"wave(s) after {wave} for the planner",
        obj.origin,
    )


def check_group_waves(
    groups: Iterable[tuple[str, tuple[str, ...]]], waves: Mapping[str, int]
) -> None:
    """InputError when the members of one sharing group would land in different sync waves."""
    for group_id, members in groups:
        found = sorted({waves[m] for m in members if m in waves})
        if len(found) > 1:
            raise InputError(
                f"the members of sharing group {group_id} ({', '.join(members)}) carry different "
                f"sync waves ({', '.join(map(str, found))}); a group must move in one wave"
            )


# --- the metallb-0.14 nudge hook -------------------------------------------------------------


@dataclass(frozen=True)
class Nudge:
    """One group transition that may leave members pending under MetalLB v0.14."""

    digest: str
    members: tuple[str, ...]
    stuck: tuple[str, ...]
    wave: int


def nudges_needed(
    desired: Mapping[str, Manifest], stuck: frozenset[str] | None, waves: Mapping[str, int]
) -> list[Nudge]:
    """Group transitions that may leave a member stuck under v0.14. `stuck`: the Services the
    live plan says may stay pending; None without live state, where any group may be changing
    its key, so every member of every group may."""
    found = []
    for group in desired_sharing_groups(list(desired.values())):
        members = group.members if stuck is None else tuple(m for m in group.members if m in stuck)
        if members:
            wave = waves.get(group.members[0], 0)
            found.append(Nudge(group.digest, group.members, members, wave))
    return sorted(found, key=lambda nudge: (nudge.wave, nudge.digest))


def nudge_objects(
    nudges: list[Nudge], job_namespace: str, image: str, namespace_waves: Mapping[str, int]
) -> list[Manifest]:
    """The Sync hook Jobs and their RBAC, filled in from plugins/argocd/nudge-hook/."""
    if not nudges:
        return []
    if not _DNS_LABEL.match(job_namespace):
        raise InputError(
            "target-behavior metallb-0.14 needs the Application's destination namespace "
            f"(ARGOCD_APP_NAMESPACE) for the nudge Job; it is {job_namespace!r}"
        )
    if not _IMAGE.match(image):
        raise InputError(f"the nudge hook image {image!r} is not an image reference")
    member_namespaces = sorted({m.split("/", 1)[0] for n in nudges for m in n.members})
    # One wave before the first Job, but not before a Namespace the app creates for them.
    rbac_wave = min(n.wave for n in nudges) - 1
    needed = [job_namespace, *member_namespaces]
    rbac_wave = max([rbac_wave, *(namespace_waves.get(ns, rbac_wave) for ns in needed)])
    common = {"__JOB_NAMESPACE__": job_namespace, "__IMAGE__": image}
    jobs = [_job(nudge, common) for nudge in nudges]
    return jobs + _rbac(member_namespaces, {**common, "__RBAC_SYNC_WAVE__": str(rbac_wave)})


def _job(nudge: Nudge, common: Mapping[str, str]) -> Manifest:
    tokens = {
        **common,
        "__SYNC_WAVE__": str(nudge.wave),
        "__GROUP_DIGEST__": nudge.digest,
        "__DIGEST_SHORT__": nudge.digest[:10],
        "__MEMBERS__": " ".join(nudge.members),
        "__STUCK__": " ".join(nudge.stuck),
        "__TIMEOUT_SECONDS__": str(NUDGE_TIMEOUT_SECONDS),
        "__DEADLINE_SECONDS__": str(NUDGE_TIMEOUT_SECONDS + NUDGE_DEADLINE_MARGIN),
    }
    (job,) = _filled("job.yaml", tokens)
    return job


def _rbac(namespaces: list[str], tokens: Mapping[str, str]) -> list[Manifest]:
    """The ServiceAccount once, then a Role and RoleBinding per member namespace."""
    filled = [_filled("rbac.yaml", {**tokens, "__MEMBER_NAMESPACE__": ns}) for ns in namespaces]
    return [filled[0][0], *(doc for docs in filled for doc in docs[1:])]


def _filled(name: str, tokens: Mapping[str, str]) -> list[Manifest]:
    """A template's documents with every __TOKEN__ replaced (values are checked to be plain)."""
    text = _template(name)
    for token, value in tokens.items():
        text = text.replace(token, value)
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    left = re.search(r"__[A-Z_]+__", json.dumps(documents))  # comments may name tokens
    if left:
        raise PlannerError(f"the nudge hook template {name} has an unknown token {left.group()}")
    return documents


def _template(name: str) -> str:
    for directory in TEMPLATE_DIRS:
        if (directory / name).is_file():
            return (directory / name).read_text(encoding="utf-8")
    raise PlannerError(
        f"the nudge hook template {name} was not found (looked in "
        f"{', '.join(str(d) for d in TEMPLATE_DIRS)}); reinstall the plugin image"
    )


# --- the whole generator ---------------------------------------------------------------------


def generate(
    source_dir: Path,
    context: ArgoContext,
    live: LiveState | None = None,
    *,
    kubeconfig: str | None = None,
    kube_context: str | None = None,
) -> str:
    """The YAML stream for Argo CD: every rendered object, Services stamped and waved, plus the
    nudge hook for metallb-0.14. Reads the live state through kubectl only when `live-state` is
    "true" and no `live` is given (`kubeconfig` overrides the Application's, `kube_context` is
    kubectl's --context). Raises PlannerError on any problem; prints nothing."""
    options = options_of(context)
    check_symlinks(repository_root(source_dir, context.source_path))
    objects = render(source_dir, context, options)
    if not objects:
        raise InputError(
            f"`{_label(context)}` renders no Kubernetes objects; refusing to print an empty "
            "stream (Argo CD would prune every resource of the Application)"
        )
    if live is None and options.live_state:
        live = _read_live(kubeconfig or options.kubeconfig, kube_context)
    return dump_stream(manifests_for(objects, context, options, live))


def _read_live(kubeconfig: str, kube_context: str | None = None) -> LiveState:
    if not os.access(kubeconfig, os.R_OK):
        raise InputError(
            f'live-state is "true" but the kubeconfig `{kubeconfig}` cannot be read '
            f"(set the Application env {KUBECONFIG_ENV} or install the live-state component)"
        )
    return load_live_kubectl(kube_context, kubeconfig)


def manifests_for(
    objects: list[KubeObject],
    context: ArgoContext,
    options: GenerateOptions,
    live: LiveState | None,
) -> list[Manifest]:
    """The output documents, sorted: objects as rendered, Services stamped and waved, hooks."""
    placed = [_namespaced(obj, context.app_namespace) for obj in objects]
    desired = _stamped_services(placed)
    stuck: frozenset[str] | None = None
    if live is None:
        pools = pools_from_objects(o.body for o in objects if is_pool_manifest(o.body))
        levels = plan_levels(desired, pools)
    else:
        planned = live_plan(placed, live, options.target_behavior)
        levels, stuck = planned.levels, planned.stuck_014
    waves = place_waves(placed, levels)
    groups = desired_sharing_groups(list(desired.values()))
    check_group_waves(((g.group_id, g.members) for g in groups), waves)
    output = [_output_body(obj, where, desired, waves) for obj, where in zip(objects, placed)]
    if options.target_behavior == "metallb-0.14":
        nudges = nudges_needed(desired, stuck, waves)
        output += nudge_objects(nudges, context.app_namespace, options.image, _ns_waves(objects))
    return sorted(output, key=_sort_key)


def _stamped_services(placed: list[KubeObject]) -> dict[str, Manifest]:
    """svc_key → the Service with the group annotations (namespaces as Argo CD applies them)."""
    services = [o.body for o in placed if o.is_service and is_sync_phase(o)]
    return {svc_key_of(m): m for m in stamp_group_annotations(services)}


def _with_namespace(body: Manifest, app_namespace: str) -> Manifest:
    metadata = body.get("metadata") or {}
    if metadata.get("namespace") or not app_namespace:
        return body
    return {**body, "metadata": {**metadata, "namespace": app_namespace}}


def _ns_waves(objects: list[KubeObject]) -> dict[str, int]:
    return {o.key.name: user_wave(o) for o in objects if o.key.kind == "Namespace"}


def _output_body(
    obj: KubeObject, placed: KubeObject, desired: Mapping[str, Manifest], waves: Mapping[str, int]
) -> Manifest:
    """A Service as stamped (its wave set when it moved; still without a namespace when it was
    written without one); any other object exactly as rendered."""
    if not (obj.is_service and is_sync_phase(obj)):
        return obj.body
    svc = placed.key.svc_key
    body = copy.deepcopy(desired[svc])
    if not (obj.body.get("metadata") or {}).get("namespace"):
        body["metadata"] = {k: v for k, v in body["metadata"].items() if k != "namespace"}
    if waves[svc] != user_wave(obj):
        body["metadata"]["annotations"] = {
            **(body["metadata"].get("annotations") or {}),
            SYNC_WAVE: str(waves[svc]),
        }
    return body


def _sort_key(body: Manifest) -> tuple[str, str, str, str]:
    metadata = body.get("metadata") or {}
    return (
        str(body.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
        str(body.get("apiVersion", "")),
    )


def _annotations(body: Manifest) -> dict[str, Any]:
    annotations = (body.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


# --- output ----------------------------------------------------------------------------------


class _Dumper(_BaseDumper):
    """Safe YAML out, never anchors/aliases (objects may share parsed sub-trees)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line text (scripts, config files) as a literal block; the emitter falls back to a
    # quoted style by itself whenever a block cannot hold the exact value.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_stream(manifests: list[Manifest]) -> str:
    """One YAML stream, each document starting with `---`; keys in their rendered order."""
    return yaml.dump_all(
        manifests,
        Dumper=_Dumper,
        explicit_start=True,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )
