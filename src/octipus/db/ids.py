"""Identifiers: time-ordered, random, not enumerable."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

_RANDOM_BYTES = 10
_random = threading.local()  # per thread: os.urandom bytes not yet used


def _random_hex() -> str:
    """10 bytes from os.urandom, as hex; drawn 4 KiB at a time (one system call per ~400 ids,
    where each call also lets another thread take the GIL)."""
    pool: bytes = getattr(_random, "pool", b"")
    used: int = getattr(_random, "used", 0)
    if used + _RANDOM_BYTES > len(pool):
        pool, used = os.urandom(4096), 0
        _random.pool = pool
    _random.used = used + _RANDOM_BYTES
    return pool[used : used + _RANDOM_BYTES].hex()


def new_id() -> str:
    """A 32-hex-digit id: 48 bits of milliseconds then 80 random bits (sorts by creation)."""
    return f"{int(time.time() * 1000):012x}{_random_hex()}"


def first_id_at(when: datetime) -> str:
    """The smallest id `new_id` can give at `when`: ids below it were created earlier."""
    return f"{int(when.timestamp() * 1000):012x}" + "0" * (2 * _RANDOM_BYTES)
