"""The renderers as a whole: format dispatch, and no Secret value in any output."""

from __future__ import annotations

import base64

import pytest

from planner.analysis.records import DiffReport
from planner.diff import diff_objects
from planner.objects import KubeObject, ObjectKey
from planner.render import FORMATS, render
from tests.render.sample_report import SECRET_PLAIN, SECRET_VALUE, sample_report


@pytest.mark.parametrize("output", FORMATS)
@pytest.mark.parametrize("color", [False, True])
def test_no_secret_value_in_any_output(output: str, color: bool) -> None:
    text = render(sample_report(), output, color=color)
    for secret in (SECRET_VALUE, SECRET_PLAIN, base64.b64decode(SECRET_VALUE).decode()):
        assert secret not in text
    assert "Secret dns/tsig-key" in text or '"tsig-key"' in text  # the change itself is shown
    assert "<redacted>" in text


def test_each_format_is_its_own() -> None:
    report = sample_report()
    text = render(report, "text")
    assert text.startswith("blocks: 1 static conflict\nplanner diff: target metallb-0.15")
    assert render(report, "markdown").startswith("❌ **blocks: 1 static conflict**")
    assert "\n## shared-ip planner" in render(report, "markdown")
    assert render(report, "json").startswith("{")
    assert "\x1b[" in render(report, "text", color=True)
    assert "\x1b[" not in render(report, "markdown", color=True)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="yaml"):
        render(sample_report(), "yaml")


def test_secret_changes_from_the_real_diff_never_show_values() -> None:
    old, new = "b2xkLXBhc3N3b3Jk", "bmV3LXBhc3N3b3Jk"
    meta = {"name": "creds", "namespace": "dns"}
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": {"pw": new}}
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": {"pw": old}}
    created = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "fresh", "namespace": "dns"},
        "stringData": {"token": "plain-token-value"},
    }
    changes = diff_objects(
        [
            KubeObject(ObjectKey("Secret", "dns", "creds"), desired),
            KubeObject(ObjectKey("Secret", "dns", "fresh"), created),
        ],
        [KubeObject(ObjectKey("Secret", "dns", "creds"), live)],
    )
    assert {c.op for c in changes} == {"update", "create"}
    report = DiffReport(
        changes=tuple(changes), groups=(), conflicts=(), predictions={}, target="metallb-0.15"
    )
    for output in FORMATS:
        text = render(report, output)
        for value in (old, new, "plain-token-value"):
            assert value not in text, output
        assert "dns/creds" in text or '"creds"' in text
