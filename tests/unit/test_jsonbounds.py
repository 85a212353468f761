"""Bounds on stored JSON, and rendering stored values any encoder can write."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from octipus.jsonbounds import CUT, json_problem, renderable


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value,problem",
    [
        (nested(64), None),
        (nested(65), "config is nested deeper than 64 levels"),
        ({"a": [1, 2**63]}, "config.a[1] must be a whole number"),
        ({"a": -(2**63)}, None),
        ({"a": float("nan")}, "config.a must be a finite number"),
        ({"a": "\ud800"}, "config.a contains a lone UTF-16 surrogate"),
        ({"\udfff": 1}, "config has a key that is not valid Unicode text"),
        ({"a": "x" * 11}, "config.a is longer than 10 characters"),
    ],
)
def test_json_problem_names_the_place(value: Any, problem: str | None):
    found = json_problem(value, "config", max_depth=64, max_text=10)
    assert found == problem if problem is None else found.startswith(problem)


def test_a_parser_deep_value_is_checked_without_recursion():
    assert "nested deeper" in (json_problem(nested(100_000), "body", 64) or "")


def test_renderable_cuts_what_no_encoder_writes():
    stored = {"deep": nested(1000), "big": 2**70, "odd": "a\ud800b", "fine": [1, 2.5, None]}
    shown = renderable(stored)
    assert orjson.loads(orjson.dumps(shown))["big"] == str(2**70)
    assert shown["odd"] == "a?b" and shown["fine"] == [1, 2.5, None]
    assert CUT in orjson.dumps(shown["deep"]).decode()
