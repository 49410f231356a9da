"""`planner plan`, `planner verify` and `planner graph` on the seed sample, in-process."""

from __future__ import annotations

import dataclasses
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from planner.cli import main
from planner.plan.records import content_digest, plan_from_dict
from tests.conftest import SAMPLES

SEED = SAMPLES / "seed-dns-local"
SEED_ARGS = [str(SEED / "desired"), "--live", str(SEED / "live.yaml")]
TCP, UDP = "dns/dns-tcp", "dns/dns-udp"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_prints_the_table_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plan", *SEED_ARGS)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["Wave", "Unit", "Namespace/Name", "Op", "Waits", "for"]
    assert [line.split()[3] for line in lines[1:3]] == [TCP, UDP]
    assert "  nudge for metallb-0.14: dns/dns-tcp, dns/dns-udp" in lines


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_plan_output_json_and_yaml_are_plan_files(
    capsys: pytest.CaptureFixture[str], output: str
) -> None:
    code, out, _ = run(capsys, "plan", *SEED_ARGS, "--output", output)
    assert code == 0
    data = json.loads(out) if output == "json" else yaml.safe_load(out)
    plan = plan_from_dict(data)
    assert [u.kind for u in plan.units] == ["group-transition"]
    assert plan.waves[0].expected_ips == {TCP: (("192.168.10.53",),), UDP: (("192.168.10.53",),)}


def test_plan_output_file_is_written_and_nothing_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "plan.json"
    code, out, _ = run(capsys, "plan", *SEED_ARGS, "--output", "json", "--output-file", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == 2


def test_plan_strategy_recreate_states_the_outage_windows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "plan", *SEED_ARGS, "--strategy", "recreate")
    assert code == 0
    assert "Strategy: recreate." in out
    for behavior in ("fixed", "metallb-0.14", "metallb-0.15"):
        for svc in (TCP, UDP):
            assert (
                f"  {behavior}: {svc} pending in wave 1, from its deletion until it is created "
                "again" in out
            )
    assert [line.split()[4] for line in out.splitlines()[1:5]] == [
        "delete",
        "delete",
        "apply",
        "apply",
    ]


def test_plan_verify_proves_the_plan_on_stderr_then_prints_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "plan", *SEED_ARGS, "--verify")
    assert code == 0
    claims = err.splitlines()
    assert len(claims) == 6 and all(line.startswith("proved") for line in claims)
    assert "fixed         wave 1: no Service is ever pending" in err
    assert out.startswith("Wave")


def test_plan_refuses_a_static_conflict_with_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    clash = SAMPLES / "port-clash"
    code, out, err = run(capsys, "plan", str(clash / "desired"), "--live", str(clash / "live.yaml"))
    assert code == 3 and out == ""
    assert err.startswith("planner: error: cannot plan: port TCP/443 is already in use")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_verify_a_plan_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str
) -> None:
    plan_file = tmp_path / f"plan.{output}"
    assert main(["plan", *SEED_ARGS, "--output", output, "--output-file", str(plan_file)]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, "verify", str(plan_file))
    assert code == 0 and out == ""
    assert len(err.splitlines()) == 6
    assert "metallb-0.14  wave 1: pending exactly: dns/dns-tcp, dns/dns-udp" in err


def test_verify_a_tampered_plan_exits_3_with_a_counterexample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = json.loads(run(capsys, "plan", *SEED_ARGS, "--output", "json")[1])
    data["waves"][0]["nudges"] = {}  # drop the nudge metallb-0.14 needs
    data["digest"] = content_digest(data)  # a wrong plan that passes the edit check
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run(capsys, "verify", str(plan_file))
    assert code == 3
    assert "FAILED  metallb-0.14  wave 1: every written Service ends with an IP" in err
    assert "          schedule: arrive dns/dns-" in err
    assert "<pending>" in err
    assert err.splitlines()[-1] == (
        "planner: error: the plan does not verify: see the FAILED claims above"
    )


def test_a_sampled_verdict_fails_closed_unless_accepted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    assert main(["plan", *SEED_ARGS, "--output", "json", "--output-file", str(plan_file)]) == 0
    capsys.readouterr()
    tiny = ("--max-states", "1")
    code, out, err = run(capsys, "verify", str(plan_file), *tiny)
    assert code == 3 and out == ""
    assert all(line.startswith("held") for line in err.splitlines()[:-1])
    assert "sampled, budget reached after 1 states" in err
    assert err.splitlines()[-1].startswith("planner: error: 6 claim(s) only held on sampled")
    assert err.splitlines()[-1].endswith("pass --accept-sampled to accept a sampled verdict")
    code, _, err = run(capsys, "verify", str(plan_file), *tiny, "--accept-sampled")
    assert code == 0 and "planner: error" not in err
    code, out, _ = run(capsys, "plan", *SEED_ARGS, "--verify", *tiny)
    assert code == 3 and out == ""  # no plan is printed on a sampled proof
    code, out, _ = run(capsys, "plan", *SEED_ARGS, "--verify", *tiny, "--accept-sampled")
    assert code == 0 and out.startswith("Wave")
    code, _, err = run(capsys, "verify", str(plan_file))  # the default budget proves it
    assert code == 0 and all(line.startswith("proved") for line in err.splitlines())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read plan file"),
        ("waves: [unclosed", "not JSON or YAML"),
        ('{"version": 1}', "a plan file of version 1, written before plans recorded"),
        ('{"version": 2}', "not a plan file written by `planner plan`"),
        ("- just\n- a list\n", "not a plan file written by `planner plan`"),
        ('{"version": 7}', "unsupported plan version 7"),
    ],
)
def test_a_bad_plan_file_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, message: str
) -> None:
    plan_file = tmp_path / "plan.yaml"
    if content is not None:
        plan_file.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "verify", str(plan_file))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("planner: error: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("fmt", "first"), [("mermaid", "flowchart TB"), ("dot", "digraph plan {")])
def test_graph_formats(capsys: pytest.CaptureFixture[str], fmt: str, first: str) -> None:
    code, out, _ = run(capsys, "graph", *SEED_ARGS, "--format", fmt)
    assert code == 0
    assert out.splitlines()[0] == first
    assert "dns/dns-tcp" in out and "dns/dns-udp" in out


def test_graph_defaults_to_mermaid_with_a_subgraph_per_wave(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "graph", *SEED_ARGS)
    assert code == 0
    assert '  subgraph wave1["wave 1"]' in out


def test_plan_verify_renders_after_letting_go_of_what_planning_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """When the plan is rendered, the remembered explorations and the scenario are gone: the
    render's text reuses their memory (at 100,000 Services a 344 MB JSON document)."""
    from planner.diff.scenario import Scenario
    from planner.render import plan as render
    from planner.simulate.world import Explorations

    alive: list[int] = []
    original = render.plan_pieces
    kept = (Explorations, Scenario)
    gc.collect()
    # what an earlier test in this worker still holds is not this run's (a flake under xdist)
    before = {id(o) for o in gc.get_objects() if isinstance(o, kept)}

    def counted(*args: Any, **kwargs: Any) -> Iterator[str]:
        gc.collect()
        alive.append(sum(isinstance(o, kept) and id(o) not in before for o in gc.get_objects()))
        return original(*args, **kwargs)

    with mock.patch.object(render, "plan_pieces", new=counted):
        code, out, _ = run(capsys, "plan", *SEED_ARGS, "--verify", "--output", "json")
    assert code == 0 and json.loads(out)["waves"]
    assert alive == [0]


@pytest.mark.parametrize("output", ["json", "yaml", "text"])
def test_the_plan_written_in_pieces_is_the_rendered_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str
) -> None:
    """stdout and --output-file take the plan in pieces as it is written: the same text as
    `render_plan` (for JSON, json.dumps of the plan file's data with indent 2, sorted keys)."""
    from planner.pipeline import load_scenario, plan_scenario
    from planner.plan.records import LiveOrigin, plan_to_dict
    from planner.render.plan import render_plan
    from planner.sources.live import LiveSource

    code, out, _ = run(capsys, "plan", *SEED_ARGS, "--output", output)
    target = tmp_path / "plan.out"
    written = run(capsys, "plan", *SEED_ARGS, "--output", output, "--output-file", str(target))
    scenario = load_scenario([str(SEED / "desired")], LiveSource.file(str(SEED / "live.yaml")))
    the_plan = dataclasses.replace(plan_scenario(scenario), live_source=LiveOrigin("file"))
    assert code == 0 and written[:2] == (0, "")
    assert out == target.read_text(encoding="utf-8") == render_plan(the_plan, output)
    if output == "json":
        assert out == json.dumps(plan_to_dict(the_plan), indent=2, sort_keys=True) + "\n"


def test_a_group_stamped_from_a_git_ref_keeps_its_requested_ip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `--live-git` the live Services have no status. A sharing group the commit touches
    without changing its key is stamped, not simulated: it keeps the IP it requests, which the
    plan states (and `apply` waits for), never `<no IP>`; like the diff, it says that statuses
    were unknown."""
    from tests.sources.conftest import git

    repo = tmp_path / "repo"
    (repo / "apps").mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    for name, protocol in (("dns-tcp", "TCP"), ("dns-udp", "UDP")):
        (repo / "apps" / f"{name}.yaml").write_text(
            "apiVersion: v1\nkind: Service\n"
            f"metadata: {{name: {name}, namespace: dns, annotations: "
            "{metallb.io/allow-shared-ip: dns, metallb.io/loadBalancerIPs: 192.168.10.53}}\n"
            "spec: {type: LoadBalancer, selector: {app: dns}, "
            f"ports: [{{name: dns, port: 53, protocol: {protocol}}}]}}\n"
        )
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dns")
    for path in (repo / "apps").iterdir():  # a new selector: not key-changing under Cluster
        path.write_text(path.read_text().replace("{app: dns}", "{app: dns2}"))
    monkeypatch.chdir(repo)
    code, out, _ = run(capsys, "plan", "apps", "--live-git", "HEAD", "--output", "json")
    assert code == 0
    plan = json.loads(out)
    assert plan["expected_ips"] == [
        {"dns/dns-tcp": [["192.168.10.53"]], "dns/dns-udp": [["192.168.10.53"]]}
    ]
    assert plan["notes"][-1].startswith("live state was read from a git ref, so statuses are")
