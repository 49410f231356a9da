"""Resuming a plan: which waves are finished, and whether a live object is what the plan expects.

A journal records the finished waves of ONE plan (named by its digest). It lives in a file by
default, `.shared-ip-planner/journal-<digest16>.json` next to the plan file (the current directory
when the plan came from elsewhere), or in a ConfigMap (`configmap:NAMESPACE/NAME`, one data key per
plan) so that a rerun from another machine or a Job continues too.

Whether a live object is what the plan expects: planner.plan.fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from planner.apply.plan_file import schema_problem
from planner.errors import InputError, PlannerError
from planner.files import atomic_write
from planner.kubectl import Kubectl

JOURNAL_DIR = ".shared-ip-planner"
JOURNAL_VERSION = 1
JOURNAL_SCHEMA = "journal.schema.json"
MOVE_AWAY = "move it away to start over"


class JournalError(PlannerError):
    """The journal cannot be read or written (the cluster may be ahead of it: rerun resumes)."""


@dataclass(frozen=True)
class JournalRecord:
    """The waves of one plan (1-based indexes) that are finished."""

    plan_digest: str
    finished_waves: tuple[int, ...] = ()

    def with_finished(self, wave: int) -> JournalRecord:
        """This record plus one more finished wave."""
        return JournalRecord(self.plan_digest, tuple(sorted({*self.finished_waves, wave})))

    def to_json(self) -> str:
        """The record as written to a file or a ConfigMap key."""
        body = {
            "version": JOURNAL_VERSION,
            "plan_digest": self.plan_digest,
            "finished_waves": list(self.finished_waves),
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"


def record_from_json(text: str, where: str) -> JournalRecord:
    """Read a record written by `JournalRecord.to_json`; anything else is an InputError.

    Schema-checked (planner/schemas/journal.schema.json): a wrong type is refused, never
    converted (`"finished_waves": "1"` is not wave 1).
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError(
            f"{where}: not a planner journal (nested too deeply); {MOVE_AWAY}"
        ) from None
    except ValueError as err:
        raise InputError(f"{where}: not a planner journal ({err}); {MOVE_AWAY}") from None
    if isinstance(data, dict) and data.get("version", JOURNAL_VERSION) != JOURNAL_VERSION:
        raise InputError(
            f"{where}: not a planner journal (unsupported version {data['version']!r}); {MOVE_AWAY}"
        )
    problem = schema_problem(data, JOURNAL_SCHEMA)
    if problem:
        raise InputError(f"{where}: not a planner journal ({problem}); {MOVE_AWAY}")
    return JournalRecord(data["plan_digest"], tuple(sorted(data["finished_waves"])))


class Journal(Protocol):
    """Where the finished waves of a plan are kept."""

    location: str

    def load(self) -> JournalRecord | None:
        """The record for this journal's plan, or None when there is none yet."""

    def save(self, record: JournalRecord) -> None:
        """Store the record (atomically: a crash leaves the old or the new one)."""


class FileJournal:
    """A JSON file, replaced atomically (write a temporary file beside it, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def load(self) -> JournalRecord | None:
        """The record in the file, or None when the file does not exist."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise JournalError(f"cannot read the journal {self.path}: {err.strerror}") from None
        return record_from_json(text, self.location)

    def save(self, record: JournalRecord) -> None:
        """Write the record atomically."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, record.to_json())
        except OSError as err:
            raise JournalError(f"cannot write the journal {self.path}: {err.strerror}") from None


class ConfigMapJournal:
    """One data key per plan (`journal-<digest16>.json`) in a ConfigMap, written server-side."""

    def __init__(self, kubectl: Kubectl, namespace: str, name: str, digest: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.name = name
        self.key = journal_name(digest)
        self.location = f"configmap {namespace}/{name} key {self.key}"

    def load(self) -> JournalRecord | None:
        """The record under this plan's key, or None when the ConfigMap or the key is missing."""
        configmap = self.kubectl.get_configmap(self.namespace, self.name)
        text = ((configmap or {}).get("data") or {}).get(self.key)
        return record_from_json(text, self.location) if text else None

    def save(self, record: JournalRecord) -> None:
        """Apply the whole data map: a server-side apply drops keys our field manager omits."""
        configmap = self.kubectl.get_configmap(self.namespace, self.name)
        data = dict((configmap or {}).get("data") or {})
        data[self.key] = record.to_json()
        self.kubectl.put_configmap(self.namespace, self.name, data)


def journal_name(digest: str) -> str:
    """The file name (and ConfigMap key) of a plan's journal."""
    return f"journal-{digest[:16]}.json"


def default_journal_path(plan_file: Path | None, digest: str) -> Path:
    """`.shared-ip-planner/journal-<digest16>.json` next to the plan file, else in the cwd."""
    base = plan_file.resolve().parent if plan_file is not None else Path.cwd()
    return base / JOURNAL_DIR / journal_name(digest)


def journal_from_spec(
    spec: str | None, digest: str, plan_file: Path | None, kubectl: Kubectl | None
) -> Journal:
    """The journal `--journal` names: None (default file), `file:PATH`, `configmap:NS/NAME`."""
    if spec is None or spec == "":
        return FileJournal(default_journal_path(plan_file, digest))
    scheme, _, rest = spec.partition(":")
    if scheme == "file" and rest:
        return FileJournal(Path(rest))
    if scheme == "configmap" and rest.count("/") == 1 and all(rest.split("/")):
        if kubectl is None:
            raise InputError(f"--journal {spec}: a ConfigMap journal needs a cluster")
        namespace, name = rest.split("/")
        return ConfigMapJournal(kubectl, namespace, name, digest)
    raise InputError(f"--journal {spec!r}: expected file:PATH or configmap:NAMESPACE/NAME")
