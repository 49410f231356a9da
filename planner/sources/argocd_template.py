"""An ApplicationSet's template rendered with one parameter set, as Argo CD's controller renders
it (argo-cd applicationset/utils `Render`): every string of the template, and every string key
of its maps, is replaced on its own.

- The default mode is fasttemplate: `{{ NAME }}` (spaces trimmed) becomes the parameter NAME
  when it is a string; any other tag is written back as it was. A `{{` without `}}` is an error.
- `goTemplate: true` is Go's text/template with sprig. The planner evaluates the part of it
  found in real ApplicationSets: field chains (`.path.basename`, `$.values.x`), string, number
  and boolean literals, parenthesised pipelines and `|`, and the functions in `FUNCTIONS`
  (`normalize` is Argo CD's own). Anything else (`if`, `range`, variables, another function)
  raises NotEvaluated: the set is then not followed, never guessed. `missingkey=error` is
  honoured (a missing key fails the set, as in Argo CD); otherwise a missing key prints
  `<no value>`, as Go does.

    >>> render_value({"name": "{{path.basename}}"}, {"path.basename": "dns"}, Mode())
    {'name': 'dns'}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from planner.sources.argocd_env import NotEvaluated

NO_VALUE = "<no value>"  # what Go's text/template prints for a missing map key
_TEMPLATED = re.compile(r".*\{\{.*\}\}.*")  # Argo CD's isTemplatedRegex (`.` stops at newlines)
_DNS_INVALID = re.compile(r"[^-a-z0-9.]")
_MAX_DNS_NAME = 253
_GO_OPTIONS = {f"missingkey={value}" for value in ("default", "invalid", "zero", "error")}


@dataclass(frozen=True)
class Mode:
    """How the set's strings are templated: fasttemplate, or Go's text/template (its
    `goTemplateOptions`: only `missingkey=…` is known)."""

    go_template: bool = False
    missing_key_error: bool = False

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Mode:
        """The mode an ApplicationSet's spec asks for; NotEvaluated for an unknown option."""
        options = spec.get("goTemplateOptions") or []
        if not isinstance(options, list):
            raise NotEvaluated("its `goTemplateOptions` is not a list")
        for option in options:
            if str(option) not in _GO_OPTIONS:
                raise NotEvaluated(f"its goTemplateOption `{option}` is not evaluated")
        missing = [str(option) for option in options][-1:] == ["missingkey=error"]
        return cls(spec.get("goTemplate") is True, missing)


def sanitize_name(name: str) -> str:
    """Argo CD's `normalize` (SanitizeName): lower case, `[^-a-z0-9.]` → `-`, at most 253
    characters, `-` and `.` trimmed from both ends."""
    cleaned = _DNS_INVALID.sub("-", name.lower())[:_MAX_DNS_NAME]
    return cleaned.strip("-.")


def render_value(value: Any, params: Mapping[str, Any], mode: Mode) -> Any:
    """`value` with each string, and each string map key, templated with `params`."""
    if isinstance(value, str):
        return replace(value, params, mode)
    if isinstance(value, Mapping):
        return {
            (replace(key, params, mode) if isinstance(key, str) else key): render_value(
                item, params, mode
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [render_value(item, params, mode) for item in value]
    return value


def replace(text: str, params: Mapping[str, Any], mode: Mode) -> str:
    """One string templated with `params` in the set's mode."""
    if mode.go_template:
        return _GoTemplate(text, params, mode.missing_key_error).render()
    return fast_replace(text, params)


def fast_replace(text: str, params: Mapping[str, Any]) -> str:
    """fasttemplate's `{{tag}}` replacement as Argo CD calls it: string parameters only."""
    if not _TEMPLATED.search(text):
        return text
    out, rest = [], text
    while (start := rest.find("{{")) >= 0:
        end = rest.find("}}", start + 2)
        if end < 0:
            raise NotEvaluated(f"`{text}` opens `{{{{` without `}}}}` (Argo CD fails to render it)")
        tag = rest[start + 2 : end]
        value = params.get(tag.strip())
        out.append(rest[:start])
        out.append(value if isinstance(value, str) and tag.strip() else "{{" + tag + "}}")
        rest = rest[end + 2 :]
    return "".join(out) + rest


def go_text(value: Any) -> str:
    """How Go prints a parameter value (fmt's %v): numbers are float64, as JSON decodes them."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_float(float(value))
    if isinstance(value, str):
        return value
    raise NotEvaluated("a list or map printed as text is not evaluated")


def _go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 64): shortest digits, `%e` form when the exponent
    is below -4 or at least 6 (so 1000000 prints `1e+06`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return _float_text(value, lambda power: power < -4 or power >= 6)


def _json_float(value: float) -> str:
    """encoding/json's float64: shortest digits, the `e` form only below 1e-6 or from 1e21,
    its exponent without a leading zero (`1e-07` is `1e-7`)."""
    if math.isnan(value) or math.isinf(value):
        raise NotEvaluated("`toJson` of a value JSON has no number for (Argo CD fails)")
    text = _float_text(value, lambda power: power < -6 or power >= 21)
    return re.sub(r"e([-+])0(\d)$", r"e\g<1>\g<2>", text)


def _float_text(value: float, exponent_form: Callable[[int], bool]) -> str:
    """A float's shortest round-trip digits, in `%e` form when `exponent_form(power)`."""
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # where the decimal point falls in `digits`
    prefix = "-" if sign else ""
    power = point - 1
    if exponent_form(power):
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


# encoding/json escapes these beyond what Python's json does (HTML-safe output)
_JSON_HTML = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def to_json(value: Any) -> str:
    """sprig's toJson (Go's json.Marshal): compact, map keys sorted, HTML characters escaped,
    numbers as float64."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and ("\b" in value or "\f" in value):
            raise NotEvaluated("`toJson` of a string with \\b or \\f (Go versions differ)")
        text = json.dumps(value, ensure_ascii=False)
        return "".join(_JSON_HTML.get(char, char) for char in text)
    if isinstance(value, int | float):
        return _json_float(float(value))
    if isinstance(value, Mapping):
        items = sorted((str(key), item) for key, item in value.items())
        return "{" + ",".join(f"{to_json(key)}:{to_json(item)}" for key, item in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    raise NotEvaluated(f"`toJson` of a {type(value).__name__} is not evaluated")


def is_empty(value: Any) -> bool:
    """Go's empty value (sprig's `empty`, mergo's isEmptyValue): nil, "", 0, false, an empty
    list or map."""
    return value is None or value is False or value == 0 or value in ("", [], {})


def _kind(value: Any) -> str:
    """What a value is, for messages (parameter values may come from files: never printed)."""
    return "missing value" if value is None else type(value).__name__.replace("dict", "map")


def _string(value: Any, function: str) -> str:
    if not isinstance(value, str):
        raise NotEvaluated(f"`{function}` is given a {_kind(value)}, not a string")
    return value


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, Mapping) and isinstance(key, str):
            value = value.get(key)  # a missing key is the zero value, with no error
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            raise NotEvaluated(f"`index` into a {_kind(value)} fails (Argo CD fails to render it)")
    return value


_VERB = re.compile(r"%(.)", re.DOTALL)


def _printf(form: Any, *values: Any) -> str:
    """sprig's printf for `%s` (strings), `%v` and `%%`; any other verb, or a count of values
    the form does not take, is not evaluated (Go would print `%!…` markers)."""
    remaining = list(values)

    def verb(match: re.Match[str]) -> str:
        if match[1] == "%":
            return "%"
        if not remaining or match[1] not in "sv":
            raise NotEvaluated(f"`printf {form!r}` is not evaluated")
        value = remaining.pop(0)
        if match[1] == "s" and not isinstance(value, str):
            raise NotEvaluated(f"`printf {form!r}` prints a non-string with %s")
        return go_text(value)

    printed = _VERB.sub(verb, _string(form, "printf"))
    if remaining:
        raise NotEvaluated(f"`printf {form!r}` is given more values than it prints")
    return printed


def _go_quoted(text: str) -> str:
    """Go's %q of printable ASCII (strconv.Quote); other characters are not evaluated."""
    if any(not " " <= char <= "~" for char in text):
        raise NotEvaluated("`quote` of a string with characters beyond printable ASCII")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _base(path: Any) -> str:
    """Go's path.Base (sprig's `base`): the last element, trailing slashes dropped."""
    text = _string(path, "base").rstrip("/")
    if not text:
        return "/" if path else "."
    return text.rpartition("/")[2]


# The functions evaluated, with Go's argument order (a piped value comes last).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "index": _index,
    "normalize": lambda s: sanitize_name(_string(s, "normalize")),
    "lower": lambda s: _string(s, "lower").lower(),
    "upper": lambda s: _string(s, "upper").upper(),
    "trim": lambda s: _string(s, "trim").strip(" \t\n\r\v\f"),
    "trimPrefix": lambda p, s: _string(s, "trimPrefix").removeprefix(_string(p, "trimPrefix")),
    "trimSuffix": lambda p, s: _string(s, "trimSuffix").removesuffix(_string(p, "trimSuffix")),
    "replace": lambda old, new, s: _string(s, "replace").replace(
        _string(old, "replace"), _string(new, "replace")
    ),
    "default": lambda fallback, *given: fallback if not given or is_empty(given[0]) else given[0],
    "printf": _printf,
    "toJson": to_json,
    "base": _base,
    "quote": lambda *values: " ".join(_go_quoted(go_text(v)) for v in values if v is not None),
}
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<field>(?:\$|\.)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.|\$)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[|()])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


class _GoTemplate:
    """One string as text/template runs it, within the part the planner evaluates."""

    def __init__(self, text: str, data: Mapping[str, Any], missing_key_error: bool) -> None:
        self.text = text
        self.data = data
        self.missing_key_error = missing_key_error

    def render(self) -> str:
        out: list[str] = []
        rest = self.text
        while (start := rest.find("{{")) >= 0:
            end = rest.find("}}", start + 2)
            if end < 0:
                raise NotEvaluated(f"`{self.text}` opens `{{{{` without `}}}}`")
            before, action = rest[:start], rest[start + 2 : end]
            rest = rest[end + 2 :]
            # Go's trim markers: `{{- ` and ` -}}` (the space is required) trim the text around
            if action.startswith(("- ", "-\t", "-\n", "-\r")):
                before, action = before.rstrip(), action[1:]
            if action.endswith((" -", "\t-", "\n-", "\r-")):
                rest, action = rest.lstrip(), action[:-1]
            out.append(before)
            out.append(go_text(self._action(action)))
        return "".join(out) + rest

    def _action(self, action: str) -> Any:
        tokens = self._tokens(action)
        if not tokens:
            raise NotEvaluated(f"`{self.text}` has an empty action")
        value, used = self._pipeline(tokens, 0)
        if used != len(tokens):
            raise NotEvaluated(f"`{{{{{action}}}}}` in `{self.text}` is not evaluated")
        return value

    def _tokens(self, action: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(action.rstrip()):
            match = _TOKEN.match(action, position)
            if match is None or match.end() == position:
                raise NotEvaluated(f"`{{{{{action}}}}}` in `{self.text}` is not evaluated")
            kind = match.lastgroup or ""
            text = match[kind]
            if kind == "word" and (text in _KEYWORDS or text not in FUNCTIONS | _CONSTANTS):
                raise NotEvaluated(f"`{text}` in `{self.text}` is not evaluated")
            tokens.append((kind, text))
            position = match.end()
        return tokens

    def _pipeline(self, tokens: list[tuple[str, str]], position: int) -> tuple[Any, int]:
        value, position = self._command(tokens, position, None, piped=False)
        while position < len(tokens) and tokens[position] == ("punct", "|"):
            value, position = self._command(tokens, position + 1, value, piped=True)
        return value, position

    def _command(
        self, tokens: list[tuple[str, str]], position: int, piped_value: Any, piped: bool
    ) -> tuple[Any, int]:
        if position >= len(tokens):
            raise NotEvaluated(f"`{self.text}` ends a pipeline early")
        kind, text = tokens[position]
        if kind == "word" and text in FUNCTIONS:
            arguments: list[Any] = []
            position += 1
            while position < len(tokens) and tokens[position] not in (
                ("punct", "|"),
                ("punct", ")"),
            ):
                argument, position = self._operand(tokens, position)
                arguments.append(argument)
            if piped:
                arguments.append(piped_value)
            try:
                return FUNCTIONS[text](*arguments), position
            except TypeError as wrong:
                raise NotEvaluated(f"`{text}` with {len(arguments)} arguments fails") from wrong
        if piped:
            raise NotEvaluated(f"`{text}` after `|` in `{self.text}` is not a function")
        return self._operand(tokens, position)

    def _operand(self, tokens: list[tuple[str, str]], position: int) -> tuple[Any, int]:
        kind, text = tokens[position]
        if kind == "punct" and text == "(":
            value, position = self._pipeline(tokens, position + 1)
            if position >= len(tokens) or tokens[position] != ("punct", ")"):
                raise NotEvaluated(f"`{self.text}` has an unclosed `(`")
            return value, position + 1
        if kind == "string":
            return _unquoted(text[1:-1]), position + 1
        if kind == "raw":
            return text[1:-1], position + 1
        if kind == "number":
            return (float(text) if "." in text else int(text)), position + 1
        if kind == "word" and text in _CONSTANTS:
            return _CONSTANTS[text], position + 1
        if kind == "field":
            return self._field(text), position + 1
        raise NotEvaluated(f"`{text}` in `{self.text}` is not evaluated")

    def _field(self, chain: str) -> Any:
        value: Any = self.data
        for name in chain.lstrip("$").split(".")[1:] if chain not in (".", "$") else []:
            if not isinstance(value, Mapping):
                raise NotEvaluated(f"`{chain}` reaches into a {_kind(value)} (Argo CD fails)")
            if name not in value and self.missing_key_error:
                raise NotEvaluated(
                    f"`{chain}` names a missing key under missingkey=error (Argo CD fails)"
                )
            value = value.get(name)
        return value


_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "nil": None}


def _unquoted(body: str) -> str:
    """A Go double-quoted string's escapes (\\n, \\t, \\", \\\\); others are not evaluated."""
    out, index = [], 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1 : index + 2]
            if escaped not in _ESCAPES:
                raise NotEvaluated(f'the escape `\\{escaped}` in "{body}" is not evaluated')
            out.append(_ESCAPES[escaped])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)
