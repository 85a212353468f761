"""JSON that users store: the bounds checked when it is saved, and a rendering of stored values
that any JSON encoder can write (rows stored before the bounds existed, or by other paths).

orjson and pydantic refuse values nested past about 254 levels and integers past 64 bits, and
nothing encodes a lone UTF-16 surrogate (JSON's `"\\ud800"` parses to one in Python).
"""

from __future__ import annotations

import math
from typing import Any

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_UINT_MAX = 2**64 - 1  # orjson writes integers up to here
RENDER_DEPTH = 100
CUT = "… (nested too deep to show)"
_SHOWN_PATH = 120


def _encodable(text: str) -> bool:
    """False for text with a lone surrogate, which cannot be written as UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _where(path: str) -> str:
    return path if len(path) <= _SHOWN_PATH else path[:_SHOWN_PATH] + "…"


def _leaf_problem(value: Any, path: str, max_text: int | None) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        return f"{_where(path)} must be a whole number from -2^63 to 2^63-1"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{_where(path)} must be a finite number"
    if isinstance(value, str):
        if not _encodable(value):
            return f"{_where(path)} contains a lone UTF-16 surrogate; send valid Unicode text"
        if max_text is not None and len(value) > max_text:
            return f"{_where(path)} is longer than {max_text} characters"
    return None


def json_problem(value: Any, where: str, max_depth: int, max_text: int | None = None) -> str | None:
    """What makes `value` (the field `where`) unfit to store, naming the place; None if fine.

    Checks nesting (`where` itself is level 1), integer range, finite numbers, valid text, and
    optionally the length of every string. Iterative, so any depth the parser produced is safe.
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                return (
                    f"{_where(where)} is nested deeper than {max_depth} levels"
                    f" (at {_where(path)}); flatten it"
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str) or not _encodable(key):
                        return f"{_where(path)} has a key that is not valid Unicode text"
                    stack.append((child, f"{path}.{key}", depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        elif (problem := _leaf_problem(item, path, max_text)) is not None:
            return problem
    return None


def valid_text(value: str) -> str:
    """`value`, with any lone surrogate replaced by '?' so it can be written as UTF-8."""
    return value if _encodable(value) else value.encode("utf-8", "replace").decode()


def _int(value: int) -> int | str:
    if INT_MIN <= value <= _UINT_MAX:
        return value
    try:
        return str(value)
    except ValueError:  # past Python's int-to-text digit limit
        return "… (integer too large to show)"


def renderable(value: Any, depth: int = RENDER_DEPTH) -> Any:
    """A copy of `value` any encoder can write: containers nested deeper than `depth` become
    the text CUT, integers past 64 bits become text, lone surrogates become '?'."""
    if isinstance(value, dict):
        if depth <= 0:
            return CUT
        return {valid_text(str(k)): renderable(v, depth - 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return CUT if depth <= 0 else [renderable(v, depth - 1) for v in value]
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value)
    return value
