"""Pools kept somewhere else (issue 13, section 1): `argocd generate` finds them as `diff` does,
and `plan` never shows the stand-in pool's addresses when no pool is known."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from planner.errors import InputError
from planner.gitops.argocd import generate, read_context
from planner.pipeline import load_scenario, plan_scenario
from planner.render.plan import UNKNOWN_POOL_IP, render_plan
from planner.sources.live import LiveSource, load_live_file

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: gateway, namespace: web}
spec:
  type: LoadBalancer
  loadBalancerIP: 10.0.0.5
  selector: {app: gateway}
  ports: [{name: https, port: 443, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: dashboard, namespace: web}
spec:
  type: LoadBalancer
  selector: {app: dashboard}
  ports: [{name: http, port: 80, protocol: TCP}]
"""
# The gateway's address is in a pool nobody is auto-assigned from: the dashboard never waits for it.
POOLS = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.168.1.0/24]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dmz, namespace: metallb-system}
spec:
  addresses: [10.0.0.0/24]
  autoAssign: false
"""
# Another cluster's pool in the same repository, read first (sorted by path): it makes the
# gateway's address auto-assignable, and the home cluster's `dmz` clashes with it and is left out.
OTHER_CLUSTER = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: edge, namespace: metallb-system}
spec:
  addresses: [10.0.0.0/24]
"""
EMPTY_LIVE = "apiVersion: v1\nkind: List\nitems: []\n"


def _repo(tmp_path: Path, pools: dict[str, str]) -> Path:
    """A repository copy (a `.git` marks its root) with the app in apps/web and `pools` files."""
    (tmp_path / ".git").mkdir(parents=True)
    app = tmp_path / "apps" / "web"
    app.mkdir(parents=True)
    (app / "services.yaml").write_text(SERVICES)
    for relative, text in pools.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "live.yaml").write_text(EMPTY_LIVE)
    return app


def _waves(stream: str) -> dict[str, int]:
    """Service name → its sync wave in the generated stream (0 when it carries none)."""
    return {
        doc["metadata"]["name"]: int(doc["metadata"].get("annotations", {}).get(SYNC_WAVE, 0))
        for doc in yaml.safe_load_all(stream)
        if doc["kind"] == "Service"
    }


def _generate(app: Path, **parameters: str) -> str:
    environ = {"ARGOCD_APP_SOURCE_PATH": "apps/web"}
    environ |= {f"PARAM_{name.upper()}_0": value for name, value in parameters.items()}
    return generate(app, read_context(environ))


def _plan_waves(app: Path, pools: list[str]) -> dict[str, int]:
    live = LiveSource.file(str(app.parents[1] / "live.yaml"))
    plan = plan_scenario(load_scenario([str(app)], live, pools=pools))
    return {w.service.split("/")[1]: wave.index - 1 for wave in plan.waves for w in wave.writes}


def test_argocd_generate_reads_the_pools_anywhere_in_the_repository(tmp_path: Path) -> None:
    app = _repo(tmp_path, {"infra/metallb/pools.yaml": POOLS})
    waves = _waves(_generate(app))
    assert waves == {"gateway": 0, "dashboard": 0}
    # the same order as `planner plan --pools infra/metallb`
    assert _plan_waves(app, [str(tmp_path / "infra/metallb")]) == waves


def test_without_the_pools_the_dashboard_waits_for_the_requested_address(tmp_path: Path) -> None:
    app = _repo(tmp_path, {})
    assert _waves(_generate(app)) == {"gateway": 0, "dashboard": 1}


def test_the_pools_parameter_narrows_the_repository_to_its_paths(tmp_path: Path) -> None:
    app = _repo(
        tmp_path,
        {"clusters/home/pools.yaml": POOLS, "clusters/edge/pools.yaml": OTHER_CLUSTER},
    )
    # the edge cluster's pool makes 10.0.0.5 auto-assignable: the dashboard waits for it
    assert _waves(_generate(app)) == {"gateway": 0, "dashboard": 1}
    assert _waves(_generate(app, pools="../../clusters/home")) == {"gateway": 0, "dashboard": 0}


def test_a_pools_path_outside_the_repository_is_refused(tmp_path: Path) -> None:
    app = _repo(tmp_path / "repo", {})
    with pytest.raises(InputError, match="pools path `../../../x` lies outside the repository"):
        _generate(app, pools="../../../x")


def test_a_pools_path_that_does_not_exist_is_one_error(tmp_path: Path) -> None:
    app = _repo(tmp_path, {})
    with pytest.raises(InputError, match="does not exist"):
        _generate(app, pools="../../nowhere")


# --- plan: no pool known ------------------------------------------------------------------------


def test_plan_names_an_auto_assigned_address_as_from_an_unknown_pool(tmp_path: Path) -> None:
    app = _repo(tmp_path, {})
    plan = plan_scenario(load_scenario([str(app)], LiveSource.file(str(tmp_path / "live.yaml"))))
    text = render_plan(plan, "text")
    assert f"  web/dashboard: {UNKNOWN_POOL_IP}\n" in text
    assert "  web/gateway: 10.0.0.5\n" in text  # a requested address is the user's own
    assert "0.0.0.0" not in text
    first = text.splitlines()[0]
    assert first.startswith("Note: no MetalLB pool is known")
    assert text.count("no MetalLB pool is known") == 1


def test_plan_shows_real_addresses_when_a_pool_is_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _repo(tmp_path, {"infra/pools.yaml": POOLS})
    live = str(tmp_path / "live.yaml")
    assert main(["plan", str(app), "--live", live, "--pools", str(tmp_path / "infra")]) == 0
    out = capsys.readouterr().out
    # a new auto-assigned Service's address is the model's prediction, in its real pool
    shown = [f"  web/dashboard: any IP of pool lan (predicted 192.168.1.{n})\n" for n in (0, 1)]
    assert any(line in out for line in shown), out
    assert UNKNOWN_POOL_IP not in out
    assert "no MetalLB pool is known" not in out


def test_with_live_state_the_plan_is_made_with_the_repositorys_pools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_module = importlib.import_module("planner.gitops.argocd.generate")
    app = _repo(tmp_path, {"infra/metallb/pools.yaml": POOLS})
    seen: list[str] = []
    real_live_plan = generate_module.live_plan

    def recording(*args: Any, **kwargs: Any) -> Any:
        planned = real_live_plan(*args, **kwargs)
        seen.extend(o.key.name for o in args[3])
        return planned

    monkeypatch.setattr(generate_module, "live_plan", recording)
    live = load_live_file(str(tmp_path / "live.yaml"))
    stream = generate(app, read_context({"ARGOCD_APP_SOURCE_PATH": "apps/web"}), live=live)
    assert _waves(stream) == {"gateway": 0, "dashboard": 0}
    assert sorted(seen) == ["dmz", "lan"]


AUTO_GROUP = """\
apiVersion: v1
kind: Service
metadata: {name: syncthing-tcp, namespace: sync, annotations: {metallb.io/allow-shared-ip: sync}}
spec:
  type: LoadBalancer
  selector: {app: syncthing}
  ports: [{name: sync-tcp, port: 22000, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: syncthing-udp, namespace: sync, annotations: {metallb.io/allow-shared-ip: sync}}
spec:
  type: LoadBalancer
  selector: {app: syncthing}
  ports: [{name: sync-udp, port: 22000, protocol: UDP}]
"""


@pytest.mark.parametrize("output", ["text", "markdown"])
def test_diff_names_a_predicted_group_address_as_from_an_unknown_pool(
    tmp_path: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "syncthing.yaml").write_text(AUTO_GROUP)
    (tmp_path / "live.yaml").write_text(EMPTY_LIVE)
    argv = ["diff", str(tmp_path / "app"), "--live", str(tmp_path / "live.yaml"), "-o", output]
    assert main([*argv, "--color", "never"] if output == "text" else argv) == 1
    out = capsys.readouterr().out
    assert "0.0.0.0" not in out
    assert f"{UNKNOWN_POOL_IP}</b> (predicted)" in out or f"on {UNKNOWN_POOL_IP} (predicted)" in out
    # with a pool, the same group shows the pool's address
    (tmp_path / "app" / "pool.yaml").write_text(POOLS)
    assert main([*argv, "--color", "never"] if output == "text" else argv) == 1
    out = capsys.readouterr().out
    assert UNKNOWN_POOL_IP not in out
    assert "192.168.1.0 (predicted)" in out or "192.168.1.0</b> (predicted)" in out
