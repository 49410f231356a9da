"""What `planner diff` found: the data every renderer (text, markdown, json) reads.

Renderers only format these records; they compute nothing. Every tuple is already sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.diff import Change
from planner.sources.states import Unrendered


@dataclass(frozen=True)
class SharingGroupReport:
    """A sharing group of live or desired state (services on one IP) and whether the commit touches it."""

    id: str
    members: tuple[str, ...]  # "namespace/name", sorted
    ips: tuple[str, ...]  # the shared IPs (live, requested, or predicted: see `ips_source`)
    ips_source: str  # "live" | "requested" | "predicted"
    key_changing: bool  # some member has a key-changing edit
    touched: bool  # key-changing edit, or a service joins or leaves
    joining: tuple[str, ...] = ()
    leaving: tuple[str, ...] = ()
    key_changes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (svc, changed fields)


@dataclass(frozen=True)
class Conflict:
    """A static conflict (never converges: severity "error") or a warning worth a look."""

    message: str
    objects: tuple[str, ...]
    severity: str = "error"  # "error" | "warning"
    origin: str = ""  # "file: document N, line L" of the first object, when known
    origins: tuple[str, ...] = ()  # the origin of each of `objects`, in the same order ("" unknown)


@dataclass(frozen=True)
class ServiceFate:
    """What one behaviour does to one Service when the commit is applied naively."""

    service: str
    pending: bool  # went pending at some point (in some delivery order)
    stuck: bool  # still pending at the end (in some delivery order)
    ip_changed: bool  # ended on other IPs than it had
    reason: str = ""  # MetalLB's words (the AllocationFailed / error message)
    always: bool = False  # True when it happens in EVERY delivery order, not just some
    # When stuck: what re-processes it, per release ("until a nudge or restart"; see
    # planner.model.controller.stuck_until). "" when not stuck.
    stuck_until: str = ""
    # MetalLB itself never settles it (in some delivery order): the cause. "" when it settles.
    never_settles: str = ""
    # Its component was beyond the state explorer: what it shows rests on sampled orders only.
    sampled: bool = False

    @property
    def when(self) -> str:
        """In how many of the delivery orders its exploration covered: "in some orders", "in
        every sampled order", ..."""
        orders = "sampled order" if self.sampled else "order"
        return f"in every {orders}" if self.always else f"in some {orders}s"


@dataclass(frozen=True)
class Prediction:
    """One behaviour's outcome over every delivery order the model explored."""

    behavior: str
    fates: tuple[ServiceFate, ...]
    orders_explored: int
    exhaustive: bool
    unfinished: int = 0  # explored orders that hit their step cap: they support no claim
    states: int = 0  # states visited by the components explored in full (0: not counted)
    sampled: str = ""  # why the orders are a sample: "budget reached after 20000 states"
    # Of orders_explored, the orders sampled in components beyond the explorer, and how many
    # such components: the rest of the prediction was explored in full.
    sampled_orders: int = 0
    sampled_components: int = 0

    @property
    def scope(self) -> str:
        """How far the exploration went: "all orders" (and how many states), "sampled" (and
        why), and the unfinished runs."""
        scope = "all orders" if self.exhaustive else "sampled"
        if self.exhaustive and self.states:
            scope = f"{scope}, {self.states} states"
        elif self.sampled:
            scope = f"{scope}, {self.sampled}"
        return f"{scope}, {self.unfinished} unfinished" if self.unfinished else scope

    @property
    def explored(self) -> str:
        """What the exploration counted, in words: the states it visited when it covered every
        delivery order, the orders it sampled otherwise; never an empty "0 ... explored"."""
        if not self.orders_explored and not self.states:
            return "nothing to explore: no Service write of the commit reaches MetalLB"
        ends = f"{self.orders_explored} end state{'' if self.orders_explored == 1 else 's'}"
        if self.exhaustive:
            if self.states:
                words = f"{self.states} states explored (every delivery order), {ends}"
            else:
                words = f"every delivery order explored, {ends}"
        elif 0 < self.sampled_orders < self.orders_explored:
            # Some components were explored in full, some only sampled: say which is which.
            full = self.orders_explored - self.sampled_orders
            words = (
                f"{self.states} states explored (every delivery order), "
                f"{full} end state{'' if full == 1 else 's'}; in {self.sampled_components} "
                f"component{'' if self.sampled_components == 1 else 's'}, "
                + _sampled_words(self.sampled_orders, self.sampled)
            )
        else:
            words = _sampled_words(self.orders_explored, self.sampled)
        return f"{words}, {self.unfinished} unfinished" if self.unfinished else words

    @property
    def sampled_services(self) -> tuple[str, ...]:
        """The Services whose fate rests on sampled orders only (and something happens to)."""
        return tuple(f.service for f in self.fates if f.sampled)

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(f.service for f in self.fates if f.pending)

    @property
    def stuck(self) -> tuple[str, ...]:
        return tuple(f.service for f in self.fates if f.stuck)

    @property
    def ip_changed(self) -> tuple[str, ...]:
        return tuple(f.service for f in self.fates if f.ip_changed)

    @property
    def never_settling(self) -> tuple[str, ...]:
        """Services MetalLB itself never settles (in some delivery order)."""
        return tuple(f.service for f in self.fates if f.never_settles)


@dataclass(frozen=True)
class DiffReport:
    """Everything `planner diff` reports, ready to render."""

    changes: tuple[Change, ...]
    groups: tuple[SharingGroupReport, ...]
    conflicts: tuple[Conflict, ...]
    predictions: dict[str, Prediction]
    target: str
    notes: tuple[str, ...] = ()
    live_source: str = ""  # "file PATH" | "kubectl (context X)" | "git REF"
    statuses_known: bool = True  # False with --live-git: IPs are requested or predicted
    extras: dict[str, object] = field(default_factory=dict)  # e.g. the plan, the mermaid graph
    unrendered: tuple[Unrendered, ...] = ()  # not rendered or not followed: Services unchecked

    @property
    def errors(self) -> tuple[Conflict, ...]:
        return tuple(c for c in self.conflicts if c.severity == "error")

    @property
    def warnings(self) -> tuple[Conflict, ...]:
        return tuple(c for c in self.conflicts if c.severity == "warning")


def _sampled_words(orders: int, why: str) -> str:
    """ "30 delivery orders sampled (80 writes, more than the state explorer takes (12))"."""
    reason = f" ({why})" if why else ""
    return f"{orders} delivery order{'' if orders == 1 else 's'} sampled{reason}"
