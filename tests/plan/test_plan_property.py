"""Property: for random small clusters and random edits, the planner either refuses (a static
conflict or an infeasible target, PlanRefused) or its plan verifies — no Service pending under
`fixed` in any delivery order, convergence under metallb-0.15 and, with the nudges, metallb-0.14 —
and it lands every Service that requests IPs on them.

Clusters: 1–2 pools of small CIDRs; sharing groups and lone Services with requested or
auto-assigned IPs, Cluster or Local. Edits: key changes (Cluster → Local, whole group or one
member), joins, leaves, swaps of requested IPs, pool moves, deletions, creations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from planner.model.service import allocation_inputs
from planner.pipeline import plan_scenario
from planner.plan.build import PlanRefused
from planner.plan.verify import verify_plan
from planner.simulate.world import World
from tests.plan.test_build import ip_pool, running, scenario_of, service

# The state budget of one component here (planning and verify alike).
BUDGET = 2_000

POOLS = (("p0", "10.0.0.0/30"), ("p1", "10.0.1.0/29"))


@dataclass(frozen=True)
class Spec:
    """One Service as keyword arguments of `service()`."""

    name: str
    port: int
    share: str = ""
    ips: tuple[str, ...] = ()
    pool: str = ""
    local: bool = False
    app: str = "web"

    def manifest(self) -> dict[str, Any]:
        return service(
            self.name,
            port=self.port,
            share=self.share,
            ips=self.ips,
            pool=self.pool,
            local=self.local,
            app=self.app,
        )


@dataclass
class Cluster:
    pools: list[tuple[str, str]]
    specs: dict[str, Spec] = field(default_factory=dict)


def _addresses(cidr: str) -> list[str]:
    base, bits = cidr.split("/")
    prefix = base.rsplit(".", 1)[0]
    return [f"{prefix}.{i}" for i in range(2 ** (32 - int(bits)))]


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    pools = list(POOLS[: draw(st.integers(1, 2))])
    addresses = [ip for _, cidr in pools for ip in _addresses(cidr)]
    cluster = Cluster(pools)
    for g in range(draw(st.integers(1, 3))):
        size = draw(st.integers(1, 3))
        share = f"g{g}" if size > 1 or draw(st.booleans()) else ""
        requested = draw(st.sampled_from([(), (draw(st.sampled_from(addresses)),)]))
        pool = "" if requested else draw(st.sampled_from(["", *[p for p, _ in pools]]))
        local = draw(st.booleans())
        for m in range(size):
            name = f"s{g}{m}"
            cluster.specs[name] = Spec(
                name, 80 + m, share, requested, pool, local, app=f"a{g}" if local else "web"
            )
    return cluster


EDITS = ("local", "local-one", "join", "leave", "swap", "pool", "delete", "create")


@st.composite
def edited(draw: st.DrawFn, cluster: Cluster) -> dict[str, Spec]:
    specs = dict(cluster.specs)
    addresses = [ip for _, cidr in cluster.pools for ip in _addresses(cidr)]
    for step in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(EDITS))
        names = sorted(specs)
        if not names:
            kind = "create"
        if kind == "create":
            ips = draw(st.sampled_from([(), (draw(st.sampled_from(addresses)),)]))
            specs[f"n{step}"] = Spec(f"n{step}", 90 + step, ips=ips)
            continue
        name = draw(st.sampled_from(names))
        spec = specs[name]
        members = [n for n in names if spec.share and specs[n].share == spec.share] or [name]
        if kind == "local":
            for member in members:
                specs[member] = replace(specs[member], local=True, app=f"L{spec.share or name}")
        elif kind == "local-one":
            specs[name] = replace(spec, local=not spec.local, app="other")
        elif kind == "join":
            joiner = Spec(
                f"j{step}",
                100 + step,
                spec.share or f"x{step}",
                spec.ips,
                spec.pool,
                spec.local,
                spec.app,
            )
            if not spec.share:
                specs[name] = replace(spec, share=joiner.share)
            specs[joiner.name] = joiner
        elif kind == "leave":
            ips = draw(st.sampled_from([(), (draw(st.sampled_from(addresses)),)]))
            specs[name] = replace(spec, share="", ips=ips, pool="")
        elif kind == "swap":
            other = draw(st.sampled_from(names))
            specs[name] = replace(spec, ips=specs[other].ips)
            specs[other] = replace(specs[other], ips=spec.ips)
        elif kind == "pool":
            target = draw(st.sampled_from([p for p, _ in cluster.pools]))
            for member in members:
                specs[member] = replace(specs[member], ips=(), pool=target)
        elif kind == "delete":
            del specs[name]
    return specs


@st.composite
def cases(draw: st.DrawFn) -> tuple[Cluster, dict[str, Spec]]:
    cluster = draw(clusters())
    return cluster, draw(edited(cluster))


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@example(  # s20 keeps its IP or moves, depending on whether s21 left it before s20 is handled
    (
        Cluster(
            [POOLS[0], POOLS[1]],
            {
                "s20": Spec("s20", 80, "g2", local=True, app="a2"),
                "s21": Spec("s21", 81, "g2", local=True, app="a2"),
            },
        ),
        {
            "s20": Spec("s20", 80, "g2", local=True, app="L"),
            "s21": Spec("s21", 81, "x2", ("10.0.1.3",), local=True, app="L"),
            "j2": Spec("j2", 102, "x2", ("10.0.1.3",), local=True, app="L"),
        },
    )
)
@example(  # a 3-cycle swap of requested IPs: each member in turn can end wave 1 without an IP
    (
        Cluster(
            [POOLS[0]],
            {
                "s00": Spec("s00", 80, ips=("10.0.0.1",)),
                "s10": Spec("s10", 80, ips=("10.0.0.2",)),
                "s20": Spec("s20", 80, ips=("10.0.0.3",)),
            },
        ),
        {
            "s00": Spec("s00", 80, ips=("10.0.0.2",)),
            "s10": Spec("s10", 80, ips=("10.0.0.3",)),
            "s20": Spec("s20", 80, ips=("10.0.0.1",)),
        },
    )
)
@given(cases())
def test_a_plan_is_refused_or_verifies(case: tuple[Cluster, dict[str, Spec]]) -> None:
    cluster, specs = case
    pools = [ip_pool(name, cidr) for name, cidr in cluster.pools]
    live = running([s.manifest() for s in cluster.specs.values()], pools)
    desired = [s.manifest() for s in specs.values()]
    scenario = scenario_of(desired, live, pools)
    # A small state budget here (planning and verify alike): larger components get the seeded
    # sample, and the examples stay fast.
    try:
        plan = plan_scenario(scenario, max_states=BUDGET)
    except PlanRefused:
        event("refused")
        return
    event(f"waves: {len(plan.waves)}")
    report = verify_plan(plan, max_states=BUDGET)
    assert report.ok, "\n".join(report.lines())
    again = verify_plan(plan, world=World.of(scenario, max_states=BUDGET))
    assert again.ok, "\n".join(again.lines())
    last = {svc: opts for wave in plan.waves for svc, opts in wave.expected_ips.items()}
    for svc, manifest in scenario.desired_services.items():
        requested = allocation_inputs(manifest).requested_ips
        if requested and svc in last:
            assert last[svc] == (tuple(sorted(requested)),), svc
