"""Scale-out benchmark on PostgreSQL: drains of a fixed backlog by 1 and by 3 worker processes.

    .venv/bin/python bench/scale.py [--backlog 3000] [--delay-ms 50] [--workers 1,3]

For each scenario and worker count, a fresh database: one API node (`octipus serve --no-worker`)
accepts the backlog of signed deliveries, then N `octipus worker` processes start together and
drain it. Every hook forwards (action `webhook`) to bench/receiver.py, which answers after
`--delay-ms`: the work is latency-bound, so two CPUs suffice for 3 workers' 60 slots.

- hooks:   10 hooks, deliveries spread evenly, each hook `concurrency` = the worker's slots (20)
- hot:     1 hook with `concurrency: 60`

Reported per drain: executions/s (from the moment every worker has claimed once until the last
finish, and from the first claim), errors, how the executions split between the workers, and
the database's `pg_stat_database.deadlocks` before and after. PostgreSQL on 127.0.0.1:5432
(trust auth, user postgres); the databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from drain import send_deliveries
from machine import describe
from payload import SECRET
from servers import Octipus, Receiver

from octipus.config import Settings

PG = "postgresql://postgres@127.0.0.1:5432"
FINISHED = ("success", "error", "skipped")


@dataclass(frozen=True)
class Scenario:
    name: str
    hooks: int
    concurrency: int


@dataclass(frozen=True)
class Drain:
    workers: int
    executions: int
    errors: int
    rate_all: float  # executions/s once every worker has claimed
    rate_first: float  # executions/s from the first claim
    shares: list[int]  # executions per worker, largest first
    deadlocks: int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=3000, help="deliveries per drain")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the receiver's answer delay")
    parser.add_argument("--workers", default="1,3", help="worker process counts, comma-separated")
    parser.add_argument("--scenario", choices=("hooks", "hot", "both"), default="both")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up a drain after this")
    args = parser.parse_args()
    args.workers = [int(n) for n in args.workers.split(",")]
    if not 1 <= args.backlog <= 100_000 or not all(1 <= n <= 8 for n in args.workers):
        parser.error("--backlog must be 1..100000 and each worker count 1..8")
    return args


async def pg(database: str, query: str, *params: object) -> list[asyncpg.Record]:
    try:
        conn = await asyncpg.connect(f"{PG}/{database}")
    except OSError as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {PG} (user postgres): {exc}") from None
    try:
        return list(await conn.fetch(query, *params))
    finally:
        await conn.close()


async def deadlocks(name: str) -> int:
    rows = await pg("postgres", "select deadlocks from pg_stat_database where datname = $1", name)
    return int(rows[0]["deadlocks"]) if rows else 0


async def drain_once(scenario: Scenario, workers: int, args: argparse.Namespace) -> Drain:
    """A fresh database, the backlog accepted by an API node, then drained by `workers`."""
    name = f"octipus_bench_{uuid.uuid4().hex[:10]}"
    await pg("postgres", f'create database "{name}"')
    env = {
        "OCTIPUS_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_LOG_LEVEL": "warning",
    }
    try:
        with ExitStack() as stack:
            receiver = stack.enter_context(Receiver(args.delay_ms).start())
            api = stack.enter_context(Octipus(env, ("serve", "--no-worker")).start())
            urls, refused = [], False
            for n in range(scenario.hooks):
                forward = {"webhookUrl": receiver.url}
                _, unknown = api.create_hook(
                    f"scale-{n}", SECRET, "webhook", forward, concurrency=scenario.concurrency
                )
                refused = refused or bool(unknown)
                urls.append(api.url)
            if refused:  # this Octipus has no per-hook field: the same limit for every hook
                env["OCTIPUS_HOOK_CONCURRENCY"] = str(scenario.concurrency)
            took = await send_deliveries(urls, args.backlog, 16, f"scale-{workers}")
            print(
                f"  {workers} worker(s): {args.backlog} deliveries accepted in {took:.1f} s"
                f"{' (hook field `concurrency` unknown: OCTIPUS_HOOK_CONCURRENCY set)' * refused}",
                flush=True,
            )
            before = await deadlocks(name)
            nodes = [Octipus(env, ("worker",), upgrade=False) for _ in range(workers)]
            for node in nodes:
                stack.enter_context(node.start())
            await wait_drained(name, args.backlog, args.timeout)
            return await measure(name, workers, await deadlocks(name) - before)
    finally:
        await pg("postgres", f'drop database if exists "{name}" with (force)')


async def wait_drained(name: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await pg(
            name, "select count(*) as n from executions where status = any($1)", FINISHED
        )
        if rows[0]["n"] >= count:
            return
        await asyncio.sleep(0.25)
    print(f"  gave up after {timeout:.0f} s: {rows[0]['n']} of {count} finished")


async def measure(name: str, workers: int, deadlock_count: int) -> Drain:
    rows = await pg(
        name,
        "select status, worker_id, started_at, finished_at from executions"
        " where finished_at is not null",
    )
    first_claims: dict[str, datetime] = {}
    for row in rows:
        worker = row["worker_id"]
        first_claims[worker] = min(row["started_at"], first_claims.get(worker, row["started_at"]))
    last = max(row["finished_at"] for row in rows)
    all_in = max(first_claims.values())
    after_all = sum(row["started_at"] >= all_in for row in rows)
    return Drain(
        workers=workers,
        executions=len(rows),
        errors=sum(row["status"] != "success" for row in rows),
        rate_all=after_all / max(1e-9, (last - all_in).total_seconds()),
        rate_first=len(rows) / max(1e-9, (last - min(first_claims.values())).total_seconds()),
        shares=sorted(Counter(row["worker_id"] for row in rows).values(), reverse=True),
        deadlocks=deadlock_count,
    )


def print_drain(drain: Drain) -> None:
    print(
        f"  {drain.workers} worker(s): {drain.executions} drained, {drain.rate_all:6.0f}/s once"
        f" every worker claimed ({drain.rate_first:.0f}/s from the first claim), errors"
        f" {drain.errors}, per worker {drain.shares}, deadlocks {drain.deadlocks}",
        flush=True,
    )


async def main() -> None:
    args = parse_args()
    slots = Settings.model_fields["worker_concurrency"].default
    scenarios = {
        "hooks": Scenario(f"10 hooks, concurrency {slots} each", 10, slots),
        "hot": Scenario("1 hot hook, concurrency 60", 1, 60),
    }
    print(f"machine: {describe()}")
    print(
        f"scale: PostgreSQL, backlog {args.backlog} forwards to a receiver answering after"
        f" {args.delay_ms:.0f} ms; {slots} slots per worker process"
    )
    chosen = scenarios.values() if args.scenario == "both" else [scenarios[args.scenario]]
    for scenario in chosen:
        print(f"{scenario.name}:")
        drains = []
        for workers in args.workers:
            drains.append(await drain_once(scenario, workers, args))
            print_drain(drains[-1])
        base = drains[0]
        for drain in drains[1:]:
            print(
                f"  ratio {drain.workers} workers / {base.workers}:"
                f" {drain.rate_all / base.rate_all:.2f} (target for 3 / 1: >= 2.5)"
            )


if __name__ == "__main__":
    asyncio.run(main())
