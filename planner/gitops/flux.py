"""The Flux pre-sync hook: land the units that need ordering before Flux applies the commit.

The Job of `plugins/flux/` runs `planner flux pre-sync`, which calls `pre_sync`: read the app
source's `.status.artifact`, fetch and check it (planner.gitops.flux_artifact), render the app's path,
plan against live state, verify the plan, and apply only the units whose order matters (group
transitions, what waits for them, and what they wait for) with the apply engine. Flux then
applies everything else; the objects the hook wrote already match Git (docs/flux.md).

    >>> options = PreSyncOptions(parse_source_ref("gitrepository/apps", "flux-system"), "./dns")
    >>> report = pre_sync(options, Kubectl())  # doctest: +SKIP
    >>> report.status, report.exit_code  # doctest: +SKIP
    ('nothing-to-do', 0)
"""

from __future__ import annotations

import posixpath
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from planner.apply.engine import ApplyReport, PollPolicy, Progress, StreamProgress, apply_plan
from planner.apply.journal import Journal, journal_from_spec
from planner.diff.scenario import build_scenario
from planner.errors import InputError, Origin, PlannerError
from planner.gitops.flux_artifact import SourceArtifact, artifact_from_source, fetch_artifact
from planner.kubectl import LIVE_RESOURCES, Kubectl
from planner.model.controller import BEHAVIORS, DEFAULT_TARGET
from planner.model.group_annotations import GROUP_ANNOTATION_KEYS
from planner.objects import Manifest, check_lb_class
from planner.pipeline import plan_scenario
from planner.plan.fingerprint import plan_digest
from planner.plan.graph import DETOUR, GROUP_TRANSITION
from planner.plan.records import Plan, PlannedUnit, PlannedWave, PlanPrediction
from planner.plan.units import DELETE
from planner.plan.verify import VerifyReport, verify_plan
from planner.sources import DesiredState
from planner.sources.desired import Source, built_sources, load_sources
from planner.sources.flux_overlay import UNAPPLIED_FIELDS, BuildFields, build_fields
from planner.sources.known_fields import unknown_field_notes
from planner.sources.live import live_state_from_yaml
from planner.sources.safety import check_kustomize_references, check_symlinks
from planner.sources.states import LiveState

# The kinds `--source` takes, by the names a user may write, and the resource kubectl reads.
SOURCE_KINDS: dict[str, tuple[str, str]] = {
    "gitrepository": ("GitRepository", "gitrepositories.source.toolkit.fluxcd.io"),
    "gitrepositories": ("GitRepository", "gitrepositories.source.toolkit.fluxcd.io"),
    "ocirepository": ("OCIRepository", "ocirepositories.source.toolkit.fluxcd.io"),
    "ocirepositories": ("OCIRepository", "ocirepositories.source.toolkit.fluxcd.io"),
}
KUSTOMIZATION_RESOURCE = "kustomizations.kustomize.toolkit.fluxcd.io"
DEFAULT_SOURCE_NAMESPACE = "flux-system"
# Kustomization fields that change the rendered objects in ways the hook does not reproduce:
# planning without them would order (and write) objects other than those Flux applies.
# (targetNamespace, namePrefix, nameSuffix, patches, components, images and commonMetadata are
# applied as `planner diff` applies them: planner.sources.flux_overlay.)
UNRENDERED_FIELDS = ("postBuild", *UNAPPLIED_FIELDS)

NOTHING_TO_DO = "nothing to do"
APPLIED = "applied"


class PreSyncRefused(PlannerError):
    """The plan does not verify: nothing is written and the app must not be applied."""

    exit_code = 3


@dataclass(frozen=True)
class SourceRef:
    """A Flux source object: its kind, the resource kubectl reads, namespace and name."""

    kind: str  # "GitRepository" | "OCIRepository"
    resource: str  # e.g. "gitrepositories.source.toolkit.fluxcd.io"
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class PreSyncOptions:
    """What one pre-sync run plans: the source, the app's path, and how it applies."""

    source: SourceRef
    path: str
    kustomization: str | None = None  # "NAME" or "NAMESPACE/NAME" of the app's Kustomization
    target: str = DEFAULT_TARGET
    timeout: float = 300.0  # seconds each wave may wait for its expected IPs
    seed: int = 0  # for the sampled schedules of verification
    journal: str | None = None  # `--journal` (file:PATH, configmap:NS/NAME); None: no journal
    accept_sampled: bool = False  # apply on claims that only held on sampled schedules
    lb_class: str = ""  # MetalLB's --lb-class ("" when it runs without one)


@dataclass(frozen=True)
class PreSyncReport:
    """The outcome of one run: what it did, for the Job's log, and its exit code."""

    status: str  # NOTHING_TO_DO | APPLIED (then `applied` says how apply ended)
    lines: tuple[str, ...]
    applied: ApplyReport | None = None

    @property
    def exit_code(self) -> int:
        """0 when Flux may apply the rest; 1 when the hook's apply stopped."""
        return self.applied.exit_code if self.applied is not None else 0

    def render(self) -> list[str]:
        """The report as lines for the Job's log."""
        out = [f"planner flux pre-sync: {self.status}", *(f"  {line}" for line in self.lines)]
        if self.applied is not None:
            out += self.applied.render()
        return out


# --- options -----------------------------------------------------------------------------------


def parse_source_ref(text: str, namespace: str = DEFAULT_SOURCE_NAMESPACE) -> SourceRef:
    """`gitrepository/NAME` or `ocirepository/NAME` (any case) in `namespace`; else InputError."""
    kind, slash, name = text.partition("/")
    known = SOURCE_KINDS.get(kind.lower())
    if not slash or not name or "/" in name or known is None:
        raise InputError(f"--source {text!r}: expected gitrepository/NAME or ocirepository/NAME")
    return SourceRef(known[0], known[1], namespace, name)


def normalised_path(path: str) -> str:
    """A Flux `spec.path` as a path relative to the artifact root ("." for the root).

    Like kustomize-controller, a leading "/" means the root; a path that leaves the root through
    ".." is an InputError.
    """
    relative = posixpath.normpath(path.strip().lstrip("/") or ".")
    if relative == ".." or relative.startswith("../"):
        raise InputError(f"--path {path!r} leads outside the source artifact")
    return relative


# --- the app Kustomization ---------------------------------------------------------------------


def check_kustomization(kustomization: Manifest, options: PreSyncOptions) -> bool:
    """InputError when the app Kustomization does not match the options or renders in ways the
    hook does not reproduce; returns whether it is suspended (then there is nothing to do)."""
    meta = kustomization.get("metadata") or {}
    shown = f"Kustomization {_shown(kustomization)}"
    spec = kustomization.get("spec") or {}
    ref = spec.get("sourceRef") or {}
    ref_namespace = ref.get("namespace") or meta.get("namespace")
    source = options.source
    if (ref.get("kind"), ref.get("name"), ref_namespace) != (
        source.kind,
        source.name,
        source.namespace,
    ):
        raise InputError(
            f"{shown} reads {ref.get('kind')} {ref_namespace}/{ref.get('name')}, "
            f"not --source {source}"
        )
    if normalised_path(str(spec.get("path") or ".")) != normalised_path(options.path):
        raise InputError(f"{shown} has spec.path {spec.get('path')!r}, not --path {options.path!r}")
    used = [name for name in UNRENDERED_FIELDS if spec.get(name)]
    if used:
        raise InputError(
            f"{shown} sets spec.{used[0]}, which the hook does not render; its plan would not "
            "match what Flux applies"
        )
    return bool(spec.get("suspend"))


def _shown(kustomization: Manifest) -> str:
    meta = kustomization.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '?')}"


def _kustomization_of(kubectl: Kubectl, options: PreSyncOptions) -> Manifest:
    namespace, _, name = (options.kustomization or "").rpartition("/")
    namespace = namespace or options.source.namespace
    if not name:
        raise InputError(f"--kustomization {options.kustomization!r}: expected [NAMESPACE/]NAME")
    found = kubectl.get_object(KUSTOMIZATION_RESOURCE, namespace, name)
    if found is None:
        raise InputError(f"--kustomization: Kustomization {namespace}/{name} does not exist")
    return found


# --- the artifact ------------------------------------------------------------------------------


def app_directory(root: Path, path: str) -> Path:
    """The directory `path` names inside the unpacked artifact; InputError when it leaves the
    root (also through a symlink), does not exist, or is not a directory."""
    relative = normalised_path(path)
    directory = (root / relative).resolve()
    real_root = root.resolve()
    if directory != real_root and real_root not in directory.parents:
        raise InputError(f"--path {path!r} leads outside the source artifact (through a symlink)")
    if not directory.is_dir():
        raise InputError(f"--path {path!r} is not a directory in the source artifact")
    return directory


def render_app(root: Path, path: str, kustomization: Manifest | None = None) -> DesiredState:
    """Every object the app's path declares (kustomize when it has a kustomization.yaml), with
    the fields of the app's `kustomization` applied as `planner diff` applies them."""
    directory = app_directory(root, path)
    check_symlinks(root.resolve())
    check_kustomize_references(directory, root.resolve())
    # the hook applies what it renders: HelmReleases stay helm-controller's (docs/sources.md)
    sources = _app_sources(root, directory, normalised_path(path), kustomization)
    try:
        state = load_sources(sources, evaluate_flux=False)
    except InputError as err:
        if "${" not in err.reason:
            raise
        raise InputError(f"{err.reason}; {_NOT_SUBSTITUTED}", err.origin) from err
    _refuse_written_variables(state)
    # the same unknown-field warnings diff and argocd generate give (a typo'd field is dropped)
    return replace(state, notes=state.notes + unknown_field_notes(state.objects))


def _app_sources(
    root: Path, directory: Path, label: str, kustomization: Manifest | None
) -> list[Source]:
    """The app directory's sources, with the Kustomization's targetNamespace and fields (it
    passed `check_kustomization`, so every field it sets can be applied)."""
    # built as kustomize-controller builds, fields or not: files load from anywhere in the root
    plain_build = BuildFields("the app", root.resolve())
    if kustomization is None:
        return built_sources(directory, label, None, plain_build)
    spec = kustomization.get("spec") or {}
    namespace = spec.get("targetNamespace") if isinstance(spec, dict) else None
    origin = Origin(f"--kustomization {_shown(kustomization)}")
    build, _ = build_fields(kustomization, origin, root.resolve())
    namespace = str(namespace) if namespace else None
    return built_sources(directory, label, namespace, build or plain_build)


_NOT_SUBSTITUTED = (
    "`${...}` is Flux post-build substitution, which the hook does not evaluate: it would apply "
    "the text as written, so it refuses an app whose Kustomization substitutes variables"
)


def _refuse_written_variables(state: DesiredState) -> None:
    """InputError for the first object whose read fields hold `${NAME}`: Flux substitutes it
    after the hook, so the hook's plan (a sharing key `${APP}`) is not what lands."""
    from planner.sources.flux_build import written_variable

    for obj in state.objects:
        found = written_variable(obj.body)
        if found is not None:
            field_name, name = found
            message = f"`${{{name}}}` in `{field_name}` of {obj.key.kind} {obj.key.namespace}/"
            raise InputError(f"{message}{obj.key.name}: {_NOT_SUBSTITUTED}", obj.origin)


def fetch_and_render(
    artifact: SourceArtifact, path: str, kustomization: Manifest | None = None
) -> DesiredState:
    """Download and check the artifact into a temporary directory, render `path` (with the
    app `kustomization`'s fields, when known), clean up."""
    with tempfile.TemporaryDirectory(prefix="shared-ip-planner-flux-") as work:
        unpacked = fetch_artifact(artifact.url, artifact.digest, Path(work) / "artifact")
        return render_app(unpacked.root, path, kustomization)


def read_live_state(kubectl: Kubectl) -> LiveState:
    """Services, IPAddressPools and Namespaces as the cluster has them now."""
    return live_state_from_yaml(kubectl.get_live_state_yaml(), f"kubectl get {LIVE_RESOURCES}")


# --- which units the hook applies ----------------------------------------------------------------


# Units whose writes only the planner makes (Flux applies the repo's final objects at once).
_ORDERED_KINDS = (GROUP_TRANSITION, DETOUR)


def hook_unit_ids(plan: Plan) -> set[str]:
    """The units the hook applies: group transitions, detours and units that change group annotations,
    plus (until nothing changes) every unit that waits for one of them, every unit one of them
    waits for (else it would wait for an IP that is never freed), and every later write of a
    Service one of them writes (so no annotation of ours outlives the plan)."""
    units = plan.units
    live = plan.baseline.services
    selected = {u.id for u in units if u.kind in _ORDERED_KINDS or _changes_annotations(u, live)}
    while True:
        grown = _grow(units, selected)
        if grown == selected:
            return selected
        selected = grown


def _grow(units: Sequence[PlannedUnit], selected: set[str]) -> set[str]:
    written = {w.service for u in units if u.id in selected for w in u.writes}
    grown = set(selected)
    for unit in units:
        if unit.id in selected:
            grown |= set(unit.waits_for)
        elif set(unit.waits_for) & selected or {w.service for w in unit.writes} & written:
            grown.add(unit.id)
    return grown


def _changes_annotations(unit: PlannedUnit, live: Mapping[str, Manifest]) -> bool:
    """A write that adds, changes or removes a group-wide annotation (deletions: Flux prunes)."""
    return any(
        _group_annotations(w.manifest) != _group_annotations(live.get(w.service))
        for w in unit.writes
        if w.op != DELETE
    )


def _group_annotations(manifest: Manifest | None) -> dict[str, str]:
    annotations = ((manifest or {}).get("metadata") or {}).get("annotations") or {}
    return {k: str(v) for k, v in annotations.items() if k in GROUP_ANNOTATION_KEYS}


def hook_plan(plan: Plan) -> Plan:
    """The plan restricted to `hook_unit_ids`, waves in their order and numbered from 1."""
    keep = hook_unit_ids(plan)
    waves: list[PlannedWave] = []
    renumbered: dict[int, int] = {}
    for wave in plan.waves:
        units = tuple(u for u in wave.units if u.id in keep)
        if units:
            renumbered[wave.index] = len(waves) + 1
            waves.append(_kept_wave(wave, units, len(waves) + 1))
    written = {w.service for wave in waves for w in wave.writes}
    return replace(
        plan,
        waves=tuple(waves),
        predictions=_kept_predictions(plan.predictions, renumbered, waves),
        preconditions={s: f for s, f in plan.preconditions.items() if s in written},
    )


def _kept_wave(wave: PlannedWave, units: tuple[PlannedUnit, ...], index: int) -> PlannedWave:
    services = {w.service for u in units for w in u.writes}
    return PlannedWave(
        index=index,
        units=units,
        expected_ips={s: ips for s, ips in wave.expected_ips.items() if s in services},
        predicted_ips={s: ips for s, ips in wave.predicted_ips.items() if s in services},
        nudges={
            b: tuple(s for s in svcs if s in services)
            for b, svcs in wave.nudges.items()
            if set(svcs) & services
        },
    )


def _kept_predictions(
    predictions: Mapping[str, PlanPrediction],
    renumbered: Mapping[int, int],
    waves: Sequence[PlannedWave],
) -> dict[str, PlanPrediction]:
    services = {w.index: {x.service for x in w.writes} for w in waves}
    kept = {}
    for behavior, prediction in predictions.items():
        windows = tuple(
            replace(w, wave=renumbered[w.wave])
            for w in prediction.windows
            if w.wave in renumbered and w.service in services[renumbered[w.wave]]
        )
        kept[behavior] = replace(prediction, windows=windows)
    return kept


# --- the run -------------------------------------------------------------------------------------


def pre_sync(
    options: PreSyncOptions,
    kubectl: Kubectl,
    *,
    progress: Progress | None = None,
    poll: PollPolicy | None = None,
) -> PreSyncReport:
    """One hook run (module docstring). Static conflicts raise PlanRefused and a plan that does
    not verify raises PreSyncRefused, both before any write; bad input raises InputError."""
    if options.target not in BEHAVIORS:
        raise InputError(f"--target {options.target!r}: expected one of {', '.join(BEHAVIORS)}")
    check_lb_class(options.lb_class, "--lb-class")
    app_path = normalised_path(options.path)  # a bad --path fails before any call
    progress = progress or StreamProgress(sys.stderr)
    kustomization = _kustomization_of(kubectl, options) if options.kustomization else None
    if kustomization is not None and check_kustomization(kustomization, options):
        return PreSyncReport(NOTHING_TO_DO, ("the app Kustomization is suspended",))
    artifact = artifact_from_source(
        kubectl.get_flux_source(
            options.source.resource, options.source.namespace, options.source.name
        )
    )
    about = f"{options.source} revision {artifact.revision or '?'}, path {app_path}"
    desired = fetch_and_render(artifact, options.path, kustomization)
    scenario = build_scenario(desired, read_live_state(kubectl), lb_class=options.lb_class)
    # Said once both states are read: bad input stays one line (InputError, exit 2).
    for note in desired.notes:
        progress.say(note)
    plan = plan_scenario(scenario, target=options.target)
    if not plan.waves:
        return PreSyncReport(NOTHING_TO_DO, (about, "the commit changes no Service"))
    _require_verified(verify_plan(plan, seed=options.seed), progress, options.accept_sampled)
    hook = hook_plan(plan)
    left = len(plan.units) - len(hook.units)
    if not hook.waves:
        return PreSyncReport(
            NOTHING_TO_DO,
            (about, f"no group transition to order; Flux applies the {left} unit(s) of the plan"),
        )
    lines = (about, *_summary(hook, left))
    report = apply_plan(
        hook,
        kubectl,
        behavior=options.target,
        timeout=options.timeout,
        progress=progress,
        journal=_journal(options.journal, hook, kubectl),
        poll=poll,
    )
    return PreSyncReport(APPLIED, lines, report)


def _journal(spec: str | None, plan: Plan, kubectl: Kubectl) -> Journal | None:
    """No journal unless asked: a rerun plans afresh, and apply skips writes already made."""
    return journal_from_spec(spec, plan_digest(plan), None, kubectl) if spec else None


def _require_verified(report: VerifyReport, progress: Progress, accept_sampled: bool) -> None:
    if report.ok and (accept_sampled or not report.sampled):
        progress.say(
            f"the plan verifies ({len(report.claims)} claims, {report.schedules} schedules)"
        )
        return
    for line in report.lines():
        progress.say(line)
    if report.ok:
        # Fail closed as `planner verify` does: a sample is evidence, not a proof.
        raise PreSyncRefused(
            f"{report.sampled_summary()}; nothing was written: pass --accept-sampled to apply "
            "on a sampled verdict"
        )
    failed = next(c for c in report.claims if not c.holds)
    raise PreSyncRefused(
        f"the plan does not verify ({failed.behavior}, wave {failed.wave}: {failed.statement}); "
        "nothing was written"
    )


def _summary(hook: Plan, left: int) -> list[str]:
    counts = f"{len(hook.units)} unit(s) in {len(hook.waves)} wave(s)"
    lines = [f"applying {counts}; Flux applies the other {left}"]
    for wave in hook.waves:
        for unit in wave.units:
            lines.append(f"wave {wave.index}: {unit.kind} {', '.join(unit.services)}")
    return lines


__all__ = [
    "PreSyncOptions",
    "PreSyncRefused",
    "PreSyncReport",
    "SourceRef",
    "app_directory",
    "check_kustomization",
    "hook_plan",
    "hook_unit_ids",
    "normalised_path",
    "parse_source_ref",
    "pre_sync",
]
