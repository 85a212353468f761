import pytest

from octipus.ingress.payload import InvalidPayload, decode_body


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
