"""Prompt assembly (DESIGN §7): rendered agentPrompt, payload trimmed to a budget, event type.

Trimming keeps what a reader needs (titles, bodies, refs, numbers, people, web links) and drops
what only costs tokens: avatars, node ids, API URLs and URL templates. When the payload is still
over budget, long strings and long lists are shortened step by step, then the text is cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

PAYLOAD_SEPARATOR = "\n\n--- Webhook Payload ---\n"
PAYLOAD_BUDGET_CHARS = 24_000  # about 6k tokens
NOISE_KEYS = frozenset({"avatar_url", "gravatar_id", "node_id", "_links", "user_avatar", "avatar"})
KEPT_URL_KEYS = frozenset({"html_url", "web_url"})
# (longest string, longest list) per trimming step; None keeps everything.
TRIM_STEPS: tuple[tuple[int | None, int | None], ...] = (
    (None, None),
    (2000, 20),
    (500, 10),
    (200, 5),
    (80, 3),
)


def _is_noise(key: str, siblings: Mapping[str, Any]) -> bool:
    if key in NOISE_KEYS:
        return True
    if key.endswith("_url") and key not in KEPT_URL_KEYS:
        return True
    return key == "url" and "html_url" in siblings  # GitHub's API URL next to the web one


def strip_noise(value: Any) -> Any:
    """Drop avatar/API-URL/node-id fields and nulls, recursively."""
    if isinstance(value, Mapping):
        return {
            k: strip_noise(v)
            for k, v in value.items()
            if v is not None and not _is_noise(str(k), value)
        }
    if isinstance(value, list):
        return [strip_noise(v) for v in value]
    return value


def shorten(value: Any, max_string: int | None, max_items: int | None) -> Any:
    """Cut strings longer than `max_string` and lists longer than `max_items`, saying so."""
    if isinstance(value, str) and max_string is not None and len(value) > max_string:
        return f"{value[:max_string]}… (+{len(value) - max_string} chars)"
    if isinstance(value, Mapping):
        return {k: shorten(v, max_string, max_items) for k, v in value.items()}
    if isinstance(value, list):
        kept = [shorten(v, max_string, max_items) for v in value[:max_items]]
        if max_items is not None and len(value) > max_items:
            kept.append(f"… {len(value) - max_items} more items")
        return kept
    return value


def _dump(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def payload_text(body: Any, budget: int = PAYLOAD_BUDGET_CHARS) -> str:
    """The payload as the agent sees it: pretty JSON (or text) within `budget` characters."""
    if body is None or body == "":
        return "(empty body)"
    if isinstance(body, str):
        text = body
    else:
        cleaned = strip_noise(body)
        for max_string, max_items in TRIM_STEPS:
            text = _dump(shorten(cleaned, max_string, max_items))
            if len(text) <= budget:
                break
    if len(text) > budget:
        text = f"{text[:budget]}\n… (payload truncated, {len(text) - budget} more chars)"
    return text


def build_prompt(
    agent_prompt: str, body: Any, event_type: str | None, budget: int = PAYLOAD_BUDGET_CHARS
) -> str:
    """agentPrompt + payload section + `Event type:` line when the event is known."""
    prompt = f"{agent_prompt}{PAYLOAD_SEPARATOR}{payload_text(body, budget)}"
    if event_type:
        prompt += f"\nEvent type: {event_type}"
    return prompt
