"""`{{dot.path}}` templates over the trigger context (DESIGN §5, "Templates")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

_INDEX = re.compile(r"-?[0-9]{1,18}")  # not str.isdigit(): it accepts "²", which int() refuses
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_MISSING = object()


def lookup(context: Any, path: str) -> Any:
    """Resolve a dot path (`webhook.body.commits.0.id`); _MISSING when it does not resolve."""
    value = context
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part in value:
                value = value[part]
            elif part.lower() in value:
                value = value[part.lower()]
            else:
                return _MISSING
        elif isinstance(value, list) and _INDEX.fullmatch(part):
            index = int(part)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def resolve(context: Any, path: str, default: Any = None) -> Any:
    """Like `lookup`, with a default for paths that do not resolve."""
    value = lookup(context, path)
    return default if value is _MISSING else value


def to_text(value: Any) -> str:
    """How a value renders inside a template: objects as JSON, None as empty, the rest as str."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Substitute every `{{path}}`; unresolved placeholders stay as written."""

    def _sub(match: re.Match[str]) -> str:
        value = lookup(context, match.group(1))
        return match.group(0) if value is _MISSING else to_text(value)

    return PLACEHOLDER.sub(_sub, template)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON-like structure (dict keys are left alone)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    return value
