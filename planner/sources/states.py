"""What the sources yield: the desired objects and the live state, as plain data (no I/O here,
so the pure stages may import it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.errors import Origin
from planner.objects import KubeObject, Manifest, ObjectKey
from planner.sources.kinds import namespaces_of, pools_of, services_of


@dataclass(frozen=True)
class Unrendered:
    """An object whose Services were not checked: a HelmRelease that could not be rendered, an
    Argo CD Application not followed to its source, a Flux Kustomization whose fields could
    not be applied, or a Service set aside (`key`: a value it reads is unknown). `release` names
    it ("KIND NS/NAME"); `missed` says what was not done. Printed as the one note the report
    carries for it."""

    release: str
    origin: Origin
    reason: str
    kind: str = "HelmRelease"
    missed: str = "not rendered"
    key: ObjectKey | None = None  # the object set aside: neither compared nor deleted

    def __str__(self) -> str:
        said = f"{self.origin}: {self.release} {self.missed} ({self.reason})"
        return said if self.key is not None else f"{said}; its Services were not checked"


@dataclass(frozen=True)
class DesiredState:
    """The objects the repo declares (in source order) and notes on what was skipped."""

    objects: list[KubeObject]
    notes: list[str] = field(default_factory=list)
    context_pools: list[KubeObject] = field(default_factory=list)  # pools found elsewhere
    unrendered: tuple[Unrendered, ...] = ()  # not rendered or not followed: Services unchecked

    @property
    def services(self) -> dict[str, Manifest]:
        return services_of(self.objects)

    @property
    def pools(self) -> list[Manifest]:
        return pools_of(self.objects)

    @property
    def namespaces(self) -> dict[str, dict[str, str]]:
        return namespaces_of(self.objects)


@dataclass(frozen=True)
class LiveState:
    """What runs (or ran at a git ref): all objects, and the parts the MetalLB model reads."""

    objects: list[KubeObject]
    services: dict[str, Manifest]  # "namespace/name" -> manifest, sorted
    pools: list[Manifest]  # IPAddressPools and the legacy MetalLB ConfigMap, raw
    namespaces: dict[str, dict[str, str]]  # name -> labels
    from_git: bool = False  # True: read from a git ref, so statuses (assigned IPs) are unknown
    notes: list[str] = field(default_factory=list)
    context_pools: list[KubeObject] = field(default_factory=list)  # pools found elsewhere
    # HelmReleases not rendered as at a git ref (--live-git): their live Services are unknown
    unrendered: tuple[Unrendered, ...] = ()
    ref: str = ""  # the git ref as given: the labels of what was read there start `REF:`
    commit: str = ""  # the commit id the git ref named (a ref moves; the commit does not)
