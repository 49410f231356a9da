"""A pass's refusals kept as one record (planner/model/events.py: Refusals, EventLog,
PassResults, EventTexts): read as a log, results or warnings, each is exactly the list of the
events and answers it stands for, however the entries were mixed, sliced or copied."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model.events import (
    Event,
    EventLog,
    EventTexts,
    HolderNames,
    PassResults,
    Refusals,
    Result,
    SameAnswers,
)

KEYS = [f"ns/s{i}" for i in range(6)]


def _refusals(keys: list[str], version: int) -> Refusals:
    heads = {key: f'Failed to allocate IP for "{key}": in use by ' for key in keys}
    names = HolderNames.of(["ns/x", "ns/y"][: version % 3])
    return Refusals(heads, names, "AllocationFailed", "error_no_retry", version)


# One entry: a single event, or a pass's refusals of some Services (in a drawn order).
_ENTRIES = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from(KEYS), st.integers(0, 5)),
        st.tuples(
            st.just("refusals"), st.lists(st.sampled_from(KEYS), unique=True), st.integers(0, 5)
        ),
    ),
    max_size=12,
)


def _logged(entries: list[Any]) -> tuple[EventLog, list[tuple[int, Event]]]:
    """The entries logged as the cluster does, and the plain list of (step, event) they are."""
    log, plain = EventLog(), []
    for step, (kind, what, number) in enumerate(entries):
        if kind == "event":
            event = Event(what, "Normal", "IPAllocated", f"Assigned IP {number}")
            log.append((step, event))
            plain.append((step, event))
        elif what:
            refusals = _refusals(what, number)
            log.add_refusals(step, refusals)
            plain.extend((step, refusals.event(key)) for key in what)
    return log, plain


@settings(max_examples=200, deadline=None)
@given(entries=_ENTRIES, cut=st.integers(-15, 15))
def test_a_log_with_refusals_reads_as_the_list_of_its_events(entries: list[Any], cut: int) -> None:
    """Length, iteration, indexing, tail slices and copies are the plain list's."""
    log, plain = _logged(entries)
    assert len(log) == len(plain)
    assert list(log) == plain and log == plain and log == log.copy()
    assert log[cut:] == plain[cut:]
    assert log[:cut] == plain[:cut]
    if -len(plain) <= cut < len(plain):
        assert log[cut] == plain[cut]
    twin = log.copy()
    twin.append((99, Event("ns/s0", "Normal", "IPAllocated", "again")))
    assert list(log) == plain  # a copy's entries are its own
    assert EventLog(log._entries) == log


@settings(max_examples=200, deadline=None)
@given(entries=_ENTRIES)
def test_pass_results_read_as_the_pairs_they_stand_for(entries: list[Any]) -> None:
    """A pass's results with refusals and same answers in them: the (Service, Result) pairs."""
    parts: list[Any] = []
    plain: list[tuple[str, Result]] = []
    for kind, what, number in entries:
        if kind == "event":
            result = Result("success" if number % 2 else "error")
            parts.append((what, result))
            plain.append((what, result))
        elif number % 2:
            answer = Result("success")
            parts.append(SameAnswers(what, answer))
            plain.extend((key, answer) for key in what)
        elif what:
            refusals = _refusals(what, number)
            parts.append(refusals)
            plain.extend(
                (key, Result.of("error_no_retry", None, (refusals.event(key),))) for key in what
            )
    results = PassResults(parts)
    assert len(results) == len(plain)
    assert results == tuple(plain) and tuple(plain) == results
    assert list(results) == plain
    if plain:
        assert results[-1] == plain[-1]


def test_warnings_name_their_service_in_a_pass_s_refusals() -> None:
    """A Service's warnings may hold a pass's Refusals, read as that Service's event."""
    refusals = _refusals(["ns/a", "ns/b"], 1)
    own = Event("ns/b", "Warning", "AllocationFailed", "earlier")
    texts = EventTexts([own, refusals], "ns/b")
    expected = [
        "AllocationFailed: earlier",
        'AllocationFailed: Failed to allocate IP for "ns/b": in use by ns/x',
    ]
    assert list(texts) == expected and texts == expected
    assert texts[1] == expected[1] and texts[1:] == expected[1:] and len(texts) == 2
    assert refusals.result("ns/a") == Result.warning("error_no_retry", refusals.event("ns/a"))


@settings(max_examples=200, deadline=None)
@given(entries=_ENTRIES, reads=st.lists(st.integers(0, 12), max_size=4))
def test_a_services_warnings_are_the_log_scanned_for_them(
    entries: list[Any], reads: list[int]
) -> None:
    """warnings_of, read between any entries, of the log or of a copy, is the Service's Warning
    events scanned from the log in order (a pass's Refusals standing for its member's)."""
    log, copies = EventLog(), []
    for step, (kind, what, number) in enumerate(entries):
        if step in reads:
            copies.append(log.copy())
            _assert_warnings_are_scans(log)
        if kind == "event":
            log.append((step, Event(what, "Warning" if number % 2 else "Normal", "W", str(number))))
        elif what:
            log.add_refusals(step, _refusals(what, number))
    for twin in [log, *copies]:
        _assert_warnings_are_scans(twin)
        _assert_warnings_are_scans(twin)  # read again: the index read as it stands


def _assert_warnings_are_scans(log: EventLog) -> None:
    for key in KEYS:
        scanned = [str(e) for _, e in log if e.svc_key == key and e.type == "Warning"]
        assert EventTexts(log.warnings_of(key), key) == scanned
