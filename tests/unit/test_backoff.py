"""Retry schedule: exponential with jitter, scaled for tests, `Retry-After` honoured."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from octipus.queue.backoff import JITTER, SCHEDULE_SECONDS, parse_retry_after, retry_delay


@pytest.mark.parametrize("attempt", range(1, len(SCHEDULE_SECONDS) + 1))
def test_each_attempt_waits_its_scheduled_delay_within_the_jitter(attempt: int):
    base = SCHEDULE_SECONDS[attempt - 1]
    delays = [retry_delay(attempt, rng=random.Random(seed)) for seed in range(50)]
    assert all(base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in delays)


def test_the_default_schedule_is_5s_5min_30min_2h_5h_10h_10h():
    assert SCHEDULE_SECONDS == (5, 300, 1800, 7200, 18000, 36000, 36000)


def test_jitter_spreads_retries_of_the_same_attempt():
    delays = {retry_delay(1, rng=random.Random(seed)) for seed in range(20)}
    assert len(delays) > 10


def test_attempts_past_the_schedule_repeat_its_last_delay():
    rng = random.Random(1)
    assert retry_delay(30, rng=rng) <= SCHEDULE_SECONDS[-1] * (1 + JITTER)
    assert retry_delay(30, rng=rng) >= SCHEDULE_SECONDS[-1] * (1 - JITTER)


def test_scale_shrinks_the_schedule_for_tests():
    assert retry_delay(1, scale=0.001, rng=random.Random(0)) < 0.01


def test_a_longer_retry_after_wins_over_the_schedule():
    assert retry_delay(1, retry_after=120, rng=random.Random(0)) == 120


def test_a_shorter_retry_after_does_not_shorten_the_schedule():
    assert retry_delay(2, retry_after=1, rng=random.Random(0)) >= 300 * (1 - JITTER)


def test_retry_after_is_capped_at_one_day():
    assert retry_delay(1, retry_after=10**9, scale=0.001) == 86400


def test_retry_after_in_seconds_parses():
    assert parse_retry_after("42") == 42.0


def test_retry_after_as_an_http_date_parses_to_the_remaining_seconds():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=now) == 90.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5"])
def test_missing_or_invalid_retry_after_is_none(value):
    assert parse_retry_after(value) is None
