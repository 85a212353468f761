"""The execution log's list, filters and body search on a large SQLite database.

Builds a temporary database through the migrations (1M executions by default, one delivery
each, 50 hooks of 2 users, bodies of ~350 bytes with words of varied frequency), indexes the
bodies as the leader would (`SearchIndexer.catch_up`, timed: the cost moved off the ingress
path), then times the API's own query code (`api.executions._page`) for each case, as admin and
as a user, and prints p50/p95 per case. Not a test: nothing asserts a timing.

    .venv/bin/python bench/log_search.py [--executions 1000000] [--repeat 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from octipus.api.execution_filters import LogFilter
from octipus.api.executions import _page
from octipus.config import Settings
from octipus.db.engine import create_engine, create_sessionmaker, upgrade_schema
from octipus.db.tables import User
from octipus.search import BATCH, SearchIndexer

HOOKS, USERS, DAYS = 50, 2, 30
WORDS = [f"w{n}" for n in range(2000)]  # word n appears in ~1/(n+1) of the bodies (Zipf-ish)
STATUSES = ["success"] * 90 + ["error"] * 5 + ["retrying"] * 3 + ["skipped"] * 2


def _ids(count: int, start: datetime) -> list[tuple[str, datetime]]:
    """Time-ordered ids like db/ids.py, spread over DAYS."""
    step = timedelta(days=DAYS) / count
    out = []
    for n in range(count):
        when = start + step * n
        out.append((f"{int(when.timestamp() * 1000):012x}{random.getrandbits(80):020x}", when))
    return out


def _body(n: int, rng: random.Random) -> bytes:
    words = " ".join(WORDS[min(int(rng.paretovariate(1.0)) - 1, 1999)] for _ in range(12))
    return (
        f'{{"ref": "refs/heads/branch-{n % 500}", "repository": {{"full_name": "org/repo-'
        f'{n % 200}"}}, "head_commit": {{"id": "{rng.getrandbits(160):040x}", "message": '
        f'"{words}"}}, "sender": {{"login": "user{n % 1000}"}}}}'
    ).encode()


def build(path: Path, count: int) -> tuple[list[str], list[str], str]:
    """Fill the database; returns (user ids, hook ids, one commit id in a body)."""
    rng = random.Random(7)
    db = sqlite3.connect(path)
    now = datetime.now(UTC).replace(tzinfo=None)
    users = [f"{n:032x}" for n in range(1, USERS + 1)]
    hooks = [f"{n:032x}" for n in range(100, 100 + HOOKS)]
    db.executemany(
        "INSERT INTO users (id, name, is_admin, created_at) VALUES (?, ?, 0, ?)",
        [(u, f"user{u[-2:]}", now) for u in users],
    )
    db.executemany(
        "INSERT INTO hooks (id, owner_id, name, trigger, webhook_path, trigger_config, action, "
        "action_config, conditions, is_enabled, priority, execution_count, cooldown_ms, "
        "created_at, updated_at) VALUES (?, ?, ?, 'webhook', ?, '{}', 'webhook', '{}', '[]', 1, "
        "0, 0, 0, ?, ?)",
        [(h, users[n % USERS], f"hook{n}", f"p{n}", now, now) for n, h in enumerate(hooks)],
    )
    needle = ""
    start = now - timedelta(days=DAYS)
    batch = 50_000
    for offset in range(0, count, batch):
        ids = _ids(min(batch, count - offset), start + timedelta(days=DAYS) * offset / count)
        deliveries, executions = [], []
        for n, (pk, when) in enumerate(ids, offset):
            body = _body(n, rng)
            if n == count // 2:
                needle = body.split(b'"id": "')[1][:40].decode()
            event = "push" if n % 10 else "release"
            deliveries.append((pk, f"p{n % HOOKS}", f"gh-{n}", event, "{}", "{}", body, when))
            status = STATUSES[n % len(STATUSES)]
            executions.append((pk, hooks[n % HOOKS], pk, status, when, when, when))
        db.executemany(
            "INSERT INTO deliveries (id, path, delivery_id, event_type, method, content_type, "
            "headers, query, body, received_at) VALUES (?, ?, ?, ?, 'POST', "
            "'application/json', ?, ?, ?, ?)",
            deliveries,
        )
        db.executemany(
            "INSERT INTO executions (id, hook_id, delivery_pk, source, status, attempts, "
            "max_attempts, trigger_type, action_type, created_at, finished_at, run_after) "
            "VALUES (?, ?, ?, 'hook', ?, 1, 8, 'webhook', 'webhook', ?, ?, ?)",
            executions,
        )
        db.commit()
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return users, hooks, needle


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def measure(path: Path, count: int, repeat: int) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}")
    engine = create_engine(settings)
    await upgrade_schema(engine)
    sessions = create_sessionmaker(engine)
    started = time.perf_counter()
    users, hooks, needle = await asyncio.to_thread(build, path, count)
    print(f"built {count} executions + deliveries in {time.perf_counter() - started:.0f}s")
    indexer = SearchIndexer(sessions, 1.0)
    started = time.perf_counter()
    indexed = await indexer.catch_up()
    took = time.perf_counter() - started
    print(
        f"indexed {indexed} bodies in {took:.1f}s: {took / indexed * 1e6:.0f} µs each, "
        f"one batch of {BATCH} holds the write lock ~{took / indexed * BATCH * 1000:.0f} ms"
    )
    admin = User(id="0" * 32, name="admin", is_admin=True)
    user = User(id=users[0], name="user", is_admin=False)
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    cases: list[tuple[str, User, Callable[[], LogFilter]]] = [
        ("newest page", admin, LogFilter),
        ("newest page (user)", user, LogFilter),
        ("hookId", user, lambda: LogFilter(hook_id=hooks[0])),
        ("status=error", admin, lambda: LogFilter(statuses=["error"])),
        ("status=error (user)", user, lambda: LogFilter(statuses=["error"])),
        (
            "hookId+status=retrying",
            user,
            lambda: LogFilter(hook_id=hooks[2], statuses=["retrying"]),
        ),
        ("event=release", admin, lambda: LogFilter(event="release")),
        ("deliveryId", admin, lambda: LogFilter(delivery_id=f"gh-{count // 3}")),
        ("since 7 days", admin, lambda: LogFilter(since=week_ago)),
        ("q rare (1 match)", admin, lambda: LogFilter(q=needle)),
        ("q rare (user)", user, lambda: LogFilter(q=needle)),
        ("q mid (w50, ~0.5%)", admin, lambda: LogFilter(q="w50")),
        ("q common (w0)", admin, lambda: LogFilter(q="w0")),
        ("q + hookId", user, lambda: LogFilter(hook_id=hooks[0], q="w50")),
    ]
    print(f"{'case':28} {'total':>8} {'p50 ms':>8} {'p95 ms':>8}  (total 10001: more than 10000)")
    for name, who, wanted in cases:
        samples, total = [], 0
        async with sessions() as session:  # warm up: the connection, the statement cache
            await _page(session, who, 50, 0, wanted())
        for _ in range(repeat):
            async with sessions() as session:
                started = time.perf_counter()
                page: dict[str, Any] = await _page(session, who, 50, 0, wanted())
                samples.append((time.perf_counter() - started) * 1000)
                total = page["total"] + page["totalCapped"]
        p50, p95 = percentiles(samples)
        print(f"{name:28} {total:>8} {p50:>8.1f} {p95:>8.1f}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build the database in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        asyncio.run(measure(folder / "log.db", args.executions, args.repeat))


if __name__ == "__main__":
    main()
