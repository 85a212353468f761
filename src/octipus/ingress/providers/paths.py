"""`triggerConfig.webhookPath`: the rule for the path senders post to."""

from __future__ import annotations

import re

_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
MAX_PATH = 500


def normalise_path(path: str) -> str:
    """The path without surrounding slashes; ValueError says what is wrong with it."""
    path = path.strip("/")
    if not path:
        raise ValueError('is required, e.g. "github"')
    segments = path.split("/")
    if len(path) > MAX_PATH or any(s in ("", ".", "..") or not _SEGMENT.match(s) for s in segments):
        raise ValueError(
            "must be segments of letters, digits and ._~- joined by '/'"
            f" (no empty segments, no '..'), at most {MAX_PATH} characters"
        )
    return path
