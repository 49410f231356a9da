"""planner.apply.journal: fingerprints, matching the plan's own writes, digests, file and ConfigMap journals."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.apply.journal import (
    ConfigMapJournal,
    FileJournal,
    JournalError,
    JournalRecord,
    default_journal_path,
    journal_from_spec,
)
from planner.errors import InputError
from planner.kubectl import Kubectl
from planner.model.group_annotations import NUDGE_ANNOTATION
from planner.plan.fingerprint import (
    ABSENT,
    changed_parts,
    differing_fields,
    live_fingerprint,
    matches_write,
    plan_digest,
)
from planner.plan.units import APPLY, DELETE, Write
from tests.fakes.fake_cluster import start_fake
from tests.fakes.plans import TCP, seed_desired, seed_live, seed_plan, two_wave_plan


def _live_tcp() -> dict[str, Any]:
    services, _ = seed_live()
    return next(s for s in services if s["metadata"]["name"] == "dns-tcp")


def _desired_tcp() -> dict[str, Any]:
    return next(m for m in seed_desired() if m["metadata"]["name"] == "dns-tcp")


# --- live_fingerprint ----------------------------------------------------------------------------


def test_fingerprint_of_nothing_is_absent() -> None:
    assert live_fingerprint(None) == ABSENT


def test_fingerprint_ignores_what_the_cluster_changes_by_itself() -> None:
    live = _live_tcp()
    churned = copy.deepcopy(live)
    churned["status"] = {"loadBalancer": {}}
    churned["metadata"]["resourceVersion"] = "999"
    churned["metadata"]["managedFields"] = [{"manager": "shared-ip-planner"}]
    churned["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] = "other"
    churned["metadata"]["annotations"][NUDGE_ANNOTATION] = "nudged"
    assert live_fingerprint(churned) == live_fingerprint(live)


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("spec", "externalTrafficPolicy", "Local"),
        ("labels", "team", "dns"),
        ("annotations", "metallb.io/allow-shared-ip", "other-key"),
    ],
)
def test_fingerprint_changes_when_someone_changes_intent(where: str, key: str, value: str) -> None:
    live = _live_tcp()
    edited = copy.deepcopy(live)
    target = edited["spec"] if where == "spec" else edited["metadata"].setdefault(where, {})
    target[key] = value
    assert live_fingerprint(edited) != live_fingerprint(live)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=4))
def test_fingerprint_does_not_depend_on_key_order(labels: dict[str, str]) -> None:
    live = _live_tcp()
    forward = copy.deepcopy(live)
    forward["metadata"]["labels"] = dict(labels)
    backward = copy.deepcopy(live)
    backward["metadata"]["labels"] = dict(reversed(list(labels.items())))
    assert live_fingerprint(forward) == live_fingerprint(backward)


# --- matches_write -------------------------------------------------------------------------------


def _as_server_stores(manifest: dict[str, Any]) -> dict[str, Any]:
    """The write as the API server would show it: defaults and allocated fields added."""
    stored = copy.deepcopy(manifest)
    stored["spec"]["clusterIP"] = "10.96.0.9"
    stored["spec"]["ports"][0]["nodePort"] = 31000
    stored["spec"]["healthCheckNodePort"] = 32000
    stored["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] = "lan"
    stored["status"] = {"loadBalancer": {"ingress": [{"ip": "192.168.10.53"}]}}
    return stored


def test_a_written_object_with_server_defaults_matches_its_write() -> None:
    desired = _desired_tcp()
    assert matches_write(_as_server_stores(desired), Write(TCP, APPLY, desired))


def test_the_object_before_the_write_does_not_match_it() -> None:
    assert not matches_write(_live_tcp(), Write(TCP, APPLY, _desired_tcp()))
    assert not matches_write(None, Write(TCP, APPLY, _desired_tcp()))


def test_a_list_of_another_length_does_not_match() -> None:
    desired = _desired_tcp()
    stored = _as_server_stores(desired)
    stored["spec"]["ports"].append({"port": 54, "protocol": "TCP"})
    assert not matches_write(stored, Write(TCP, APPLY, desired))


def test_a_deletion_matches_only_an_absent_object() -> None:
    assert matches_write(None, Write(TCP, DELETE, None))
    assert not matches_write(_live_tcp(), Write(TCP, DELETE, None))


def test_differing_fields_names_the_changed_paths() -> None:
    desired = _desired_tcp()
    stored = _as_server_stores(desired)
    stored["spec"]["externalTrafficPolicy"] = "Cluster"
    assert differing_fields(desired, stored) == ["spec.externalTrafficPolicy"]


# --- plan digest ---------------------------------------------------------------------------------


def test_plan_digest_is_stable_and_tells_plans_apart() -> None:
    assert plan_digest(seed_plan()) == plan_digest(seed_plan())
    assert plan_digest(seed_plan()) != plan_digest(two_wave_plan())
    assert len(plan_digest(seed_plan())) == 64


# --- file journal --------------------------------------------------------------------------------


def test_file_journal_round_trip_and_no_leftover_temporary_files(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path / "j" / "journal.json")
    assert journal.load() is None
    record = JournalRecord("abc").with_finished(2).with_finished(1).with_finished(2)
    journal.save(record)
    assert journal.load() == JournalRecord("abc", (1, 2))
    assert [p.name for p in (tmp_path / "j").iterdir()] == ["journal.json"]


def test_a_file_that_is_not_a_journal_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_text(json.dumps({"version": 1, "plan_digest": "x"}), encoding="utf-8")
    with pytest.raises(InputError, match="not a planner journal.*move it away"):
        FileJournal(path).load()


def test_default_journal_sits_next_to_the_plan_file_or_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_file = tmp_path / "plans" / "plan.json"
    plan_file.parent.mkdir()
    plan_file.write_text("{}", encoding="utf-8")
    digest = "0123456789abcdef" * 4
    expected = tmp_path / "plans" / ".shared-ip-planner" / "journal-0123456789abcdef.json"
    assert default_journal_path(plan_file, digest) == expected
    monkeypatch.chdir(tmp_path)
    assert default_journal_path(None, digest).parent == tmp_path / ".shared-ip-planner"


def test_journal_spec_forms(tmp_path: Path) -> None:
    kubectl = Kubectl(binary="/bin/kubectl")
    default = journal_from_spec(None, "d" * 64, tmp_path / "plan.json", None)
    assert isinstance(default, FileJournal) and default.path.parent.name == ".shared-ip-planner"
    named = journal_from_spec(f"file:{tmp_path}/j.json", "d" * 64, None, None)
    assert isinstance(named, FileJournal) and named.path == tmp_path / "j.json"
    in_cluster = journal_from_spec("configmap:ops/planner", "d" * 64, None, kubectl)
    assert isinstance(in_cluster, ConfigMapJournal)
    assert in_cluster.location == f"configmap ops/planner key journal-{'d' * 16}.json"


@pytest.mark.parametrize("spec", ["configmap:ops", "configmap:/x", "s3:bucket", "file:"])
def test_a_bad_journal_spec_is_one_clear_error(spec: str) -> None:
    with pytest.raises(InputError, match="expected file:PATH or configmap:NAMESPACE/NAME"):
        journal_from_spec(spec, "d" * 64, None, Kubectl(binary="/bin/kubectl"))


# --- ConfigMap journal, through the stand-in kubectl ----------------------------------------------


def test_configmap_journal_keeps_one_key_per_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, pools = seed_live()
    state = tmp_path / "state.json"
    fields = {"behavior": "metallb-0.15", "services": services, "pools": pools}
    start_fake(state, monkeypatch, subprocess=False, **fields)
    kubectl = Kubectl()
    first = ConfigMapJournal(kubectl, "ops", "planner", "a" * 64)
    second = ConfigMapJournal(kubectl, "ops", "planner", "b" * 64)
    assert first.load() is None
    first.save(JournalRecord("a" * 64, (1,)))
    second.save(JournalRecord("b" * 64, (1, 2)))
    assert first.load() == JournalRecord("a" * 64, (1,))
    assert second.load() == JournalRecord("b" * 64, (1, 2))


def test_an_unwritable_journal_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", encoding="utf-8")
    journal = FileJournal(blocker / "journal.json")
    with pytest.raises(JournalError, match="cannot write the journal .*not-a-dir/journal.json"):
        journal.save(JournalRecord("abc", (1,)))


def test_fingerprint_says_which_part_changed() -> None:
    live = _live_tcp()
    relabelled = copy.deepcopy(live)
    relabelled["metadata"]["labels"]["team"] = "dns"
    relabelled["spec"]["sessionAffinity"] = "ClientIP"
    before, after = live_fingerprint(live), live_fingerprint(relabelled)
    assert before.startswith("fp1:")
    assert changed_parts(after, before) == ["spec", "labels"]
    assert changed_parts(before, before) == []
    assert changed_parts(after, "sha256:older-format") == ["spec, labels or annotations"]
