"""Prompt assembly: prompt + payload section + event line; payload trimmed to a budget."""

from __future__ import annotations

import orjson

from octipus.agents.prompt import PAYLOAD_SEPARATOR, build_prompt, payload_text, strip_noise
from tests.support.signing import fixture_bytes


def test_prompt_is_text_then_payload_then_event_type() -> None:
    prompt = build_prompt("Summarise this.", {"action": "opened"}, "pull_request")

    assert prompt == (
        "Summarise this.\n\n--- Webhook Payload ---\n"
        '{\n  "action": "opened"\n}\nEvent type: pull_request'
    )


def test_event_line_is_left_out_when_the_event_is_unknown() -> None:
    prompt = build_prompt("Hi", {"a": 1}, None)

    assert "Event type" not in prompt
    assert prompt.endswith('"a": 1\n}')


def test_text_body_is_included_as_text() -> None:
    assert build_prompt("Hi", "plain text body", "alert").endswith(
        f"{PAYLOAD_SEPARATOR}plain text body\nEvent type: alert"
    )


def test_empty_body_is_said_to_be_empty() -> None:
    assert payload_text(None) == "(empty body)"


def test_avatars_node_ids_and_api_urls_are_dropped() -> None:
    body = {
        "sender": {
            "login": "octo",
            "avatar_url": "https://avatars/1",
            "gravatar_id": "",
            "node_id": "MDQ6",
            "url": "https://api.github.com/users/octo",
            "html_url": "https://github.com/octo",
            "followers_url": "https://api.github.com/users/octo/followers",
        },
        "issue": {"title": "Bug", "closed_at": None},
    }

    assert strip_noise(body) == {
        "sender": {"login": "octo", "html_url": "https://github.com/octo"},
        "issue": {"title": "Bug"},
    }


def test_a_url_without_a_web_sibling_is_kept() -> None:
    commit = {"id": "abc", "url": "https://github.com/o/r/commit/abc"}

    assert strip_noise(commit) == commit


def test_real_payload_fits_the_budget_without_trimming() -> None:
    body = orjson.loads(fixture_bytes("github", "pull_request.opened"))

    text = payload_text(body)

    assert '"title": "Update the README with new information."' in text
    assert '"number": 2' in text
    assert "avatar_url" not in text
    assert "node_id" not in text
    assert "…" not in text


def test_large_payload_is_shortened_keeping_meaningful_fields() -> None:
    body = orjson.loads(fixture_bytes("github", "pull_request.opened"))
    body["pull_request"]["body"] = "long description " * 2000
    body["commits"] = [{"id": f"c{i}", "message": f"commit {i}"} for i in range(500)]

    text = payload_text(body, budget=8000)

    assert len(text) <= 8000
    assert '"title": "Update the README with new information."' in text
    assert '"number": 2' in text
    assert "more items" in text
    assert "chars)" in text


def test_payload_that_cannot_shrink_enough_is_cut_with_a_note() -> None:
    body = {f"field_{i}": i for i in range(5000)}

    text = payload_text(body, budget=1000)

    assert text.startswith('{\n  "field_0": 0')
    assert "payload truncated" in text
    assert len(text) < 1100
