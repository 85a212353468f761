"""Hook conditions: `[{field, operator, value}]`, all must hold (DESIGN §3.3).

Evaluation is total: whatever the payload, a condition holds or it does not; it never raises.
`matches` uses RE2, which runs in time linear in the input and never backtracks, so a pattern
cannot make a delivery slow; patterns, their compiled size and the text matched are bounded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import re2

from octipus.hooks.templates import _MISSING, lookup
from octipus.jsonbounds import valid_text

MAX_CONDITIONS = 20
MAX_FIELD_CHARS = 500
MAX_PATTERN_CHARS = 1000
MAX_PROGRAM_SIZE = 2000  # RE2's measure of a compiled pattern; bounds the cost per character
MAX_MATCH_CHARS = 64 * 1024  # longer values do not match

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.never_capture = True  # a yes/no answer needs no groups; lets RE2 use its DFA


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> Any:
    """The compiled RE2 pattern (cached); raises re2.error for what RE2 does not support."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _compare(actual: Any, expected: Any, op: Callable[[float, float], bool]) -> bool:
    a, b = _number(actual), _number(expected)
    return a is not None and b is not None and op(a, b)


def _equals(actual: Any, expected: Any) -> bool:
    if actual == expected:
        return True
    # Headers and form fields are strings; let "5" equal 5 and "true" equal True.
    return (
        isinstance(actual, str) and not isinstance(expected, str) and actual == _as_text(expected)
    )


def _as_text(value: Any) -> str:
    """How a value compares as text: booleans as JSON, objects and lists as JSON, else str."""
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        if isinstance(value, (dict, list)):
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        return str(value)
    except (orjson.JSONEncodeError, ValueError):  # too deep, or an integer past the digit limit
        return ""


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return _as_text(expected) in actual
    if isinstance(actual, (list, tuple)):
        return expected in actual or _as_text(expected) in [_as_text(x) for x in actual]
    if isinstance(actual, Mapping):
        return _as_text(expected) in actual
    return False


def _in(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, (list, tuple)):
        return False
    return actual in expected or _as_text(actual) in [_as_text(x) for x in expected]


def _matches(actual: Any, expected: Any) -> bool:
    if actual is _MISSING or actual is None or not isinstance(expected, str):
        return False
    text = _as_text(actual)
    if len(text) > MAX_MATCH_CHARS:
        return False
    try:
        return _regex(expected).search(valid_text(text)) is not None
    except re2.error:  # a pattern stored before RE2 was required
        return False


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _equals,
    "not_equals": lambda a, e: not _equals(a, e),
    "contains": _contains,
    "matches": _matches,
    "gt": lambda a, e: _compare(a, e, float.__gt__),
    "lt": lambda a, e: _compare(a, e, float.__lt__),
    "in": _in,
    "exists": lambda a, e: (a is not _MISSING) == (e is not False),
}


class ConditionError(ValueError):
    """A condition that cannot be evaluated: unknown operator, bad regex, missing field."""


def _error_text(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _check_pattern(i: int, pattern: Any) -> None:
    """Refuse a `matches` value RE2 cannot run, or one too large, saying why."""
    where = f"conditions[{i}].value"
    if not isinstance(pattern, str):
        raise ConditionError(f"{where} must be a regex string for operator 'matches'")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ConditionError(f"{where} is longer than {MAX_PATTERN_CHARS} characters")
    try:
        size = _regex(pattern).programsize
    except re2.error as exc:
        raise ConditionError(
            f"{where} is not a regex the RE2 engine accepts ({_error_text(exc)}). RE2 runs in"
            " linear time, so it has no backreferences (\\1) and no lookaround ((?=…), (?!…),"
            " (?<=…)); rewrite the pattern without them"
        ) from None
    if size > MAX_PROGRAM_SIZE:
        raise ConditionError(
            f"{where} is too complex (RE2 program size {size}, at most {MAX_PROGRAM_SIZE});"
            " use smaller repetition counts ({n}) or fewer alternatives"
        )


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    """Check shape, operators and regexes at save time; return the normalised list."""
    if conditions is None:
        return []
    if not isinstance(conditions, list):
        raise ConditionError("conditions must be a list of {field, operator, value}")
    if len(conditions) > MAX_CONDITIONS:
        raise ConditionError(f"conditions has {len(conditions)} entries; at most {MAX_CONDITIONS}")
    normalised = []
    for i, cond in enumerate(conditions):
        if not isinstance(cond, Mapping):
            raise ConditionError(f"conditions[{i}] must be an object with field, operator, value")
        field, operator = cond.get("field"), cond.get("operator", "equals")
        if not isinstance(field, str) or not field or len(field) > MAX_FIELD_CHARS:
            raise ConditionError(
                f"conditions[{i}].field must be a dot path like webhook.body.action"
                f" (at most {MAX_FIELD_CHARS} characters)"
            )
        if not isinstance(operator, str) or operator not in OPERATORS:
            raise ConditionError(
                f"conditions[{i}].operator {str(operator)[:40]!r} is unknown;"
                f" use one of {', '.join(OPERATORS)}"
            )
        if operator == "matches":
            _check_pattern(i, cond.get("value", ""))
        if operator == "in" and not isinstance(cond.get("value"), list):
            raise ConditionError(f"conditions[{i}].value must be a list for operator 'in'")
        normalised.append({"field": field, "operator": operator, "value": cond.get("value")})
    return normalised


def uses_regex(conditions: list[dict[str, Any]]) -> bool:
    """Whether evaluating these conditions runs a regex (worth doing off the event loop)."""
    return any(c.get("operator") == "matches" for c in conditions)


def conditions_hold(conditions: list[dict[str, Any]], context: Mapping[str, Any]) -> bool:
    """True when every condition holds for this trigger context."""
    return all(
        OPERATORS[c["operator"]](lookup(context, c["field"]), c.get("value")) for c in conditions
    )
