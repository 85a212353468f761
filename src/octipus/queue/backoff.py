"""When a failed execution runs again: exponential schedule with jitter, `Retry-After` honoured."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Delay after the 1st, 2nd, ... failed attempt; the last entry repeats (8 attempts by default).
SCHEDULE_SECONDS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
JITTER = 0.2  # ±20 %: spreads retries of a burst so a recovering receiver is not hit at once
MAX_RETRY_AFTER_SECONDS = 86400.0


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    scale: float = 1.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    The scheduled delay (times `scale`, with jitter) is used unless the receiver asked for a
    longer wait with `Retry-After`, which is honoured as given (capped at one day).
    """
    base = SCHEDULE_SECONDS[min(max(attempt, 1), len(SCHEDULE_SECONDS)) - 1] * scale
    scheduled = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after is None:
        return scheduled
    return max(scheduled, min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECONDS))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` (delay-seconds or an HTTP date) as seconds; None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
