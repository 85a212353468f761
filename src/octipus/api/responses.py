"""A JSON response that renders stored data without ever failing on it."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

from octipus.jsonbounds import renderable


class StoredJSONResponse(Response):
    """orjson in one pass; content it cannot write (stored JSON nested past its ~254 levels, an
    integer past 64 bits, a lone surrogate) is written again from `renderable(content)`, so a
    read of odd stored data answers with that data cut instead of a 500."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            return orjson.dumps(renderable(content), option=orjson.OPT_NON_STR_KEYS)
