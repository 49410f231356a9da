"""predict.fates_of: the reason it gives is the one a scan of every run's events gives."""

from __future__ import annotations

from planner.analysis.predict import fates_of, pending_reason
from planner.model.allocator import Pool
from planner.model.simcluster import Run, SimulatedCluster, adversarial_runs, random_runs
from tests.model.test_simcluster import svc

ONE_IP = Pool("one", ["10.0.0.1/32"])


def _scanned_reason(runs: list[Run], key: str) -> str:
    """The first run's pending reason, read from its whole event log."""
    for run in runs:
        events = run.cluster.events
        warnings = [str(e) for _, e in events if e.svc_key == key and e.type == "Warning"]
        if pending_reason(warnings):
            return pending_reason(warnings)
    return ""


def test_the_reason_of_a_sampled_fate_is_the_one_its_events_show() -> None:
    """Two new Services for one IP held by a third: whoever loses is pending with MetalLB's
    warning, which fates_of reads from the per-Service warning index; one is stuck at the end."""
    base = SimulatedCluster.bootstrap([ONE_IP], [svc("held", status=("10.0.0.1",))])
    writes = [("ns/b", svc("b")), ("ns/c", svc("c"))]
    runs = [*adversarial_runs(base, writes), *random_runs(base, writes, seed=5, count=6)]
    fates = fates_of(runs)
    assert {f.service for f in fates} == {"ns/b", "ns/c"}
    for fate in fates:
        assert fate.pending and fate.reason
        assert fate.reason == _scanned_reason(runs, fate.service)
        # What re-processes it: the first ended run's answer, asking every run (fates_of asks
        # only the runs where it is stuck).
        asked = (r.cluster.stuck_until(fate.service) for r in runs if r.settled)
        assert fate.stuck_until == next((w for w in asked if w), "")
    assert any(f.stuck and f.stuck_until for f in fates)
