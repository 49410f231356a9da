"""JSON live snapshots (`kubectl get -o json`, *.json files, JSON on stdin): the same live
state and the same diff as the YAML snapshot they were converted from (issue 17)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main
from planner.errors import InputError, Origin
from planner.sources.documents import parse_snapshot
from planner.sources.live import load_live_file, load_live_kubectl
from tests.sources.conftest import write
from tests.sources.test_live import KUBECTL_LIST

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
WITH_LIVE = sorted(p.parent.name for p in SAMPLES.glob("*/live.yaml"))


def _as_json(yaml_text: str) -> str:
    """What `kubectl get ... -o json` prints for the same objects: one List."""
    documents = [d for d in yaml.safe_load_all(yaml_text) if d is not None]
    single = len(documents) == 1 and str(documents[0].get("kind", "")).endswith("List")
    body = documents[0] if single else {"apiVersion": "v1", "kind": "List", "items": documents}
    return json.dumps(body, indent=4) + "\n"


def _diff_report(desired: Path, live: Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["diff", str(desired), "--live", str(live), "--output", "json"])
    report = json.loads(out.getvalue())
    report.pop("live_source")  # names the file, which differs by design
    return code, report


@pytest.mark.parametrize("sample", WITH_LIVE)
def test_a_json_snapshot_gives_the_same_live_state_and_diff(sample: str, tmp_path: Path) -> None:
    live_yaml = SAMPLES / sample / "live.yaml"
    live_json = write(tmp_path / "live.json", _as_json(live_yaml.read_text()))
    from_yaml, from_json = load_live_file(str(live_yaml)), load_live_file(str(live_json))
    assert [o.body for o in from_json.objects] == [o.body for o in from_yaml.objects]
    assert from_json.services.keys() == from_yaml.services.keys()
    desired = SAMPLES / sample / "desired"
    if desired.is_dir():
        assert _diff_report(desired, live_json) == _diff_report(desired, live_yaml)


def test_json_on_stdin_is_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(_as_json(KUBECTL_LIST)))
    live = load_live_file("-")
    assert list(live.services) == ["dns/dns-tcp"]
    assert live.objects[0].origin == Origin("<stdin>", 0, 1)  # items carry the List's line


def test_a_snapshot_that_is_not_json_is_read_as_yaml() -> None:
    flow = parse_snapshot("{apiVersion: v1, kind: Service, metadata: {name: a}}\n", "snap")
    assert [d.body["metadata"]["name"] for d in flow.documents] == ["a"]
    with pytest.raises(InputError, match="malformed YAML"):
        parse_snapshot('{"kind": ', "snap")  # YAML reports what is wrong


def test_load_live_kubectl_parses_kubectls_json(
    tmp_path: Path, fake_bin: Callable[..., Path]
) -> None:
    snapshot = write(tmp_path / "snapshot.json", _as_json(KUBECTL_LIST))
    fake_bin("kubectl", f"cat {snapshot}\n")
    from_json = load_live_kubectl()
    from_yaml = load_live_file(str(write(tmp_path / "snapshot.yaml", KUBECTL_LIST)))
    assert [o.body for o in from_json.objects] == [o.body for o in from_yaml.objects]
