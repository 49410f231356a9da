"""The in-process fake answers as the stand-in executable does, without replaying its log."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import planner.kubectl
from planner.errors import ToolFailedError
from planner.kubectl import Kubectl
from planner.tools import redact_argv, stderr_tail
from tests.fakes.fake_cluster import (
    InProcessFake,
    build_cluster,
    main,
    new_state,
    start_fake,
)
from tests.fakes.plans import SHARED_IP, TCP, UDP, seed_desired, seed_live


def _fields(faults: Mapping[str, object], schedule: str = "random") -> dict[str, Any]:
    """`new_state`'s fields: the seed's live state under metallb-0.14."""
    services, pools = seed_live()
    return {
        "behavior": "metallb-0.14",
        "services": services,
        "pools": pools,
        "schedule": schedule,
        "seed": 3,
        "faults": copy.deepcopy(dict(faults)),
    }


def _exercise(kubectl: Kubectl) -> list[object]:
    """A run of calls of every kind, a failing apply among them; what each answered (parsed JSON
    compared as values: the executable's state file sorts keys, memory keeps insertion order)."""
    desired = {f"{m['metadata']['namespace']}/{m['metadata']['name']}": m for m in seed_desired()}
    answers: list[object] = [kubectl.server_dry_run([desired[TCP], desired[UDP]])]
    for svc in (TCP, UDP):
        try:
            answers.append(kubectl.apply(desired[svc]))
        except ToolFailedError as err:
            answers.append(f"failed: {err}")
    answers.append(kubectl.get_services([TCP, UDP, "dns/absent"]))
    answers.append(kubectl.nudge(TCP, "example.com/nudge", "1"))
    answers.append(kubectl.put_configmap("ops", "journal", {"k": "v"}))
    answers.append(kubectl.get_configmap("ops", "journal"))
    answers.append(kubectl.get_live_state_yaml())
    answers.append(kubectl.delete(UDP))
    answers.append(kubectl.get_services([TCP, UDP]))
    return answers


def _replaying_runner(argv: Sequence[str], *, stdin: str | None = None) -> str:
    """The stand-in executable's `main` (state file, log replayed per call) minus the process:
    the process boundary itself is covered by the tests marked `kubectl_subprocess`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv[1:]), stdin or "")
    if code != 0:
        raise ToolFailedError(redact_argv(argv), code, stderr_tail(err.getvalue().encode()))
    return out.getvalue()


def test_in_memory_answers_and_state_equal_the_state_files_replayed_per_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = {"fail_apply": {"service": UDP, "times": 1}}
    in_file = start_fake(tmp_path / "a.json", monkeypatch, subprocess=True, **_fields(faults))
    by_file = _exercise(Kubectl(runner=_replaying_runner))
    in_memory = start_fake(tmp_path / "b.json", monkeypatch, subprocess=False, **_fields(faults))
    by_memory = _exercise(Kubectl())
    assert isinstance(in_memory, InProcessFake) and not isinstance(in_file, InProcessFake)
    assert by_memory == by_file
    failed = [a for a in by_memory if isinstance(a, str) and a.startswith("failed: `")]
    assert len(failed) == 1 and "injected fault" in failed[0]
    assert in_memory.state() == in_file.state()
    assert in_memory.cluster().store == in_file.cluster().store


def test_the_cluster_kept_in_memory_equals_the_replayed_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake(tmp_path / "state.json", monkeypatch, subprocess=False, **_fields({}))
    _exercise(Kubectl())
    replayed = build_cluster(fake.state())
    live = fake.cluster()
    assert live.store == replayed.store and live.queue == replayed.queue
    assert live.history == replayed.history
    assert live.statuses(TCP)[0] == (SHARED_IP,)


def test_the_seam_is_used_only_by_kubectls_without_their_own_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake(tmp_path / "state.json", monkeypatch, subprocess=False, **_fields({}))
    assert isinstance(fake, InProcessFake) and planner.kubectl.run_kubectl == fake.run
    Kubectl().get_services([TCP])
    own = Kubectl(runner=lambda argv, stdin=None: '{"kind": "List", "items": []}')
    assert own.get_services([TCP]) == {TCP: None}
    assert len(fake.calls("get")) == 1  # the second Kubectl never reached the fake
    assert not fake.state_path.exists()  # in-process: no state file to go stale


def test_a_caller_changing_its_manifest_later_does_not_change_the_log(tmp_path: Path) -> None:
    fake = InProcessFake(tmp_path / "state.json", new_state(**_fields({}, "drain")))
    services, _ = seed_live()
    edited = copy.deepcopy(services[0])
    fake.edit_service(edited)
    edited["spec"]["ports"] = []
    assert fake.state()["log"][0]["manifest"]["spec"]["ports"]


def test_blocking_needs_the_stand_in_executable(tmp_path: Path) -> None:
    block = {"on": "apply", "nth": 1, "marker": str(tmp_path / "blocked")}
    with pytest.raises(ValueError, match="needs the stand-in kubectl as a subprocess"):
        InProcessFake(tmp_path / "state.json", new_state(**_fields({"block": block})))
    fake = InProcessFake(tmp_path / "state.json", new_state(**_fields({})))
    with pytest.raises(ValueError, match="needs the stand-in kubectl as a subprocess"):
        fake.set_faults(block=block)
