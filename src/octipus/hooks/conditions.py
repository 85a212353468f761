"""Hook conditions: `[{field, operator, value}]`, all must hold (DESIGN §3.3)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from octipus.hooks.templates import _MISSING, lookup


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
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
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
    if actual is _MISSING or actual is None:
        return False
    return re.search(str(expected), _as_text(actual)) is not None


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


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    """Check shape, operators and regexes at save time; return the normalised list."""
    if conditions is None:
        return []
    if not isinstance(conditions, list):
        raise ConditionError("conditions must be a list of {field, operator, value}")
    normalised = []
    for i, cond in enumerate(conditions):
        if not isinstance(cond, Mapping):
            raise ConditionError(f"conditions[{i}] must be an object with field, operator, value")
        field, operator = cond.get("field"), cond.get("operator", "equals")
        if not isinstance(field, str) or not field:
            raise ConditionError(
                f"conditions[{i}].field must be a dot path like webhook.body.action"
            )
        if operator not in OPERATORS:
            raise ConditionError(
                f"conditions[{i}].operator '{operator}' is unknown;"
                f" use one of {', '.join(OPERATORS)}"
            )
        if operator == "matches":
            try:
                re.compile(str(cond.get("value", "")))
            except re.error as exc:
                raise ConditionError(f"conditions[{i}].value is not a valid regex: {exc}") from None
        if operator == "in" and not isinstance(cond.get("value"), list):
            raise ConditionError(f"conditions[{i}].value must be a list for operator 'in'")
        normalised.append({"field": field, "operator": operator, "value": cond.get("value")})
    return normalised


def conditions_hold(conditions: list[dict[str, Any]], context: Mapping[str, Any]) -> bool:
    """True when every condition holds for this trigger context."""
    return all(
        OPERATORS[c["operator"]](lookup(context, c["field"]), c.get("value")) for c in conditions
    )
