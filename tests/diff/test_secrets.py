"""Secret values never leave the diff: bodies, patches and last-applied records are redacted."""

from __future__ import annotations

import base64
import json

from planner.diff import REDACTED, diff_objects, redact_patch, redact_secret
from tests.diff.builders import lb_service, obj, secret, served

TOKEN = "s3cr3t-t0ken"
TOKEN_B64 = base64.b64encode(TOKEN.encode()).decode()


def test_data_and_string_data_values_are_redacted_in_a_copy() -> None:
    body = secret("creds", data={"token": TOKEN_B64}, stringData={"password": "hunter2"})
    redacted = redact_secret(body)
    assert redacted["data"] == {"token": REDACTED}
    assert redacted["stringData"] == {"password": REDACTED}
    assert body["data"] == {"token": TOKEN_B64}  # the input is not changed


def test_a_last_applied_record_of_a_secret_is_redacted() -> None:
    body = served(secret("creds", stringData={"token": TOKEN}), applied="kubectl")
    redacted = redact_secret(body)
    record = json.loads(
        redacted["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert record["stringData"] == {"token": REDACTED}
    assert TOKEN not in json.dumps(redacted) and TOKEN_B64 not in json.dumps(redacted)


def test_an_unreadable_last_applied_record_on_a_secret_is_hidden_whole() -> None:
    body = secret("creds", data={"token": TOKEN_B64})
    body["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Secret","data":{"token":"'
        + TOKEN_B64
    }
    redacted = redact_secret(body)
    assert (
        redacted["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        == REDACTED
    )


def test_other_objects_come_back_as_they_are_and_lists_are_searched() -> None:
    svc = lb_service("dns-tcp")
    assert redact_secret(svc) is svc
    listed = {"kind": "List", "items": [svc, secret("creds", data={"token": TOKEN_B64})]}
    assert redact_secret(listed)["items"] == [svc, redact_secret(listed["items"][1])]
    assert TOKEN_B64 not in json.dumps(redact_secret(listed))


def test_a_changed_secret_value_is_an_update_that_shows_no_value() -> None:
    old = secret("creds", data={"token": TOKEN_B64})
    new = secret("creds", data={"token": base64.b64encode(b"new-t0ken").decode()})
    [change] = diff_objects([obj(new)], [obj(served(old, applied="kubectl"))])
    assert change.op == "update"
    assert change.patch == [{"op": "replace", "path": "/data/token", "value": REDACTED}]
    shown = repr(change)
    assert TOKEN_B64 not in shown and "bmV3LXQwa2Vu" not in shown


def test_a_new_secret_is_created_redacted() -> None:
    [change] = diff_objects([obj(secret("creds", stringData={"token": TOKEN}))], [])
    assert change.op == "create"
    assert change.patch[0]["value"]["data"] == {"token": REDACTED}
    assert TOKEN not in repr(change) and TOKEN_B64 not in repr(change)


def test_string_data_matches_the_live_base64_data() -> None:
    desired = secret("creds", stringData={"token": TOKEN})
    [change] = diff_objects([obj(desired)], [obj(served(desired, applied="ssa"))])
    assert change.op == "unchanged"


def test_patch_values_under_data_are_redacted_wherever_they_sit() -> None:
    patch = [
        {"op": "add", "path": "/data", "value": {"a": TOKEN_B64}},
        {"op": "add", "path": "/stringData/b", "value": TOKEN},
        {"op": "remove", "path": "/data/c"},
        {"op": "replace", "path": "/metadata/labels/app", "value": "x"},
    ]
    assert redact_patch(patch) == [
        {"op": "add", "path": "/data", "value": {"a": REDACTED}},
        {"op": "add", "path": "/stringData/b", "value": REDACTED},
        {"op": "remove", "path": "/data/c"},
        {"op": "replace", "path": "/metadata/labels/app", "value": "x"},
    ]
