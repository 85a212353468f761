import orjson
import pytest

from octipus.ingress.payload import (
    DEEPEST_WRITTEN,
    InvalidPayload,
    decode_body,
    nested_deeper_than,
)


def test_json_bodies_are_parsed():
    assert decode_body(b'{"a": [1, 2]}', "application/json; charset=utf-8") == {"a": [1, 2]}
    assert decode_body(b'{"a": 1}', "application/vnd.api+json") == {"a": 1}


def test_invalid_json_raises():
    with pytest.raises(InvalidPayload):
        decode_body(b"{nope", "application/json")


def test_github_form_mode_decodes_the_payload_field():
    body = b"payload=%7B%22action%22%3A%22opened%22%7D"
    assert decode_body(body, "application/x-www-form-urlencoded") == {"action": "opened"}


def test_other_forms_become_dicts():
    assert decode_body(b"a=1&b=2&b=3", "application/x-www-form-urlencoded") == {
        "a": "1",
        "b": ["2", "3"],
    }


def test_anything_else_is_text():
    assert decode_body(b"hello \xff", "text/plain") == "hello \ufffd"
    assert decode_body(b'{"looks":"json"}', None) == '{"looks":"json"}'


def test_json_nested_past_the_limit_is_refused_and_at_it_is_kept():
    assert decode_body(b"[" * 3 + b"]" * 3, "application/json", max_depth=3) == [[[]]]
    with pytest.raises(InvalidPayload, match="nested deeper than 3 levels"):
        decode_body(b'{"a":[{"b":[]}]}', "application/json", max_depth=3)
    form = b"payload=" + b"%5B" * 4 + b"%5D" * 4
    with pytest.raises(InvalidPayload, match="in form field 'payload' nested deeper"):
        decode_body(form, "application/x-www-form-urlencoded", max_depth=3)


def test_brackets_inside_strings_do_not_count_as_nesting():
    body = b'{"a": "[[[[{{{{", "b": [1, 2, 3], "c": {"d": "]]]]"}}'
    assert decode_body(body, "application/json", max_depth=2)["a"] == "[[[[{{{{"


@pytest.mark.parametrize(
    "value,depth",
    [(1, 0), ([], 1), ({"a": 1}, 1), ([[1], 2], 2), ({"a": [{"b": {}}], "c": 1}, 4)],
)
def test_nesting_depth_counts_levels_of_arrays_and_objects(value, depth):
    assert not nested_deeper_than(value, depth)
    assert depth == 0 or nested_deeper_than(value, depth - 1)


def test_nesting_up_to_the_deepest_limit_is_measured_exactly():
    assert DEEPEST_WRITTEN == 254  # orjson 3's recursion limit, which the check relies on
    at_limit = orjson.loads(b"[" * 253 + b"]" * 253)
    assert not nested_deeper_than(at_limit, 253)
    assert nested_deeper_than([at_limit], 253)
    assert nested_deeper_than({"a": [at_limit]}, 253)
    assert nested_deeper_than(orjson.loads(b"[" * 1000 + b"]" * 1000), 1)
