"""Decode a verified raw body into the value templates and conditions see (DESIGN §3.1)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, compress
from typing import Any
from urllib.parse import parse_qs

import orjson


class InvalidPayload(ValueError):
    """The body says it is JSON (or GitHub form mode) but does not parse, or nests too deep."""


def is_json_type(content_type: str | None) -> bool:
    """`application/json`, `application/*+json` and `text/json` count as JSON."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


_CONTAINER_TYPES = frozenset((dict, list))  # what orjson parses arrays and objects into


def _containers_in(container: dict[str, Any] | list[Any]) -> Iterator[Any]:
    """The arrays and objects directly inside `container` (the scalars are skipped in C)."""
    values = container.values() if type(container) is dict else container
    return compress(values, map(_CONTAINER_TYPES.__contains__, map(type, values)))


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in `value` nest more than `limit` levels (`[[1]]` has 2).

    Goes one level at a time, each array and object once, and stops past `limit`: about the
    time orjson takes to parse the body (bench figures in docs/ingress-limits.md).
    """
    level = [value] if type(value) in _CONTAINER_TYPES else []
    for _ in range(limit):
        level = list(chain.from_iterable(map(_containers_in, level)))
        if not level:
            return False
    return bool(level)


def _json(raw: bytes, max_depth: int | None, where: str = "") -> Any:
    """`raw` parsed; InvalidPayload if it does not parse or nests deeper than `max_depth`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidPayload(f"Invalid JSON payload{where}") from None
    # No deeper than its count of brackets: most bodies need no walk.
    if (
        max_depth is not None
        and raw.count(b"[") + raw.count(b"{") > max_depth
        and nested_deeper_than(value, max_depth)
    ):
        raise InvalidPayload(
            f"JSON payload{where} nested deeper than {max_depth} levels of arrays and objects "
            "(the limit is OCTIPUS_MAX_JSON_DEPTH)"
        )
    return value


def decode_body(body: bytes, content_type: str | None, max_depth: int | None = None) -> Any:
    """JSON; a form's `payload=` JSON field (GitHub form mode); other forms as dicts; else text.

    JSON nested deeper than `max_depth` is refused (the ingress passes OCTIPUS_MAX_JSON_DEPTH).
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if is_json_type(content_type):
        return _json(body, max_depth) if body.strip() else None
    if media == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "payload" in fields:
            return _json(fields["payload"][0].encode(), max_depth, " in form field 'payload'")
        return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
    return body.decode("utf-8", "replace")
