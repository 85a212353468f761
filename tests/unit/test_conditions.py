from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octipus.hooks.conditions import (
    MAX_MATCH_CHARS,
    OPERATORS,
    ConditionError,
    conditions_hold,
    validate_conditions,
)

CTX = {
    "webhook": {
        "headers": {"x-github-event": "pull_request"},
        "body": {"action": "opened", "number": 7, "labels": ["bug", "ui"], "title": "Fix #12"},
    }
}


def holds(field, operator, value=None):
    return conditions_hold(
        validate_conditions([{"field": field, "operator": operator, "value": value}]), CTX
    )


@pytest.mark.parametrize(
    "field,operator,value,expected",
    [
        ("webhook.body.action", "equals", "opened", True),
        ("webhook.body.action", "not_equals", "opened", False),
        ("webhook.headers.x-github-event", "equals", "pull_request", True),
        ("webhook.body.labels", "contains", "bug", True),
        ("webhook.body.title", "contains", "#12", True),
        ("webhook.body.title", "matches", r"^Fix #\d+$", True),
        ("webhook.body.number", "gt", 5, True),
        ("webhook.body.number", "lt", 5, False),
        ("webhook.body.action", "in", ["opened", "reopened"], True),
        ("webhook.body.action", "exists", None, True),
        ("webhook.body.nope", "exists", None, False),
        ("webhook.body.nope", "exists", False, True),
        ("webhook.body.nope", "equals", None, False),
        ("webhook.body.title", "gt", 1, False),
    ],
)
def test_operators(field, operator, value, expected):
    assert holds(field, operator, value) is expected


def test_all_conditions_must_hold():
    conditions = validate_conditions(
        [
            {"field": "webhook.body.action", "operator": "equals", "value": "opened"},
            {"field": "webhook.body.number", "operator": "gt", "value": 100},
        ]
    )
    assert conditions_hold(conditions, CTX) is False


@pytest.mark.parametrize(
    "bad,message",
    [
        ("nope", "must be a list"),
        ([{"operator": "equals"}], "field"),
        ([{"field": "a", "operator": "approximately"}], "operator"),
        ([{"field": "a", "operator": "matches", "value": "("}], "regex"),
        ([{"field": "a", "operator": "in", "value": "x"}], "list"),
    ],
)
def test_invalid_conditions_name_the_problem(bad, message):
    with pytest.raises(ConditionError, match=message):
        validate_conditions(bad)


@pytest.mark.parametrize(
    "pattern,text,expected",
    [
        (r"^(a+)+$", "a" * 10_000 + "!", False),  # exponential for a backtracking engine
        (r"^(a|aa)+$", "a" * 10_000, True),
        (r"(?i)^refs/heads/(main|release-\d+)$", "REFS/HEADS/release-12", True),
        (r"\bfix(es)?\b", "this fixes #3", True),
    ],
)
def test_matches_runs_in_linear_time(pattern, text, expected):
    context = {"webhook": {"body": {"x": text}}}
    conditions = validate_conditions(
        [{"field": "webhook.body.x", "operator": "matches", "value": pattern}]
    )
    assert conditions_hold(conditions, context) is expected


def test_values_longer_than_the_match_bound_do_not_match():
    conditions = validate_conditions([{"field": "x", "operator": "matches", "value": "a"}])
    assert conditions_hold(conditions, {"x": "a" * MAX_MATCH_CHARS}) is True
    assert conditions_hold(conditions, {"x": "a" * (MAX_MATCH_CHARS + 1)}) is False


def test_a_pattern_stored_before_re2_simply_does_not_match():
    stored = [{"field": "x", "operator": "matches", "value": r"(a)\1"}]
    assert conditions_hold(stored, {"x": "aa"}) is False


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["a", "b", "0", "A"]) | st.text(max_size=5), children, max_size=4
        )
    ),
    max_leaves=20,
)
SEGMENTS = st.sampled_from(
    ["webhook", "body", "a", "b", "A", "0", "1", "-1", "²", "١", "-", "", "99999999999999999999"]
) | st.text(max_size=6)
PATHS = st.lists(SEGMENTS, min_size=1, max_size=6).map(".".join)
PATTERNS = st.sampled_from(["^(a+)+$", "a|b", "(?i)x", r"\d+", "", r"(a)\1", "("])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=JSON | st.just(_deep(1000)) | st.just({"a": [2**70, _deep(300), "\ud800"]}),
    field=PATHS,
    operator=st.sampled_from(list(OPERATORS)),
    value=JSON | PATTERNS | st.lists(JSON, max_size=3),
)
def test_evaluation_is_total(body: Any, field: str, operator: str, value: Any):
    """Whatever the payload and the stored condition, evaluation answers True or False."""
    context = {"webhook": {"body": body, "headers": {"x": "y"}}, "hook": {"id": "h"}}
    condition = {"field": field, "operator": operator, "value": value}
    assert conditions_hold([condition], context) in (True, False)
