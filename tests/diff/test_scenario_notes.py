"""The notes a scenario carries from its sources: said once, whichever side repeats them."""

from __future__ import annotations

import pytest

from planner.diff.scenario import build_scenario
from planner.sources.states import DesiredState, LiveState

SKIPPED = "apps/db/secret.yaml: document 1, line 1: skipped a document SOPS encrypted whole"
FETCHED = "apps/dns/hr.yaml: document 1, line 1: HelmRelease dns/dns rendered from x 1.2.0"


OPTIONS = "Argo CD's kustomize builds use the build options `--enable-helm` ({}values.yaml)"


def notes_of(desired: list[str], live: list[str], from_git: bool) -> tuple[str, ...]:
    state = LiveState(
        [], {}, [], {}, from_git=from_git, notes=live, ref="HEAD~1" if from_git else ""
    )
    return build_scenario(DesiredState([], notes=desired), state).source_notes


def test_a_note_the_git_ref_repeats_is_said_once() -> None:
    """charts16 and sulibot/home-ops: the same chart fetched, the same document skipped, at
    both refs, was two notes (the second naming `HEAD~1:` files)."""
    live = [f"HEAD~1:{SKIPPED}", f"HEAD~1:{FETCHED}".replace("1.2.0", "1.1.0")]
    notes = notes_of([SKIPPED, FETCHED], live, from_git=True)
    # the chart's version differs between the refs: both are said
    assert notes[:3] == (SKIPPED, FETCHED, f"HEAD~1:{FETCHED}".replace("1.2.0", "1.1.0"))


def test_a_note_naming_a_file_at_the_git_ref_inside_it_is_said_once() -> None:
    """argocm17: the same Argo CD build options, read at both refs, named their file inside the
    note (`(HEAD~1:values.yaml)`), so the note was said twice."""
    notes = notes_of([OPTIONS.format("")], [OPTIONS.format("HEAD~1:")], from_git=True)
    assert notes.count(OPTIONS.format("")) == 1
    assert OPTIONS.format("HEAD~1:") not in notes


@pytest.mark.parametrize("from_git", [True, False])
def test_notes_of_the_live_side_alone_stay(from_git: bool) -> None:
    live = ["the live state holds no Kustomization: 1 desired object was not compared"]
    assert notes_of([SKIPPED], live, from_git)[:2] == (SKIPPED, live[0])
