"""Decode a verified raw body into the value templates and conditions see (DESIGN §3.1)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs

import orjson


class InvalidPayload(ValueError):
    """The body says it is JSON (or GitHub form mode) but does not parse, or nests too deep."""


def is_json_type(content_type: str | None) -> bool:
    """`application/json`, `application/*+json` and `text/json` count as JSON."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _nested(value: Any, levels: int) -> Any:
    """`value` inside `levels` arrays."""
    for _ in range(levels):
        value = [value]
    return value


def _deepest_orjson_writes() -> int:
    """How many levels of arrays orjson.dumps writes before its recursion limit (254)."""
    low, high = 0, 4096
    while low < high:
        middle = (low + high + 1) // 2
        try:
            orjson.dumps(_nested(None, middle))
            low = middle
        except orjson.JSONEncodeError:
            high = middle - 1
    if low == 4096:
        raise RuntimeError("orjson.dumps no longer limits nesting: nested_deeper_than needs it")
    return low


DEEPEST_WRITTEN = _deepest_orjson_writes()
_wrappers = threading.local()  # per thread: {levels: (outermost array, innermost array)}


def _wrapper(levels: int) -> tuple[list[Any], list[Any]]:
    """`levels` arrays one inside the next, the innermost with one slot (made once per thread)."""
    made: dict[int, tuple[list[Any], list[Any]]] = _wrappers.__dict__.setdefault("made", {})
    if levels not in made:
        inner: list[Any] = [None]
        made[levels] = (_nested(inner, levels - 1), inner)
    return made[levels]


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in `value` (as parsed from JSON) nest more than `limit` levels
    (`[[1]]` has 2); `limit` is below DEEPEST_WRITTEN.

    orjson's own recursion limit does the walk, in C: `value` inside DEEPEST_WRITTEN - `limit`
    more arrays fails to serialise exactly when it nests deeper than `limit`. That costs about a
    third of parsing it (docs/ingress-limits.md, bench/limits.py).
    """
    outer, inner = _wrapper(DEEPEST_WRITTEN - limit)
    inner[0] = value
    try:
        orjson.dumps(outer)
    except orjson.JSONEncodeError:
        return True
    finally:
        inner[0] = None
    return False


def _json(raw: bytes, max_depth: int | None, where: str = "") -> Any:
    """`raw` parsed; InvalidPayload if it does not parse or nests deeper than `max_depth`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidPayload(f"Invalid JSON payload{where}") from None
    if max_depth is not None and nested_deeper_than(value, max_depth):
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
