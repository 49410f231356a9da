"""Read a plan file as untrusted input: whoever can write it chooses what `apply` writes.

In order, each step refusing with one InputError line naming the file:
1. parse JSON or YAML, and accept only JSON data (string keys; no dates, sets or binary);
2. validate against the shipped JSON Schema (planner/schemas/plan.schema.json, `jsonschema`);
3. recompute the digest `planner plan` wrote (an edited plan is refused: make it again);
4. check its meaning (`plan_problems`): each entry names its own object, `apply` has an object
   and `delete` none, only Services, every written Service in its unit and in the preconditions,
   nudges only for Services the wave waits for; what the MetalLB model refuses in its Services
   and pools, named by their place in the plan.

`planner verify` and `planner apply` both read plans here, so verify refuses what apply would.
docs/security.md has the threat model.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from planner.errors import InputError
from planner.model.pools import Pool, parse_ip, pools_from_objects
from planner.model.service import ServiceInputError, allocation_inputs, is_load_balancer
from planner.objects import KubeObject, ObjectKey
from planner.plan.records import (
    DIGEST_FIELD,
    PLAN_VERSION,
    Plan,
    PlannedWave,
    content_digest,
    plan_from_dict,
)
from planner.sources.validate import check_fields

SCHEMA_FILE = "plan.schema.json"
# How to replace a refused plan, for every refusal after the file was read.
REPLAN = "make it again with `planner plan DESIRED... -o json --output-file PLAN`"
# A version 1 plan cannot say which expected IPs are only predictions (made from a git ref).
OLD_VERSION = (
    "a plan file of version 1, written before plans recorded their live source and which "
    "expected IPs are only predictions"
)
_MAX_MESSAGE = 200  # characters of a schema message: it may quote a whole object


def read_plan_file(path: Path) -> Plan:
    """A plan file written by `planner plan --output json|yaml`; a bad one is one InputError line.

    Every message is `FILE: what is wrong` (`planner verify` and `planner apply` both read here).
    """
    return plan_from_data(_parsed(path), str(path))


def plan_from_data(data: Any, source: str) -> Plan:
    """Steps 1 to 4 of the module docstring on parsed data; `source` names it in errors."""
    _check_json_data(data, source)
    if isinstance(data, dict) and data.get("version", PLAN_VERSION) != PLAN_VERSION:
        version = _short(repr(data["version"]))
        why = OLD_VERSION if data["version"] == 1 else f"unsupported plan version {version}"
        raise InputError(f"{source}: {why}; {REPLAN}")
    _check_schema(data, source, SCHEMA_FILE)
    if content_digest(data) != data[DIGEST_FIELD]:
        raise InputError(
            f"{source}: the plan was changed after `planner plan` wrote it (its digest does not "
            f"match its content); {REPLAN}"
        )
    plan = plan_from_dict(data, source)
    problems = plan_problems(plan)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{source}: not a plan `planner plan` writes: {problems[0]}{more}")
    return plan


def _parsed(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise InputError(f"{path}: cannot read plan file: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: the plan file is not UTF-8 text (byte {err.start})") from None
    try:
        return json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: the plan file is not JSON or YAML ({first})") from None
    except RecursionError:
        raise InputError(f"{path}: the plan file is nested too deeply to be a plan") from None


# --- 1. JSON data only -------------------------------------------------------------------------


def _check_json_data(data: Any, source: str) -> None:
    """Only what JSON can hold: YAML can also give int/null keys, dates, sets and bytes."""
    try:
        where = next(_non_json(data, "$"), None)
    except RecursionError:
        raise InputError(f"{source}: the plan file is nested too deeply to be a plan") from None
    if where is not None:
        raise InputError(f"{source}: not a plan file: {where}; {REPLAN}")


def _non_json(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield f"at {path}, the key {_short(repr(key))} is not a string"
                return
            yield from _non_json(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_json(item, f"{path}[{index}]")
    elif value is not None and not isinstance(value, str | int | float | bool):
        yield f"at {path}, a {type(value).__name__} is not JSON data"


# --- 2. the schema -----------------------------------------------------------------------------


@functools.cache
def _validator(schema_file: str) -> Any:
    # Imported here: jsonschema is only needed by the commands that read plans and journals.
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    # An integer is an int, never 1.0 (which JSON Schema counts as one): nothing is converted.
    strict = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    text = resources.files("planner").joinpath("schemas", schema_file).read_text("utf-8")
    validator = extend(Draft202012Validator, type_checker=strict)  # type: ignore[no-untyped-call]
    return validator(json.loads(text))


def _check_schema(data: Any, source: str, schema_file: str) -> None:
    """The best-matching schema violation as one line, or nothing when `data` is valid."""
    problem = schema_problem(data, schema_file)
    if problem:
        raise InputError(
            f"{source}: not a plan file written by `planner plan`: {problem}; {REPLAN}"
        )


def schema_problem(data: Any, schema_file: str) -> str:
    """The most relevant violation of a shipped schema, `at PATH: message` ("" when valid)."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(schema_file).iter_errors(data))
    if error is None:
        return ""
    return f"at {error.json_path}: {_short(error.message)}"


def _short(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= _MAX_MESSAGE else one_line[: _MAX_MESSAGE - 3] + "..."


# --- 4. the meaning ----------------------------------------------------------------------------


def plan_problems(plan: Plan) -> list[str]:
    """Why the plan is not one `planner plan` writes (the schema cannot say); [] when it is."""
    problems = []
    pools = _pools_after(plan)
    for position, wave in enumerate(plan.waves, start=1):
        if wave.index != position:
            problems.append(f"wave {position} has index {wave.index}")
        for unit in wave.units:
            problems += _unit_problems(plan, wave.index, unit.id, unit.services, unit.writes)
        problems += _prediction_problems(wave, pools)
        waited = set(wave.expected_ips)
        for behavior, services in wave.nudges.items():
            problems += [
                f"wave {wave.index} nudges {svc} under {behavior}, which the wave does not wait for"
                for svc in services
                if svc not in waited
            ]
    return problems + _model_problems(plan)


def _pools_after(plan: Plan) -> dict[str, Pool]:
    """The baseline's pools after the plan by name ({} when they do not parse: a problem too)."""
    try:
        return {pool.name: pool for pool in pools_from_objects(plan.baseline.pools_after)}
    except InputError:
        return {}


def _prediction_problems(wave: PlannedWave, pools: Mapping[str, Pool]) -> list[str]:
    """Every predicted address is an address of each pool it names, a baseline pool after."""
    problems = []
    for svc, predicted in sorted(wave.predicted_ips.items()):
        for address, names in sorted(predicted.items()):
            where = f"wave {wave.index}, {svc}'s predicted address {_short(address)}"
            try:
                ip = parse_ip(address)
            except ValueError:
                problems.append(f"{where} is not an IP address")
                continue
            if not names:
                problems.append(f"{where} names no pool")
            problems += [
                f"{where}: {_short(name)} is not one of its pools after the plan"
                for name in names
                if name not in pools or not pools[name].contains(ip)
            ]
    return problems


def _model_problems(plan: Plan) -> list[str]:
    """What the MetalLB model refuses in the plan's objects, named by their place in the plan
    (the model's own errors know no file): written and baseline Services, baseline pools."""
    problems = [
        f"wave {wave.index}, unit {unit.id}, {write.op} {write.service}: {problem}"
        for wave in plan.waves
        for unit in wave.units
        for write in unit.writes
        for problem in _service_problem(write.manifest)
    ]
    for svc, manifest in sorted(plan.baseline.services.items()):
        problems += [f"baseline Service {svc}: {problem}" for problem in _service_problem(manifest)]
    for name, pools in (
        ("pools_before", plan.baseline.pools_before),
        ("pools_after", plan.baseline.pools_after),
    ):
        try:
            for pool in pools:
                _checked(pool, str(pool.get("kind", "")))
            pools_from_objects(pools)
        except InputError as err:
            problems.append(f"baseline {name}: {err}")
    return problems


def _service_problem(manifest: Mapping[str, Any] | None) -> list[str]:
    if manifest is None:
        return []
    try:
        _checked(manifest)
    except InputError as err:
        return [str(err)]
    if not is_load_balancer(dict(manifest)):
        return []
    try:
        allocation_inputs(dict(manifest))
    except ServiceInputError as err:
        return [str(err)]
    return []


def _checked(manifest: Mapping[str, Any], kind: str = "Service") -> None:
    """InputError when a field a diff reads is mistyped: the model reads only well-typed objects."""
    check_fields(KubeObject(_key_of(manifest, kind), dict(manifest)))


def _key_of(manifest: Mapping[str, Any], kind: str) -> ObjectKey:
    """The object's key as far as its metadata can be read (the field checks say the rest)."""
    meta = manifest.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    namespace, name = meta.get("namespace"), meta.get("name")
    return ObjectKey(
        kind,
        namespace if isinstance(namespace, str) else "",
        name if isinstance(name, str) and name else "(unnamed)",
    )


def _unit_problems(
    plan: Plan, wave: int, unit: str, services: tuple[str, ...], writes: tuple[Any, ...]
) -> list[str]:
    problems = []
    for write in writes:
        where = f"wave {wave}, unit {unit}, {write.op} {write.service}"
        if write.service not in services:
            problems.append(f"{where}: the Service is not one of the unit's services")
        if write.service not in plan.preconditions:
            problems.append(f"{where}: no precondition names it")
        problems += [
            f"{where}: {p}" for p in _entry_problems(write.service, write.op, write.manifest)
        ]
    return problems


def _entry_problems(service: str, op: str, manifest: Mapping[str, Any] | None) -> list[str]:
    """An entry's op and object agree, and the object is the Service the entry names."""
    if op == "delete":
        return [] if manifest is None else ["a delete carries an object"]
    if manifest is None:
        return ["an apply without an object"]
    meta = manifest.get("metadata") or {}
    named = f"{meta.get('namespace')}/{meta.get('name')}"
    problems = []
    if (manifest.get("apiVersion"), manifest.get("kind")) != ("v1", "Service"):
        problems.append(f"the object is a {manifest.get('apiVersion')} {manifest.get('kind')}")
    if named != service:
        problems.append(f"the object is {_short(named)}")
    return problems
