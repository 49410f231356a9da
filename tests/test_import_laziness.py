"""Start-up (issue 17): what a `planner diff` of a small repo leaves unimported or uncompiled,
and that the lazy versions answer as the eager ones did."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from planner.sources import fast_yaml

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "seed-dns-local"

# Run the CLI in a fresh interpreter; print the modules the run imported and which of the
# lazily compiled patterns it compiled.
_PROBE = """
import sys
started = set(sys.modules)
import contextlib, io, json
from planner.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
from planner.sources import fast_yaml as f
compiled = [name for name in ("_unsure_character", "_header", "_line_form")
            if getattr(f, name).cache_info().currsize]
print(json.dumps({"code": code, "modules": sorted(set(sys.modules) - started),
                  "compiled": compiled}))
"""


def _probe(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=ROOT, check=True
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _seed_diff(*extra: str) -> dict[str, object]:
    return _probe("diff", str(SAMPLE / "desired"), "--live", str(SAMPLE / "live.yaml"), *extra)


def test_a_small_diff_neither_imports_yaml_rs_nor_compiles_the_fast_paths_patterns() -> None:
    # The seed sample is a few kB: far below fast_yaml.COMPILE_AFTER_CHARS, so the fast parser
    # (3.6 ms to import) and its patterns (some 5 ms to compile) would be paid for nothing.
    answer = _seed_diff()
    assert answer["code"] == 1
    modules = set(answer["modules"])  # type: ignore[call-overload]
    assert "planner.sources.fast_yaml" in modules  # the probe is not vacuous
    assert "yaml_rs" not in modules
    assert answer["compiled"] == []
    assert not {"networkx", "jsonschema", "ruamel"} & {m.split(".")[0] for m in modules}


_LARGE = """
import sys
from planner.sources import fast_yaml as f
f.expect(f.COMPILE_AFTER_CHARS)
loaded = f.load("a: 1\\nb: x\\n", f.Memo(), 64)
print(loaded.value if loaded else None, "yaml_rs" in sys.modules, f.available())
"""


def test_a_large_input_still_takes_the_fast_path() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LARGE], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.split() == ["{'a':", "1,", "'b':", "'x'}", "True", "True"]


def test_a_hidden_yaml_rs_still_reads_as_unavailable() -> None:
    hidden = "import sys; sys.modules['yaml_rs'] = None; import planner.sources.fast_yaml as f; "
    hidden += "print(f.available(), f.load('a: 1', f.Memo(), 64), f.split_stream('a: 1'))"
    done = subprocess.run(
        [sys.executable, "-c", hidden], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.split() == ["False", "None", "None"]


# The character class fast_yaml rejected before it was split into an ASCII and a full check.
_EAGER_UNSURE = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def test_the_unsure_character_check_answers_as_the_whole_class_did() -> None:
    code_points = [*range(0x3000), *range(0xD700, 0x10000), 0x10000, 0x1F600, 0x10FFFF]
    for code in code_points:
        char = chr(code)
        for text in (char, f"key: {char}\n", f"a\n{char}é"):
            expected = _EAGER_UNSURE.search(text) is not None
            assert fast_yaml.has_unsure_character(text) is expected, hex(code)


def test_a_plan_imports_networkx_only_to_merge_a_cycle() -> None:
    """The waves come from the standard library's graphlib; networkx finds strongly connected
    components, which only a plan with a cycle (an IP swap) has (its import was ~0.15 s)."""
    for sample, has_cycle in (("seed-dns-local", False), ("swap-ips", True)):
        top = ROOT / "samples" / sample
        answer = _probe("plan", str(top / "desired"), "--live", str(top / "live.yaml"))
        assert answer["code"] == 0
        modules = {m.split(".")[0] for m in answer["modules"]}  # type: ignore[attr-defined]
        assert "planner" in modules  # the probe is not vacuous
        assert ("networkx" in modules) == has_cycle, sample
