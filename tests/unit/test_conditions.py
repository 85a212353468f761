import pytest

from octipus.hooks.conditions import ConditionError, conditions_hold, validate_conditions

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
