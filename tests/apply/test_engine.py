"""planner.apply.engine end to end: plans carried out through the stand-in kubectl, whose API server and
MetalLB controller are the project's simulated cluster (tests/fakes/fake_cluster.py).

Most tests call the fake in-process; those marked `kubectl_subprocess` run the stand-in executable,
so that the argv, exit-code and stderr path stays covered."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.apply.engine import (
    ApplyReport,
    PollPolicy,
    StreamProgress,
    WaveStatus,
    apply_plan,
    precondition_problems,
    restorable,
)
from planner.apply.journal import FileJournal, JournalRecord
from planner.apply.plan_file import read_plan_file
from planner.diff.scenario import UNKNOWN_POOL, UNKNOWN_POOL_OBJECT, build_scenario
from planner.errors import InputError
from planner.kubectl import Kubectl
from planner.model.pools import Pool, pools_from_objects
from planner.pipeline import plan_scenario
from planner.plan.fingerprint import live_fingerprint, plan_digest
from planner.plan.records import Plan, PlannedUnit, PlannedWave, plan_to_dict
from planner.plan.stand_in import StandIns, fill
from planner.plan.units import DELETE, Write
from planner.sources.desired import load_desired
from planner.sources.live import live_state_from_yaml
from tests.conftest import SAMPLES
from tests.fakes.fake_cluster import FakeCluster, start_fake
from tests.fakes.plans import (
    SHARED_IP,
    SITE,
    SITE_IP,
    TCP,
    UDP,
    changed,
    sample_live,
    seed_live,
    seed_plan,
    site_service,
    two_wave_plan,
)
from tests.fakes.progress import RecordingProgress

FAST = PollPolicy(first=0.05, factor=1.5, longest=0.3, nudge_grace=0.2)

MakeFake = Callable[..., FakeCluster]


@pytest.fixture
def make_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stand_in_subprocess: bool
) -> MakeFake:
    """A simulated cluster holding the seed's live state (or `sample`'s), reached by this test's
    `Kubectl()`."""

    def make(
        behavior: str,
        schedule: str = "drain",
        seed: int = 0,
        sample: Path | None = None,
        **faults: Any,
    ) -> FakeCluster:
        services, pools = seed_live() if sample is None else sample_live(sample)
        return start_fake(
            tmp_path / "state.json",
            monkeypatch,
            subprocess=stand_in_subprocess,
            behavior=behavior,
            services=services,
            pools=pools,
            schedule=schedule,
            seed=seed,
            faults=faults,
        )

    return make


@pytest.fixture
def journal(tmp_path: Path) -> FileJournal:
    return FileJournal(tmp_path / "journal.json")


def _apply(
    plan: Plan,
    journal: FileJournal | None,
    progress: RecordingProgress | None = None,
    **options: Any,
) -> ApplyReport:
    options.setdefault("timeout", 20.0)
    return apply_plan(
        plan,
        Kubectl(),
        journal=journal,
        progress=progress or RecordingProgress(),
        poll=FAST,
        **options,
    )


# --- the seed scenario with each behaviour ---------------------------------------------------------


@pytest.mark.kubectl_subprocess
def test_fixed_carries_the_seed_out_with_nobody_pending(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("fixed")
    progress = RecordingProgress()
    report = _apply(seed_plan("fixed"), journal, progress)
    assert (report.status, report.exit_code) == (WaveStatus.DONE, 0)
    assert report.waves[0].written == (TCP, UDP) and report.waves[0].nudged == ()
    cluster = fake.cluster()
    assert cluster.statuses(TCP) == [(SHARED_IP,)] and cluster.statuses(UDP) == [(SHARED_IP,)]
    assert journal.load() == JournalRecord(plan_digest(seed_plan("fixed")), (1,))
    assert progress.lines[-1].startswith("wave 1: every Service at its expected IPs")


def test_metallb_015_recovers_the_first_mover_without_a_nudge(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15")
    report = _apply(seed_plan("metallb-0.15"), journal)
    assert report.status == WaveStatus.DONE and report.waves[0].nudged == ()
    cluster = fake.cluster()
    assert cluster.went_pending(TCP) and not cluster.stuck_at_end(TCP)
    assert cluster.ips(TCP) == (SHARED_IP,) and cluster.ips(UDP) == (SHARED_IP,)


def test_metallb_014_leaves_the_first_mover_stuck_until_the_plans_nudge(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.14")
    progress = RecordingProgress()
    report = _apply(seed_plan("metallb-0.14"), journal, progress)
    assert report.status == WaveStatus.DONE
    assert report.waves[0].nudged == (TCP,)
    assert fake.cluster().statuses(TCP) == [(SHARED_IP,), (), (SHARED_IP,)]
    assert fake.arrivals() == [TCP, UDP, TCP]  # two writes, then the nudge
    assert any(line.startswith(f"wave 1: nudged {TCP} (") for line in progress.lines)


def test_metallb_014_in_a_lucky_order_is_not_nudged(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.14", schedule="lazy")
    report = _apply(seed_plan("metallb-0.14"), journal)
    assert report.status == WaveStatus.DONE and report.waves[0].nudged == ()
    assert fake.arrivals() == [TCP, UDP]


@pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15"])
def test_stock_behaviours_end_at_the_expected_ips_in_a_random_order(
    make_fake: MakeFake, journal: FileJournal, behavior: str
) -> None:
    fake = make_fake(behavior, schedule="random", seed=1)
    assert _apply(seed_plan(behavior), journal).status == WaveStatus.DONE
    assert fake.cluster().ips(TCP) == (SHARED_IP,) and fake.cluster().ips(UDP) == (SHARED_IP,)


@pytest.mark.parametrize("seed", [1, 2])
def test_fixed_keeps_everyone_up_in_random_orders(
    make_fake: MakeFake, journal: FileJournal, seed: int
) -> None:
    fake = make_fake("fixed", schedule="random", seed=seed)
    assert _apply(seed_plan("fixed"), journal).status == WaveStatus.DONE
    cluster = fake.cluster()
    assert not cluster.went_pending(TCP) and not cluster.went_pending(UDP)


# --- atomic waves --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "behavior", ["metallb-0.15", pytest.param("fixed", marks=pytest.mark.kubectl_subprocess)]
)
def test_a_failed_write_rolls_the_wave_back(
    make_fake: MakeFake, journal: FileJournal, behavior: str
) -> None:
    fake = make_fake(behavior, fail_apply={"service": UDP})
    plan = seed_plan(behavior)
    report = _apply(plan, journal)
    wave = report.waves[0]
    assert (report.status, report.exit_code) == (WaveStatus.ROLLED_BACK, 1)
    assert (wave.written, wave.restored) == ((TCP,), (TCP,))
    assert "writing dns/dns-udp (apply) failed" in wave.lines[0]
    assert "injected fault" in wave.lines[0]
    assert wave.lines[1] == "every object written in this wave was put back as it was"
    cluster = fake.cluster()
    for svc in (TCP, UDP):
        assert live_fingerprint(cluster.store[svc]) == plan.preconditions[svc]
        assert cluster.ips(svc) == (SHARED_IP,)
    assert journal.load() is None


def _delete_then_apply_plan() -> Plan:
    """One wave: delete dns-udp, then move dns-tcp (whose write the test makes fail)."""
    plan = seed_plan()
    tcp = next(w for w in plan.waves[0].writes if w.service == TCP)
    unit = PlannedUnit("u", "service", (UDP, TCP), (UDP, TCP), (Write(UDP, DELETE, None), tcp))
    wave = PlannedWave(1, (unit,), {})
    return Plan(plan.strategy, (wave,), plan.predictions, plan.preconditions)


def test_a_rolled_back_deletion_is_recreated_as_it_was(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15", fail_apply={"service": TCP})
    plan = _delete_then_apply_plan()
    report = _apply(plan, journal)
    assert report.status == WaveStatus.ROLLED_BACK
    assert (report.waves[0].written, report.waves[0].restored) == ((UDP,), (UDP,))
    assert fake.arrivals() == [UDP, UDP]  # deleted, then re-created from the saved copy
    live = fake.cluster().store
    assert live_fingerprint(live[UDP]) == plan.preconditions[UDP]
    assert live_fingerprint(live[TCP]) == plan.preconditions[TCP]


def test_a_wave_the_server_dry_run_refuses_is_not_written_at_all(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15", reject_dry_run=UDP)
    report = _apply(seed_plan(), journal)
    assert report.status == WaveStatus.REFUSED
    assert "refused the wave in a dry run, nothing was written" in report.waves[0].lines[0]
    assert fake.arrivals() == []
    assert [c for c in fake.calls("apply") if "--dry-run=server" not in c] == []


# --- waiting -------------------------------------------------------------------------------------


def test_a_timeout_reports_who_waits_and_the_models_explanation(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    make_fake("metallb-0.14")
    report = _apply(seed_plan("metallb-0.14", nudges=False), journal, timeout=1.0)
    wave = report.waves[0]
    assert (report.status, report.exit_code, wave.waiting) == (WaveStatus.TIMED_OUT, 1, (TCP,))
    assert f"{TCP} shows <pending>, expected {SHARED_IP}" in wave.lines
    assert any(
        line.startswith(f"  the model: metallb-0.14 leaves {TCP} pending until something touches")
        for line in wave.lines
    )
    assert journal.load() is None


def test_a_timeout_the_model_did_not_predict_says_the_cluster_differs(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    make_fake("fixed", controller_down=True)
    report = _apply(two_wave_plan("fixed"), journal, timeout=1.0)
    assert report.status == WaveStatus.TIMED_OUT
    assert [w.status for w in report.waves] == [WaveStatus.DONE, WaveStatus.TIMED_OUT]
    assert report.waves[1].waiting == (SITE,)
    assert any("predicts no pending window for web/site" in line for line in report.waves[1].lines)
    assert journal.load() == JournalRecord(plan_digest(two_wave_plan("fixed")), (1,))


@pytest.mark.kubectl_subprocess
def test_failed_reads_while_waiting_are_retried(make_fake: MakeFake, journal: FileJournal) -> None:
    make_fake("fixed", fail_get={"from": 2, "times": 2})  # get 1: preconditions and saved copies
    progress = RecordingProgress()
    report = _apply(seed_plan("fixed"), journal, progress)
    assert report.status == WaveStatus.DONE
    retried = [line for line in progress.lines if "reading the Services failed, will retry" in line]
    assert len(retried) == 2 and "TLS handshake timeout" in retried[0]


def test_expected_ips_match_in_any_order() -> None:
    exact = StandIns({}, {})
    assert fill(["b", "a"], ("a", "b"), {}, exact) == {}
    assert fill(["b", "a"], ("x",), {}, exact) is None
    assert fill(["b", "a"], ("a",), {}, exact) is None
    assert fill([], ("a",), {}, exact) is None


# --- preconditions and resume --------------------------------------------------------------------


def test_a_plan_whose_objects_changed_is_refused_before_any_write(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15")
    services, _ = seed_live()
    fake.edit_service(changed(services[0], sessionAffinity="ClientIP"))
    report = _apply(seed_plan(), journal)
    assert report.status == WaveStatus.REFUSED
    assert report.lines[0] == "the cluster changed since the plan was made; nothing was written"
    assert (
        report.lines[1] == f"{TCP}: its spec changed since the plan was made; make the plan again"
    )
    assert fake.arrivals() == [TCP]  # only the other writer's edit


def test_a_rerun_continues_at_the_first_unfinished_wave(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15", fail_apply={"service": SITE})
    plan = two_wave_plan()
    first = _apply(plan, journal)
    assert [w.status for w in first.waves] == [WaveStatus.DONE, WaveStatus.ROLLED_BACK]
    assert journal.load() == JournalRecord(plan_digest(plan), (1,))
    assert SITE not in fake.cluster().store
    fake.set_faults()
    before = len(fake.arrivals())
    second = _apply(plan, journal)
    assert second.status == WaveStatus.DONE
    assert [(w.index, w.status) for w in second.waves] == [(1, "resumed"), (2, WaveStatus.DONE)]
    assert fake.arrivals()[before:] == [SITE]
    assert fake.cluster().ips(SITE) == (SITE_IP,)


def test_work_already_in_the_cluster_is_not_repeated(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15")
    assert (
        _apply(seed_plan(), None).status == WaveStatus.DONE
    )  # a crash before the journal was written
    before = fake.arrivals()
    report = _apply(seed_plan(), journal)
    assert report.status == WaveStatus.DONE
    assert (report.waves[0].written, report.waves[0].skipped) == ((), (TCP, UDP))
    assert fake.arrivals() == before


def test_a_resume_refuses_when_a_later_waves_object_appeared(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15")
    plan = two_wave_plan()
    journal.save(JournalRecord(plan_digest(plan), (1,)))
    for write in plan.waves[0].writes:  # wave 1 did run: a journal is believed only then
        fake.edit_service(write.manifest)
    other = site_service()
    other["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.168.10.81"
    fake.edit_service(other)
    report = _apply(plan, journal)
    assert report.status == WaveStatus.REFUSED
    assert report.lines[1] == f"{SITE}: did not exist when the plan was made, and exists now"


def test_every_wave_finished_means_no_kubectl_call(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.15")
    journal.save(JournalRecord(plan_digest(seed_plan()), (1,)))
    report = _apply(seed_plan(), journal)
    assert report.status == WaveStatus.DONE and report.lines == ("every wave was finished earlier",)
    assert fake.calls() == []


def test_a_journal_of_another_plan_is_not_used(make_fake: MakeFake, journal: FileJournal) -> None:
    make_fake("metallb-0.15")
    journal.save(JournalRecord("another plan", (1,)))
    report = _apply(seed_plan(), journal)
    assert [w.status for w in report.waves] == [WaveStatus.DONE]


def _two_writes_of(svc_wave: PlannedWave) -> Plan:
    plan = seed_plan()
    again = PlannedWave(2, svc_wave.units, svc_wave.expected_ips)
    return Plan(plan.strategy, (svc_wave, again), plan.predictions, plan.preconditions)


def test_after_a_finished_wave_the_plans_own_write_is_the_expected_state() -> None:
    plan = _two_writes_of(seed_plan().waves[0])
    written = next(w.manifest for w in plan.waves[0].writes if w.service == TCP)
    assert precondition_problems(plan, {TCP: written}, {1}, [TCP]) == []
    edited = changed(written, externalTrafficPolicy="Cluster")
    problems = precondition_problems(plan, {TCP: edited}, {1}, [TCP])
    assert problems == [
        f"{TCP}: changed since wave 1 of the plan wrote it (spec.externalTrafficPolicy)"
    ]
    assert precondition_problems(plan, {TCP: None}, {1}, [TCP]) == [
        f"{TCP}: wave 1 of the plan wrote it, but it no longer exists"
    ]


# --- dry run and confirmation --------------------------------------------------------------------


def test_dry_run_prints_the_calls_and_changes_nothing(
    make_fake: MakeFake, journal: FileJournal
) -> None:
    fake = make_fake("metallb-0.14")
    progress = RecordingProgress()
    report = _apply(seed_plan("metallb-0.14"), journal, progress, dry_run=True)
    assert (report.status, report.exit_code) == (WaveStatus.DRY_RUN, 0)
    assert fake.arrivals() == [] and journal.load() is None
    shown = [line for line in progress.lines if line.startswith("  ")]
    assert len(shown) == 6
    assert "apply --server-side --field-manager=shared-ip-planner" in shown[0]
    assert shown[0].endswith("<<< Service dns/dns-tcp")
    assert shown[2:4] == [f"  then wait for {svc}: {SHARED_IP}" for svc in (TCP, UDP)]
    assert shown[4].startswith("  if still pending: ") and "annotate service dns-tcp" in shown[4]


def test_a_declined_confirmation_writes_nothing(make_fake: MakeFake, journal: FileJournal) -> None:
    fake = make_fake("metallb-0.14")
    asked: list[list[str]] = []

    def decline(summary: list[str]) -> bool:
        asked.append(summary)
        return False

    report = _apply(seed_plan("metallb-0.14"), journal, confirm=decline)
    assert report.status == WaveStatus.DECLINED and fake.arrivals() == []
    assert asked[0][1:] == [
        f"wave 1: apply {TCP}, apply {UDP}",
        f"  then nudge if still pending: {TCP}, {UDP}",
    ]


# --- pieces --------------------------------------------------------------------------------------


def test_restorable_drops_status_and_server_bookkeeping() -> None:
    services, _ = seed_live()
    restored = restorable(services[0])
    assert set(restored) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(restored["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert "metallb.io/ip-allocated-from-pool" not in restored["metadata"]["annotations"]
    assert restored["spec"]["clusterIP"] == "10.96.120.17"


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    stream = io.StringIO()
    progress = StreamProgress(stream, live=True)
    progress.waiting(1, [TCP], 1.0)
    progress.waiting(1, [TCP], 2.0)
    progress.say("done")
    assert stream.getvalue() == (
        f"\r\x1b[Kwave 1: 1s, waiting for {TCP}\r\x1b[Kwave 1: 2s, waiting for {TCP}\r\x1b[Kdone\n"
    )


def test_plain_progress_prints_changes_and_then_every_so_often() -> None:
    stream = io.StringIO()
    progress = StreamProgress(stream, live=False, plain_every=10.0)
    for elapsed in (0.0, 1.0, 2.0, 11.0):
        progress.waiting(1, [TCP, UDP], elapsed)
    progress.waiting(1, [TCP], 12.0)
    assert stream.getvalue().splitlines() == [
        f"wave 1: 0s, waiting for {TCP}, {UDP}",
        f"wave 1: 11s, waiting for {TCP}, {UDP}",
        f"wave 1: 12s, waiting for {TCP}",
    ]


def test_plan_files_in_json_and_yaml_read_back(tmp_path: Path) -> None:
    plan = two_wave_plan()
    as_json = tmp_path / "plan.json"
    as_json.write_text(json.dumps(plan_to_dict(plan)), encoding="utf-8")
    as_yaml = tmp_path / "plan.yaml"
    as_yaml.write_text(yaml.safe_dump(plan_to_dict(plan)), encoding="utf-8")
    assert plan_digest(read_plan_file(as_json)) == plan_digest(plan)
    assert plan_digest(read_plan_file(as_yaml)) == plan_digest(plan)


def test_a_bad_plan_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("waves: [\n", encoding="utf-8")
    with pytest.raises(InputError, match="plan.yaml: the plan file is not JSON or YAML"):
        read_plan_file(bad)


def test_an_unknown_behaviour_is_one_clear_error() -> None:
    with pytest.raises(
        InputError, match="unknown MetalLB behaviour 'metallb-0.9'; expected one of"
    ):
        apply_plan(seed_plan(), Kubectl(binary="/bin/kubectl"), behavior="metallb-0.9")


# --- planned with no pool known ------------------------------------------------------------------


def _no_pool_plan(tmp_path: Path) -> Plan:
    """A new auto-assigned Service planned with no IPAddressPool anywhere (the pools live only in
    the cluster): the plan holds the stand-in pool's address for it."""
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "web.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: site}\n"
        "spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, protocol: TCP}]}\n",
        encoding="utf-8",
    )
    scenario = build_scenario(load_desired([str(desired)]), live_state_from_yaml("", "empty"))
    assert not scenario.pools_known
    return plan_scenario(scenario, target="metallb-0.15")


def test_a_plan_made_without_pools_waits_for_any_ip_not_the_stand_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _no_pool_plan(tmp_path)
    stand_ins = plan.waves[0].predicted_ips["site/web"]
    assert stand_ins and set(stand_ins) == set(plan.waves[0].expected_ips["site/web"][0])
    assert set(stand_ins.values()) == {(UNKNOWN_POOL,)}
    _, pools = seed_live()  # the cluster's real pool, which the planner never saw
    fake = start_fake(
        tmp_path / "state.json",
        monkeypatch,
        subprocess=False,
        behavior="metallb-0.15",
        services=[],
        pools=pools,
    )
    report = _apply(plan, None, timeout=5.0)
    assert (report.status, report.exit_code) == (WaveStatus.DONE, 0), report
    (ip,) = fake.cluster().ips("site/web")
    assert ip not in stand_ins


def _another_teams_service(ip: str) -> dict[str, Any]:
    """A Service the plan never saw, holding `ip` (another team's, applied meanwhile)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "legacy", "namespace": "other"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


def test_a_new_services_predicted_ip_taken_meanwhile_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statuses known: a new auto-assigned Service is planned at the pool's first free address,
    a prediction. By apply time another Service holds it; MetalLB gives the new one the next,
    and the wave is done (any IP of pool lan), not timed out waiting for the prediction."""
    desired = tmp_path / "desired"
    desired.mkdir()
    auto = site_service()
    del auto["metadata"]["annotations"]  # auto-assigned
    (desired / "web.yaml").write_text(yaml.safe_dump(auto), encoding="utf-8")
    services, pools = seed_live()
    live = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": services + pools})
    scenario = build_scenario(load_desired([str(desired)]), live_state_from_yaml(live, "live"))
    plan = plan_scenario(scenario)
    [[predicted]] = plan.waves[0].expected_ips[SITE]
    assert plan.waves[0].predicted_ips == {SITE: {predicted: ("lan",)}}
    meanwhile = _another_teams_service(predicted)
    fake = start_fake(
        tmp_path / "state.json",
        monkeypatch,
        subprocess=False,
        behavior="metallb-0.15",
        services=[*services, meanwhile],
        pools=pools,
    )
    report = _apply(plan, None, timeout=5.0)
    assert (report.status, report.exit_code) == (WaveStatus.DONE, 0), report
    (ip,) = fake.cluster().ips(SITE)
    assert ip != predicted


def test_a_stand_in_address_matches_any_one_ip_and_a_requested_one_only_itself() -> None:
    unknown = StandIns({UNKNOWN_POOL: pools_from_objects([UNKNOWN_POOL_OBJECT.body])[0]}, {})
    lan = StandIns({"lan": Pool("lan", ("10.0.0.0/24",))}, {})
    stand_in = {"0.0.0.0": (UNKNOWN_POOL,)}
    assert fill(["10.9.0.7"], ("0.0.0.0",), stand_in, unknown) == {"0.0.0.0": "10.9.0.7"}
    assert fill(["10.9.0.7"], ("0.0.0.0",), {}, unknown) is None
    assert fill([], ("0.0.0.0",), stand_in, unknown) is None
    two = ("10.0.0.1", "0.0.0.0")
    assert fill(["10.0.0.1", "fd00::5"], two, stand_in, unknown) == {"0.0.0.0": "fd00::5"}
    assert fill(["10.0.0.2", "fd00::5"], two, stand_in, unknown) is None
    # a prediction from a known pool: any one IP of that pool, none outside it
    predicted = {"10.0.0.7": ("lan",)}
    assert fill(["10.0.0.9"], ("10.0.0.7",), predicted, lan) == {"10.0.0.7": "10.0.0.9"}
    assert fill(["10.9.0.9"], ("10.0.0.7",), predicted, lan) is None


# --- a swap cycle through a detour -----------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["drain", "random"])
@pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15"])
def test_a_detoured_swap_lands_with_nobody_ever_pending(
    make_fake: MakeFake, journal: FileJournal, behavior: str, schedule: str
) -> None:
    # The swap-ips sample on stock MetalLB: blue first moves to a free address, so the swap is
    # a chain, and the simulated cluster never shows either Service without an IP.
    sample = SAMPLES / "swap-ips"
    fake = make_fake(behavior, schedule, seed=3, sample=sample)
    desired = load_desired([str(sample / "desired")])
    live = live_state_from_yaml((sample / "live.yaml").read_text(encoding="utf-8"), "live.yaml")
    plan = plan_scenario(build_scenario(desired, live), target=behavior)
    report = _apply(plan, journal)
    assert (report.status, report.exit_code) == (WaveStatus.DONE, 0)
    cluster = fake.cluster()
    blue, green = "shop/blue", "shop/green"
    assert not cluster.went_pending(blue) and not cluster.went_pending(green)
    assert cluster.statuses(blue)[-3:] == [
        ("192.168.10.30",),
        ("192.168.10.254",),
        ("192.168.10.31",),
    ]
    assert cluster.ips(green) == ("192.168.10.30",)


def test_a_plan_whose_kept_ips_moved_meanwhile_is_refused_before_any_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan made against live statuses (a snapshot, kubectl) and applied later: the seed's pair
    held 192.168.10.53 then, and wave 1 expects both to keep it. Meanwhile another team's
    Service took the address (the pair was recreated), and both are pending. The preconditions
    fingerprint no status: before, apply wrote the wave and waited for an IP that never came."""
    services, pools = seed_live()
    live = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": services + pools})
    desired = load_desired([str(SAMPLES / "seed-dns-local" / "desired")])
    plan = plan_scenario(build_scenario(desired, live_state_from_yaml(live, "live")))
    assert plan.waves[0].expected_ips[TCP] == ((SHARED_IP,),)
    pending = [{**service, "status": {"loadBalancer": {}}} for service in services]
    legacy = _another_teams_service(SHARED_IP)
    fake = start_fake(
        tmp_path / "state.json",
        monkeypatch,
        subprocess=False,
        behavior="metallb-0.15",
        services=[*pending, legacy],
        pools=pools,
    )
    assert fake.cluster().ips(TCP) == fake.cluster().ips(UDP) == ()
    report = _apply(plan, None, timeout=5.0)
    assert (report.status, report.exit_code) == (WaveStatus.REFUSED, 1)
    moved = "the cluster no longer shows the IPs the plan was made against; nothing was written"
    assert report.lines == (
        f"{moved}; make the plan again",
        *(
            f"{svc}: the plan expects it to keep {SHARED_IP}; the cluster shows <pending>"
            for svc in (TCP, UDP)
        ),
    )
    assert fake.arrivals() == []
