"""Decode a verified raw body into the value templates and conditions see (DESIGN §3.1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson


class InvalidPayload(ValueError):
    """The body says it is JSON (or GitHub form mode) but does not parse."""


def is_json_type(content_type: str | None) -> bool:
    """`application/json`, `application/*+json` and `text/json` count as JSON."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def decode_body(body: bytes, content_type: str | None) -> Any:
    """JSON; a form's `payload=` JSON field (GitHub form mode); other forms as dicts; else text."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if is_json_type(content_type):
        if not body.strip():
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidPayload("Invalid JSON payload") from None
    if media == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "payload" in fields:
            try:
                return orjson.loads(fields["payload"][0])
            except orjson.JSONDecodeError:
                raise InvalidPayload("Invalid JSON payload in form field 'payload'") from None
        return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
    return body.decode("utf-8", "replace")
