"""Services of another loadBalancerClass in the pipeline: in the diff, in no sharing group, no
prediction, no static conflict and no plan unit; `--lb-class` on diff, plan and graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from planner.cli import main
from planner.pipeline import DiffOptions, build_report, load_scenario, plan_scenario
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES

SEED = SAMPLES / "seed-dns-local"
OTHER_CLASS = "example.com/other-lb"
EXT = "dns/dns-ext"


def _ext(lb_class: str | None) -> dict[str, object]:
    """A new Service that, were it MetalLB's, would join dns-tcp's IP and clash on TCP 53."""
    spec: dict[str, object] = {
        "type": "LoadBalancer",
        "selector": {"app.kubernetes.io/name": "coredns"},
        "ports": [{"name": "dns", "port": 53, "protocol": "TCP"}],
    }
    if lb_class is not None:
        spec["loadBalancerClass"] = lb_class
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "dns-ext",
            "namespace": "dns",
            "annotations": {
                "metallb.io/allow-shared-ip": "dns-192.168.10.53",
                "metallb.io/loadBalancerIPs": "192.168.10.53",
            },
        },
        "spec": spec,
    }


@pytest.fixture
def seed_with_ext(tmp_path: Path) -> Path:
    """The seed sample plus dns-ext of another class in its desired state."""
    shutil.copytree(SEED, tmp_path / "seed")
    (tmp_path / "seed" / "desired" / "ext.yaml").write_text(yaml.safe_dump(_ext(OTHER_CLASS)))
    return tmp_path / "seed"


def _report(sample: Path, lb_class: str = "") -> object:
    live = LiveSource.file(str(sample / "live.yaml"))
    return build_report([str(sample / "desired")], live, DiffOptions(lb_class=lb_class))


def test_a_service_of_another_class_is_in_the_diff_only(seed_with_ext: Path) -> None:
    live = LiveSource.file(str(seed_with_ext / "live.yaml"))
    report = build_report([str(seed_with_ext / "desired")], live, DiffOptions())
    assert any(c.key.svc_key == EXT and c.op == "create" for c in report.changes)
    assert all(EXT not in g.members for g in report.groups)
    assert all(EXT not in c.objects for c in report.conflicts)
    for prediction in report.predictions.values():
        assert all(f.service != EXT for f in prediction.fates)
    scenario = load_scenario([str(seed_with_ext / "desired")], live)
    assert scenario.unhandled_services == (EXT,)
    plan = plan_scenario(scenario)
    assert all(EXT not in unit.services for wave in plan.waves for unit in wave.units)


def test_the_same_service_without_a_class_is_metallbs(tmp_path: Path) -> None:
    # The control: without its class, dns-ext clashes with dns-tcp on TCP 53 (a static conflict).
    shutil.copytree(SEED, tmp_path / "seed")
    (tmp_path / "seed" / "desired" / "ext.yaml").write_text(yaml.safe_dump(_ext(None)))
    live = LiveSource.file(str(tmp_path / "seed" / "live.yaml"))
    report = build_report([str(tmp_path / "seed" / "desired")], live, DiffOptions())
    assert any(EXT in c.objects for c in report.conflicts if c.severity == "error")


def test_lb_class_makes_that_class_metallbs_and_the_rest_not(seed_with_ext: Path) -> None:
    live = LiveSource.file(str(seed_with_ext / "live.yaml"))
    scenario = load_scenario([str(seed_with_ext / "desired")], live, lb_class=OTHER_CLASS)
    assert scenario.unhandled_services == ("dns/dns-tcp", "dns/dns-udp")
    assert set(scenario.desired_services) == {EXT}
    assert scenario.live_services == {}
    report = build_report([str(seed_with_ext / "desired")], live, DiffOptions(lb_class=OTHER_CLASS))
    assert all("dns/dns-tcp" not in g.members for g in report.groups)


def test_the_cli_passes_lb_class_down(
    seed_with_ext: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(seed_with_ext / "desired"), "--live", str(seed_with_ext / "live.yaml")]
    main(["plan", *args, "-o", "json"])
    plain = json.loads(capsys.readouterr().out)
    main(["plan", *args, "-o", "json", "--lb-class", OTHER_CLASS])
    classed = json.loads(capsys.readouterr().out)

    def planned(plan: dict[str, object]) -> set[str]:
        waves = plan["waves"]
        assert isinstance(waves, list)
        return {s for wave in waves for unit in wave["units"] for s in unit["services"]}

    assert planned(plain) == {"dns/dns-tcp", "dns/dns-udp"}
    assert planned(classed) == {EXT}  # under its class only dns-ext is MetalLB's
    code = main(["diff", *args, "-o", "json", "--lb-class", OTHER_CLASS])
    assert code in (0, 1)
    diff = json.loads(capsys.readouterr().out)
    assert all("dns/dns-tcp" not in g["members"] for g in diff["groups"])
    assert main(["graph", *args, "--lb-class", OTHER_CLASS]) == 0


def _every_service_classed(tmp_path: Path) -> Path:
    """The seed sample with both Services, desired and live, of OTHER_CLASS."""
    sample = tmp_path / "classed"
    shutil.copytree(SEED, sample)
    for path in [sample / "live.yaml", *sorted((sample / "desired").glob("*.yaml"))]:
        documents = list(yaml.safe_load_all(path.read_text()))
        for document in documents:
            for item in document.get("items", [document]):
                if item.get("kind") == "Service":
                    item["spec"]["loadBalancerClass"] = OTHER_CLASS
        path.write_text(yaml.safe_dump_all(documents))
    return sample


def test_under_its_own_class_a_group_is_stamped_and_planned_as_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MetalLB started with `--lb-class X` treats a group of class X as it treats a group
    without a class when it runs without one: the same group-wide annotations, the same plan."""
    classed = _every_service_classed(tmp_path)

    def stamped(sample: Path, lb_class: str) -> dict[str, dict[str, str]]:
        live = LiveSource.file(str(sample / "live.yaml"))
        scenario = load_scenario([str(sample / "desired")], live, lb_class=lb_class)
        return {
            svc: {k: v for k, v in m["metadata"]["annotations"].items() if "planner" in k}
            for svc, m in scenario.stamped_services.items()
        }

    plain = stamped(SEED, "")
    assert plain and all(plain.values())
    assert stamped(classed, OTHER_CLASS) == plain

    def plan(sample: Path, *flags: str) -> list[object]:
        """Per unit: its kind, members, and each object's annotations (the group's), and the
        plan's predictions and expected IPs (the manifests differ by their class only)."""
        args = [str(sample / "desired"), "--live", str(sample / "live.yaml"), "-o", "json"]
        main(["plan", *args, *flags])
        planned = json.loads(capsys.readouterr().out)
        units = [
            (
                u["kind"],
                u["members"],
                [o["object"]["metadata"]["annotations"] for o in u["objects"]],
            )
            for wave in planned["waves"]
            for u in wave["units"]
        ]
        return [units, planned["predictions"], planned["expected_ips"]]

    assert plan(classed, "--lb-class", OTHER_CLASS) == plan(SEED)
