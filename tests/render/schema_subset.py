"""A tiny JSON Schema (draft 2020-12) validator for the keywords our report schema uses.

It refuses any keyword it does not know, so the schema cannot silently grow past what the test
checks. Supported: type, properties, required, additionalProperties, items, enum, const,
minimum, pattern, propertyNames, uniqueItems, oneOf, $ref to "#/$defs/...", and the annotations $schema,
$id, title, description. (`planner apply` itself validates plan files with `jsonschema`.)
"""

from __future__ import annotations

import json
import re
from typing import Any

ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}
ASSERTIONS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "pattern",
    "propertyNames",
    "uniqueItems",
    "oneOf",
    "$ref",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


def validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation of `schema` by `instance`, as "path: problem" lines (empty when valid)."""
    return _check(instance, schema, schema, "$")


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str) -> list[str]:
    unknown = set(schema) - ANNOTATIONS - ASSERTIONS
    if unknown:
        raise ValueError(f"schema keyword(s) not supported by the test validator: {unknown}")
    problems = []
    if "$ref" in schema:
        problems += _check(value, _resolve(schema["$ref"], root), root, where)
    if "oneOf" in schema:
        valid = sum(not _check(value, option, root, where) for option in schema["oneOf"])
        if valid != 1:
            problems.append(f"{where}: valid against {valid} of the oneOf schemas, not 1")
    problems += _scalar_problems(value, schema, where)
    if isinstance(value, dict):
        problems += _object_problems(value, schema, root, where)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += _check(item, schema["items"], root, f"{where}[{index}]")
    return problems


def _scalar_problems(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    problems = []
    if "type" in schema and not _has_type(value, schema["type"]):
        problems.append(f"{where}: expected {schema['type']}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        problems.append(f"{where}: expected {schema['const']!r}, got {value!r}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        problems.append(f"{where}: {value} is below {schema['minimum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {schema['pattern']!r}")
    if schema.get("uniqueItems") and isinstance(value, list):
        seen = [json.dumps(item, sort_keys=True) for item in value]
        if len(set(seen)) != len(seen):
            problems.append(f"{where}: items are not unique")
    return problems


def _object_problems(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], where: str
) -> list[str]:
    properties = schema.get("properties", {})
    problems = [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
    if "propertyNames" in schema:
        for key in value:
            problems += _check(key, schema["propertyNames"], root, f"{where} key {key!r}")
    for key, item in value.items():
        if key in properties:
            problems += _check(item, properties[key], root, f"{where}.{key}")
            continue
        extra = schema.get("additionalProperties", True)
        if extra is False:
            problems.append(f"{where}: unexpected {key!r}")
        elif isinstance(extra, dict):
            problems += _check(item, extra, root, f"{where}.{key}")
    return problems


def _has_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False  # JSON booleans are not numbers, although Python's bool is an int
    return isinstance(value, _TYPES[name])


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"only local $defs references are supported, not {ref!r}")
    target: dict[str, Any] = root["$defs"][ref[len(prefix) :]]
    return target
