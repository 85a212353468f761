"""Identifiers: time-ordered, random, not enumerable."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """A 32-hex-digit id: 48 bits of milliseconds then 80 random bits (sorts by creation)."""
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"
