"""The fuzz test of issue 14: mutated sample repositories through every command, in-process.

Each example copies a sample repository (desired files, a live snapshot, a plan file made from
the unmutated sample, the Flux artifact) and mutates one of them, by structure (YAML trees:
types changed, keys deleted, number/null/boolean keys, deep values, huge integers, control
characters, IPv6 zone ids, YAML aliases and merge keys) or by bytes (YAML tokens, invalid
UTF-8, truncation). Then diff, plan, verify, apply (a plan file, and `--live-kubectl`), annotate,
argocd generate and flux pre-sync run in-process against the simulated cluster, and each must:

- exit 0, 1, 2 or 3 (4 is a crash: the fuzzer found a bug);
- print no traceback;
- on 2: print exactly one line on stderr, write no file and send no write to the cluster;
- annotate: change only annotation lines.

CI runs a few derandomized examples (the same ones every run: it never flakes). Run it longer
with `PLANNER_FUZZ_EXAMPLES=2000` (then the examples are random; hypothesis prints the failing
one and how to reproduce it):

    PLANNER_FUZZ_EXAMPLES=2000 python -m pytest -p no:cacheprovider -n0 tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import planner.apply.engine
from planner.cli import main
from planner.model.group_annotations import GROUP_ANNOTATION_KEYS, GROUP_MEMBERS_ANNOTATION
from planner.plan.records import DIGEST_FIELD, content_digest
from tests.conftest import SAMPLES
from tests.fakes.fake_cluster import FakeCluster, start_fake
from tests.fakes.plans import sample_live
from tests.gitops.test_flux import APP_PATH, SOURCE, SOURCE_KEY, ArtifactServer, git_repository

EXAMPLES_ENV = "PLANNER_FUZZ_EXAMPLES"
CI_EXAMPLES = 12
# Samples with a plain `desired/` directory (the ones every command can read as files).
SAMPLE_NAMES = ("seed-dns-local", "join-group", "swap-ips", "group-split", "dual-stack-group")
BEHAVIOR = "metallb-0.15"
MEANINGFUL = {0, 1, 2, 3}
CLUSTER_WRITES = ("apply", "delete", "annotate")


# --- what a mutation can put into a tree --------------------------------------------------------


@dataclass(frozen=True)
class HugeInt:
    """An integer literal of `digits` nines: written into the text after dumping (Python refuses
    to print ints of more than 4,300 digits, and the planner must refuse them before that)."""

    digits: int


@dataclass(frozen=True)
class Deep:
    """A list nested `depth` times around a value."""

    depth: int


_HUGE = re.compile(r"""['"]?@@HUGE_(\d+)@@['"]?""")

FIELD_NAMES = (
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "spec",
    "type",
    "ports",
    "port",
    "protocol",
    "targetPort",
    "nodePort",
    "selector",
    "loadBalancerIP",
    "loadBalancerClass",
    "clusterIP",
    "clusterIPs",
    "ipFamilies",
    "ipFamilyPolicy",
    "externalTrafficPolicy",
    "status",
    "loadBalancer",
    "ingress",
    "ip",
    "items",
    "addresses",
    "autoAssign",
    "serviceAllocation",
    "resourceVersion",
    "metallb.io/loadBalancerIPs",
    "metallb.io/allow-shared-ip",
    "metallb.io/address-pool",
    "metallb.universe.tf/allow-shared-ip",
    *GROUP_ANNOTATION_KEYS,
    "<<",
)
STRINGS = (
    "",
    " ",
    "fe80::1%eth0",
    "192.168.10.53%eth0",
    "192.168.10.53/24",
    "192.168.10.53",
    "192.168.10.54",
    "::ffff:192.168.10.53",
    "2001:db8::53",
    "192.168.10.53,2001:db8::53",
    "192.168.10.53,192.168.10.54,192.168.10.55",
    "192.168.10.0/24",
    "192.168.10.10-192.168.10.1",
    "0.0.0.0/0",
    "a\nb",
    "\x1b[31mred",
    "line\u2028sep",
    "\x00",
    "-1",
    "0x35",
    "1e400",
    "dns/dns-tcp",
    "dns-192.168.10.53",
    "LoadBalancer",
    "ClusterIP",
    "TCP",
    "UDP",
    "SCTP",
    "Local",
    "Cluster",
    "IPv4",
    "IPv6",
    "RequireDualStack",
    "PreferDualStack",
    "v1",
    "Service",
    "List",
    "IPAddressPool",
    "metallb.io/v1beta1",
    "-n",
    "--kubeconfig=/etc/passwd",
    "a" * 300,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-1, max_value=70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(STRINGS),
    st.text(max_size=12),
    st.builds(HugeInt, st.integers(min_value=19, max_value=5000)),
)
KEYS = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.integers(min_value=-5, max_value=2**40),
    st.none(),
    st.booleans(),
    st.text(max_size=8),
)
VALUES = st.one_of(
    st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3)
        ),
        max_leaves=6,
    ),
    st.builds(Deep, st.integers(min_value=20, max_value=400)),
)

# Text a byte mutation inserts: YAML syntax, tags, aliases, merge keys, encodings.
TOKENS = (
    b"<<: *a\n",
    b"&a ",
    b"*a",
    b"*missing",
    b"!!python/object/apply:os.system ['true']",
    b"!Value",
    b"!!binary AAAA",
    b"!!set {a}",
    b"2024-01-01",
    b"{",
    b"}",
    b"[",
    b"]",
    b"[" * 300,
    b"---\n",
    b"...\n",
    b"%YAML 1.2\n---\n",
    b"\t",
    b"\x00",
    b"\xff\xfe",
    b"\xc3(",
    b"\r",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"'",
    b'"',
    b": ",
    b"- ",
    b"# ",
    b"\xe2\x80\xa8",
    b"\x1b[2J",
    b"9" * 5000,
    b"fe80::1%eth0",
    b"? ",
    b"|\n  x\n",
    b"  ",
)


class _Dumper(yaml.SafeDumper):
    """Anchors only for mappings and lists a mutation shares on purpose (`alias`, `merge`)."""

    def ignore_aliases(self, data: Any) -> bool:
        return not isinstance(data, dict | list)


class MergeKey:
    """The YAML merge key `<<` as a mapping key (a string "<<" would be dumped quoted)."""

    def __repr__(self) -> str:
        return "<<"


MERGE = MergeKey()


def _represent_merge(dumper: yaml.SafeDumper, _value: MergeKey) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:merge", "<<")


def _represent_huge(dumper: yaml.SafeDumper, value: HugeInt) -> yaml.Node:
    return dumper.represent_str(f"@@HUGE_{value.digits}@@")


def _represent_deep(dumper: yaml.SafeDumper, value: Deep) -> yaml.Node:
    nested: Any = "x"
    for _ in range(value.depth):
        nested = [nested]
    return dumper.represent_list(nested)


_Dumper.add_representer(HugeInt, _represent_huge)
_Dumper.add_representer(Deep, _represent_deep)
_Dumper.add_representer(MergeKey, _represent_merge)


def _json_default(value: Any) -> Any:
    if isinstance(value, HugeInt):
        return f"@@HUGE_{value.digits}@@"
    if isinstance(value, Deep):
        nested: Any = "x"
        for _ in range(value.depth):
            nested = [nested]
        return nested
    raise TypeError(type(value).__name__)


def _with_huge_ints(text: str) -> str:
    return _HUGE.sub(lambda match: "9" * int(match.group(1)), text)


# --- structural mutations ------------------------------------------------------------------------

Path_ = tuple[Any, ...]


def _containers(node: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every path to a mapping or a list in `node`, the root included."""
    if isinstance(node, dict | list):
        yield path
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            yield from _containers(child, (*path, key))


def _at(node: Any, path: Path_) -> Any:
    for key in path:
        node = node[key]
    return node


OPS = ("replace", "delete", "insert", "wrap", "unwrap", "duplicate")
YAML_OPS = (*OPS, "alias", "merge")  # what only YAML can write: shared nodes, merge keys


def mutate_tree(docs: list[Any], data: st.DataObject, yaml_features: bool = True) -> list[Any]:
    """`docs` (a list of parsed documents) with one to three structural mutations; with
    `yaml_features`, also anchors and aliases (a sub-tree shared) and merge keys."""
    docs = copy.deepcopy(docs)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        paths = list(_containers(docs))
        path = paths[data.draw(st.integers(min_value=0, max_value=len(paths) - 1), label="at")]
        container = _at(docs, path)
        op = data.draw(st.sampled_from(YAML_OPS if yaml_features else OPS), label="op")
        if op == "merge" and isinstance(container, dict) and len(path) >= 2:
            _merge(docs, path, container, data)
            continue
        keys = (
            list(container.keys()) if isinstance(container, dict) else list(range(len(container)))
        )
        if op == "insert" or not keys:
            if isinstance(container, dict):
                container[data.draw(KEYS, label="key")] = data.draw(VALUES, label="value")
            else:
                container.append(data.draw(VALUES, label="value"))
            continue
        key = keys[data.draw(st.integers(min_value=0, max_value=len(keys) - 1), label="key")]
        if op == "replace":
            container[key] = data.draw(VALUES, label="value")
        elif op == "delete":
            del container[key]
        elif op == "wrap":
            container[key] = [container[key]] if data.draw(st.booleans()) else {"x": container[key]}
        elif op == "unwrap":
            child = container[key]
            values = list(child.values()) if isinstance(child, dict) else child
            container[key] = values[0] if isinstance(child, dict | list) and values else None
        else:  # duplicate (a copy), alias (the same node: an anchor and an alias), merge
            copy_of = container[key] if op != "duplicate" else copy.deepcopy(container[key])
            if isinstance(container, list):
                container.append(copy_of)
            else:
                container[data.draw(KEYS, label="key")] = copy_of
    return docs


def _merge(docs: list[Any], path: Path_, mapping: dict[Any, Any], data: st.DataObject) -> None:
    """Move the first keys of `mapping` into an anchored base it merges (`<<: *base`), the base
    also kept under a top-level key of the document (as `base: &base` files write it)."""
    moved = list(mapping)[: data.draw(st.integers(min_value=0, max_value=len(mapping)))]
    base = {key: mapping[key] for key in moved}
    merged = {MERGE: base, **{k: v for k, v in mapping.items() if k not in moved}}
    _at(docs, path[:-1])[path[-1]] = merged
    document = docs[path[0]]
    if isinstance(document, dict):
        document[f"base{len(path)}"] = base


def dump_yaml(docs: list[Any]) -> bytes:
    text = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return _with_huge_ints(text).encode("utf-8")


def dump_json(doc: Any) -> bytes:
    return _with_huge_ints(json.dumps(doc, default=_json_default)).encode("utf-8")


# --- byte mutations ------------------------------------------------------------------------------


def mutate_bytes(raw: bytes, data: st.DataObject) -> bytes:
    """`raw` with one to four byte-level edits: tokens inserted, ranges cut, bytes replaced."""
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="edits")):
        at = data.draw(st.integers(min_value=0, max_value=len(raw)), label="offset")
        op = data.draw(st.sampled_from(["token", "cut", "byte", "truncate", "line"]), label="op")
        if op == "token":
            raw = raw[:at] + data.draw(st.sampled_from(TOKENS), label="token") + raw[at:]
        elif op == "cut":
            raw = raw[:at] + raw[at + data.draw(st.integers(1, 40), label="length") :]
        elif op == "byte":
            raw = raw[:at] + bytes([data.draw(st.integers(0, 255), label="byte")]) + raw[at + 1 :]
        elif op == "truncate":
            raw = raw[:at]
        else:  # a line repeated: duplicate keys, documents split in two
            start = raw.rfind(b"\n", 0, at) + 1
            end = raw.find(b"\n", at)
            line = raw[start : end + 1 if end >= 0 else len(raw)]
            raw = raw[:start] + line + raw[start:]
    return raw


# --- the repository an example runs on -----------------------------------------------------------


@dataclass
class Repo:
    """A copy of a sample: `desired/`, `live.yaml`, `plan.json` (planned from the unmutated
    sample), and the Flux artifact built from `desired/` (or mutated on its own)."""

    root: Path
    sample: str
    artifact: bytes | None = None

    @property
    def desired(self) -> Path:
        return self.root / "desired"

    @property
    def live(self) -> Path:
        return self.root / "live.yaml"

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    def files(self) -> dict[str, bytes]:
        """Every file under the root, by relative path (what `nothing written` compares)."""
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }


_PLANS: dict[str, bytes] = {}


def _plan_of(sample: str, capsys: pytest.CaptureFixture[str]) -> bytes:
    """The sample's plan file (JSON), made once per run from the unmutated sample."""
    if sample not in _PLANS:
        with tempfile.TemporaryDirectory() as work:
            out = Path(work) / "plan.json"
            argv = ["plan", str(SAMPLES / sample / "desired"), "--live"]
            argv += [str(SAMPLES / sample / "live.yaml"), "-o", "json", "--output-file", str(out)]
            code = main(argv)
            assert code == 0, capsys.readouterr().err
            capsys.readouterr()
            _PLANS[sample] = out.read_bytes()
    return _PLANS[sample]


def _tar_gz(directory: Path) -> bytes:
    """The Flux artifact of a repository whose `APP_PATH` holds `directory`'s files."""
    buffer = io.BytesIO()
    prefix = APP_PATH.removeprefix("./")
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.iterdir()):
            content = path.read_bytes()
            info = tarfile.TarInfo(f"{prefix}/{path.name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


TARGETS = ("desired", "live", "plan", "artifact")


def build_repo(root: Path, data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> Repo:
    """A sample copied under `root` with one of its inputs mutated (drawn from `data`)."""
    sample = data.draw(st.sampled_from(SAMPLE_NAMES), label="sample")
    repo = Repo(root, sample)
    shutil.copytree(SAMPLES / sample / "desired", repo.desired)
    shutil.copy(SAMPLES / sample / "live.yaml", repo.live)
    repo.plan.write_bytes(_plan_of(sample, capsys))
    target = data.draw(st.sampled_from(TARGETS), label="target")
    by_bytes = data.draw(st.booleans(), label="by bytes")
    if target == "artifact":
        tar = gzip.decompress(_tar_gz(repo.desired))
        repo.artifact = gzip.compress(mutate_bytes(tar, data), mtime=0)
        return repo
    if target == "plan":
        path = repo.plan
    elif target == "live":
        path = repo.live
    else:
        path = data.draw(st.sampled_from(sorted(repo.desired.iterdir())), label="file")
    raw = path.read_bytes()
    if by_bytes:
        path.write_bytes(mutate_bytes(raw, data))
    elif target == "plan":
        mutated = mutate_tree([json.loads(raw)], data, yaml_features=False)
        plan = mutated[0] if len(mutated) == 1 else mutated  # none or two: a JSON array
        if isinstance(plan, dict) and data.draw(st.booleans(), label="digest made again"):
            with contextlib.suppress(TypeError, ValueError):  # past the digest, into the checks
                plan[DIGEST_FIELD] = content_digest(plan)
        path.write_bytes(dump_json(plan))
    else:
        path.write_bytes(dump_yaml(mutate_tree(list(yaml.safe_load_all(raw)), data)))
    return repo


# --- running the commands ------------------------------------------------------------------------


class VirtualClock:
    """`time` for the apply engine: sleeping moves the clock on at once, so a wave that never
    converges times out without the test waiting for it."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@dataclass
class Outcome:
    command: str
    code: int
    out: str
    err: str
    cluster_writes: list[list[str]] = field(default_factory=list)


def _cluster_writes(fake: FakeCluster) -> list[list[str]]:
    """Calls that changed the cluster (server-side dry runs change nothing)."""
    return [
        call
        for call in fake.calls()
        if any(verb in call for verb in CLUSTER_WRITES) and "--dry-run=server" not in call
    ]


def _fake(repo: Repo, monkeypatch: pytest.MonkeyPatch, **objects: Any) -> FakeCluster:
    services, pools = sample_live(SAMPLES / repo.sample)
    return start_fake(
        repo.root / "cluster.json",
        monkeypatch,
        subprocess=False,
        behavior=BEHAVIOR,
        services=services,
        pools=pools,
        objects=objects,
    )


def run_command(
    command: str,
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    server: ArtifactServer,
) -> Outcome:
    """One command on `repo`, in-process, with a fresh simulated cluster where it needs one."""
    desired, live, plan = str(repo.desired), str(repo.live), str(repo.plan)
    argv = {
        "diff": ["diff", desired, "--live", live],
        "plan": ["plan", desired, "--live", live, "-o", "json", "--output-file", plan + ".new"],
        "verify": ["verify", plan],
        "apply": ["apply", plan, "--yes", "--timeout", "60s"],
        "apply-live": ["apply", desired, "--live-kubectl", "--yes", "--timeout", "60s"],
        "annotate": ["annotate", desired],
        "argocd": ["argocd", "generate"],
        "flux": ["flux", "pre-sync", "--source", SOURCE, "--path", APP_PATH],
    }[command]
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planner.apply.engine, "time", VirtualClock())
        patch.chdir(repo.desired if command == "argocd" else repo.root)
        fake = None
        if command in ("apply", "apply-live"):
            fake = _fake(repo, patch)
        elif command == "flux":
            body = repo.artifact if repo.artifact is not None else _tar_gz(repo.desired)
            url = server.publish(f"/{repo.root.name}/artifact.tar.gz", body)
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            fake = _fake(repo, patch, **{SOURCE_KEY: git_repository(url, digest)})
        code = main(argv)
        out, err = capsys.readouterr()
        writes = _cluster_writes(fake) if fake is not None else []
    return Outcome(command, code, out, err, writes)


COMMANDS = ("diff", "plan", "verify", "apply", "apply-live", "argocd", "flux", "annotate")


def check_outcome(outcome: Outcome, before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """The rules every command keeps, whatever its input."""
    what = f"{outcome.command} exited {outcome.code}: {outcome.err[-2000:]}"
    assert outcome.code in MEANINGFUL, what
    assert "Traceback" not in outcome.err, what
    if outcome.code != 2:
        return
    assert outcome.err.count("\n") == 1 and outcome.err.startswith("planner: error: "), what
    assert after == before, f"{what}: files changed on exit 2"
    assert outcome.cluster_writes == [], f"{what}: the cluster was written"
    if outcome.command == "argocd":
        assert outcome.out == "", what


# --- annotate changes only annotations -----------------------------------------------------------

_ANNOTATIONS_KEY_LINE = re.compile(
    r"""^\s*(-\s+)?["']?annotations["']?\s*:\s*(\{\s*\}|~|null|Null|NULL)?\s*,?\s*$"""
)


def _ours(line: str) -> bool:
    return any(key in line for key in GROUP_ANNOTATION_KEYS) or bool(
        _ANNOTATIONS_KEY_LINE.match(line)
    )


def _without_ours(node: Any) -> Any:
    """A parsed tree with the planner's annotations (and annotations left empty) taken out."""
    if isinstance(node, list):
        return [_without_ours(child) for child in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "annotations" and isinstance(value, dict | type(None)):
            kept = {k: v for k, v in (value or {}).items() if k not in GROUP_ANNOTATION_KEYS}
            if kept:
                result[key] = kept
            continue
        result[key] = _without_ours(value)
    return result


def check_annotate(outcome: Outcome, before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """Annotate changed only lines of the planner's annotations, and nothing else they mean."""
    assert sorted(after) == sorted(before), "annotate created or removed files"
    for name, old in before.items():
        new = after[name]
        if new == old:
            continue
        old_text, new_text = old.decode("utf-8-sig"), new.decode("utf-8-sig")
        changed = [
            line[2:]
            for line in difflib.ndiff(old_text.splitlines(), new_text.splitlines())
            if line.startswith(("- ", "+ "))
        ]
        assert all(_ours(line) for line in changed), (name, changed)
        old_docs = list(yaml.safe_load_all(old_text))
        new_docs = list(yaml.safe_load_all(new_text))
        assert _without_ours(new_docs) == _without_ours(old_docs), name


# --- the test ------------------------------------------------------------------------------------


def _examples() -> int:
    return int(os.environ.get(EXAMPLES_ENV, "0") or 0) or CI_EXAMPLES


@pytest.fixture(scope="module")
def server() -> Iterator[ArtifactServer]:
    served = ArtifactServer()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


@settings(
    max_examples=_examples(),
    # CI: the same examples every run, never a flake; a longer run explores at random.
    derandomize=not os.environ.get(EXAMPLES_ENV),
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_every_command_survives_mutated_repositories(
    data: st.DataObject, capsys: pytest.CaptureFixture[str], server: ArtifactServer
) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as work:
        repo = build_repo(Path(work), data, capsys)
        for command in COMMANDS:
            before = repo.files()
            outcome = run_command(command, repo, capsys, server)
            after = repo.files()
            event(f"{command} exit {outcome.code}")
            if command == "plan" and outcome.code != 2:
                (repo.root / "plan.json.new").unlink(missing_ok=True)
                after = repo.files()
            check_outcome(outcome, before, after)
            if command == "annotate" and outcome.code in (0, 1):
                check_annotate(outcome, before, after)
            if command in ("apply", "apply-live"):
                shutil.rmtree(repo.root / ".shared-ip-planner", ignore_errors=True)


# --- the checks themselves can fail --------------------------------------------------------------

_MERGED = """\
base: &base
  namespace: dns
  annotations:
    metallb.io/loadBalancerIPs: 192.168.10.53
apiVersion: v1
kind: Service
metadata:
  <<: *base
  name: dns-udp
"""
# What `annotate` wrote before issue 14's fix: the key hides every merged annotation.
_MERGED_ANNOTATED = _MERGED + (
    f"  annotations:\n    {GROUP_MEMBERS_ANNOTATION}: dns/dns-tcp,dns/dns-udp\n"
)


@pytest.mark.parametrize(
    ("outcome", "after", "message"),
    [
        (Outcome("diff", 4, "", "planner: internal error: x\n"), {}, "diff exited 4"),
        (Outcome("plan", 1, "", "Traceback (most recent call last):\n"), {}, "Traceback"),
        (Outcome("verify", 2, "", "planner: error: a\nb\n"), {}, "verify exited 2"),
        (Outcome("annotate", 2, "", "planner: error: a\n"), {"a.yaml": b"y"}, "files changed"),
        (
            Outcome("apply", 2, "", "planner: error: a\n", [["kubectl", "apply"]]),
            {},
            "the cluster was written",
        ),
        (Outcome("argocd", 2, "kind: Service\n", "planner: error: a\n"), {}, "argocd exited 2"),
    ],
)
def test_each_rule_fails_a_command_that_breaks_it(
    outcome: Outcome, after: dict[str, bytes], message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        check_outcome(outcome, {}, after)


def test_annotate_dropping_merged_annotations_fails_the_check() -> None:
    """The lines added are all annotation lines, yet the file no longer means what it did."""
    outcome = Outcome("annotate", 0, "", "")
    with pytest.raises(AssertionError, match="a.yaml"):
        check_annotate(
            outcome, {"a.yaml": _MERGED.encode()}, {"a.yaml": _MERGED_ANNOTATED.encode()}
        )
    with pytest.raises(AssertionError, match="kind: List"):
        check_annotate(
            outcome,
            {"a.yaml": _MERGED.encode()},
            {"a.yaml": _MERGED.replace("Service", "List").encode()},
        )
