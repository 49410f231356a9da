"""The only code that runs `kubectl`: argv builders (pure) and the calls `planner apply` makes.

Every call is first built as a `KubectlCall` (argv + stdin + whether it changes the cluster), so
`--dry-run` can print exactly what would run and tests can check every argv against the real
binary. Running a call goes through `run_kubectl` (`planner.tools.run_tool`): a failure is a
`ToolFailedError` carrying kubectl's last stderr line; object bodies travel on stdin and never
reach a message.

    >>> kubectl = Kubectl(context="prod", binary="/usr/bin/kubectl")
    >>> kubectl.apply_call([service], server_dry_run=True).shown()
    '/usr/bin/kubectl --context prod apply --server-side --dry-run=server ...'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner.errors import PlannerError
from planner.objects import Manifest
from planner.tools import find_tool, redact_argv, run_tool

FIELD_MANAGER = "shared-ip-planner"
DEFAULT_REQUEST_TIMEOUT = "30s"
# What the planner reads as live state (the same set `planner.sources.live` documents).
LIVE_RESOURCES = "svc,ipaddresspools.metallb.io,namespaces"

# Runs argv with stdin and returns stdout (planner.tools.run_tool has this shape).
Runner = Callable[..., str]


def run_kubectl(argv: Sequence[str], *, stdin: str | None = None) -> str:
    """Run one kubectl argv and return its stdout: the runner of every `Kubectl` given none.

    Looked up when each call runs, so that tests can put an in-process stand-in here
    (tests/fakes/fake_cluster.py); real use never replaces it.
    """
    return run_tool(argv, stdin=stdin)


class UnexpectedOutputError(PlannerError):
    """kubectl answered, but not with what the call asked for."""


@dataclass(frozen=True)
class KubectlCall:
    """One kubectl invocation: argv (argv[0] is the binary), stdin text, and whether it writes."""

    argv: tuple[str, ...]
    stdin: str | None = None
    mutating: bool = False
    summary: str = ""  # what the stdin holds, for --dry-run output (never object values)

    def shown(self) -> str:
        """The command line as a shell would take it (credential flags masked)."""
        import shlex  # only a command line shown to a person needs quoting

        line = " ".join(shlex.quote(a) for a in redact_argv(list(self.argv)))
        return f"{line} <<< {self.summary}" if self.summary else line


class Kubectl:
    """kubectl bound to one context and kubeconfig; builds calls and runs them."""

    def __init__(
        self,
        context: str | None = None,
        kubeconfig: str | None = None,
        binary: str | None = None,
        *,
        request_timeout: str = DEFAULT_REQUEST_TIMEOUT,
        runner: Runner | None = None,
    ) -> None:
        self.context = context
        self.kubeconfig = kubeconfig
        self.binary = binary or find_tool("kubectl")
        self.request_timeout = request_timeout
        self._runner = runner

    # --- argv builders (pure) ------------------------------------------------------------------

    def base_argv(self) -> list[str]:
        """The binary and the flags every call carries (context, kubeconfig, request timeout)."""
        argv = [self.binary]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        return [*argv, f"--request-timeout={self.request_timeout}"]

    def apply_call(self, manifests: Sequence[Manifest], *, server_dry_run: bool) -> KubectlCall:
        """Server-side apply of `manifests` (one List on stdin) with our field manager.

        `--force-conflicts`: the fields a plan changes are usually owned by the GitOps tool's
        field manager (Argo CD and Flux both apply server-side); without it every such change is
        refused as a conflict. The plan was made against these objects and their preconditions
        were checked just before, so taking the fields over is the intent; the GitOps tool later
        applies the same values from Git and takes them back.
        """
        argv = [*self.base_argv(), "apply", "--server-side"]
        if server_dry_run:
            argv.append("--dry-run=server")
        argv += [f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-"]
        body = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        names = ", ".join(_describe(m) for m in manifests)
        return KubectlCall(tuple(argv), json.dumps(body, sort_keys=True), not server_dry_run, names)

    def delete_call(self, svc_key: str, *, server_dry_run: bool) -> KubectlCall:
        """Delete one Service (absent already counts as done); no waiting for finalizers."""
        namespace, name = svc_key.split("/", 1)
        argv = [*self.base_argv(), "delete", "service", name, "-n", namespace]
        if server_dry_run:
            argv.append("--dry-run=server")
        argv += ["--ignore-not-found", "--wait=false"]
        return KubectlCall(tuple(argv), None, not server_dry_run)

    def get_services_call(self, namespace: str, names: Sequence[str]) -> KubectlCall:
        """Get Services of one namespace by name as JSON; missing ones are left out."""
        argv = [*self.base_argv(), "get", "services", *sorted(names), "-n", namespace]
        return KubectlCall((*argv, "-o", "json", "--ignore-not-found"))

    def get_object_call(
        self, kind: str, namespace: str, name: str, *, missing_ok: bool
    ) -> KubectlCall:
        """Get one object (`kind/name`) as JSON, e.g. a Flux GitRepository or a ConfigMap."""
        argv = [*self.base_argv(), "get", f"{kind}/{name}", "-n", namespace, "-o", "json"]
        return KubectlCall(tuple(argv + ["--ignore-not-found"] if missing_ok else argv))

    def get_live_state_call(self) -> KubectlCall:
        """Every Service, IPAddressPool and Namespace: the live state a plan starts from. As JSON,
        which parses some ten times faster than YAML (issue 17); the objects are the same."""
        return KubectlCall((*self.base_argv(), "get", LIVE_RESOURCES, "-A", "-o", "json"))

    def nudge_call(self, svc_key: str, annotation: str, value: str) -> KubectlCall:
        """Set one annotation on a Service so that MetalLB's controller handles it again.

        `kubectl annotate` (an update) rather than a server-side apply of a partial object: an
        apply with our field manager would drop every other field that manager owns.
        """
        namespace, name = svc_key.split("/", 1)
        argv = [*self.base_argv(), "annotate", "service", name, "-n", namespace, "--overwrite"]
        argv += [f"--field-manager={FIELD_MANAGER}", f"{annotation}={value}"]
        return KubectlCall(tuple(argv), None, True)

    # --- calls ---------------------------------------------------------------------------------

    def run(self, call: KubectlCall) -> str:
        """Run one call; its stdout, or ToolFailedError with kubectl's stderr."""
        runner = self._runner if self._runner is not None else run_kubectl
        return runner(list(call.argv), stdin=call.stdin)

    def server_dry_run(self, manifests: Sequence[Manifest]) -> str:
        """Ask the API server to validate every object (admission included) without storing."""
        return self.run(self.apply_call(manifests, server_dry_run=True))

    def apply(self, manifest: Manifest) -> str:
        """Server-side apply one object for real."""
        return self.run(self.apply_call([manifest], server_dry_run=False))

    def delete(self, svc_key: str) -> str:
        """Delete one Service for real."""
        return self.run(self.delete_call(svc_key, server_dry_run=False))

    def get_services(self, svc_keys: Iterable[str]) -> dict[str, Manifest | None]:
        """The live Services by "namespace/name" (None for the ones that do not exist)."""
        by_namespace: dict[str, list[str]] = {}
        for key in sorted(set(svc_keys)):
            namespace, name = key.split("/", 1)
            by_namespace.setdefault(namespace, []).append(name)
        found: dict[str, Manifest | None] = {}
        for namespace, names in by_namespace.items():
            output = self.run(self.get_services_call(namespace, names))
            items = _items(_parse_json(output, "get services"))
            listed = {(i.get("metadata") or {}).get("name"): i for i in items}
            for name in names:
                found[f"{namespace}/{name}"] = listed.get(name)
        return found

    def get_live_state(self) -> str:
        """The live state (see `get_live_state_call`) as kubectl prints it (JSON)."""
        return self.run(self.get_live_state_call())

    # The old name, from when kubectl printed YAML; its callers parse either.
    get_live_state_yaml = get_live_state

    def get_object(self, kind: str, namespace: str, name: str) -> Manifest | None:
        """One object as JSON, or None when it does not exist."""
        output = self.run(self.get_object_call(kind, namespace, name, missing_ok=True))
        return _parse_json(output, f"get {kind}/{name}") if output.strip() else None

    def get_flux_source(self, kind: str, namespace: str, name: str) -> Manifest:
        """A Flux source object (e.g. `gitrepository`); a missing one is kubectl's NotFound error."""
        output = self.run(self.get_object_call(kind, namespace, name, missing_ok=False))
        source: Manifest = _parse_json(output, f"get {kind}/{name}")
        return source

    def get_configmap(self, namespace: str, name: str) -> Manifest | None:
        """A ConfigMap, or None when it does not exist."""
        return self.get_object("configmap", namespace, name)

    def put_configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> str:
        """Create or replace a ConfigMap's data by server-side apply (all keys we own, at once)."""
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": dict(sorted(data.items())),
        }
        return self.apply(configmap)

    def nudge(self, svc_key: str, annotation: str, value: str) -> str:
        """Annotate one Service (see `nudge_call`)."""
        return self.run(self.nudge_call(svc_key, annotation, value))


def _describe(manifest: Manifest) -> str:
    meta = manifest.get("metadata") or {}
    return f"{manifest.get('kind', '?')} {meta.get('namespace', 'default')}/{meta.get('name', '?')}"


def _parse_json(output: str, what: str) -> Any:
    if not output.strip():
        return {"kind": "List", "items": []}
    try:
        return json.loads(output)
    except json.JSONDecodeError as err:
        raise UnexpectedOutputError(f"`kubectl {what}` did not print JSON ({err.msg})") from None


def _items(document: Any) -> list[Manifest]:
    if isinstance(document, dict) and document.get("kind", "").endswith("List"):
        return [i for i in document.get("items") or [] if isinstance(i, dict)]
    return [document] if isinstance(document, dict) else []
