"""Drain benchmark: queued forward executions to a local receiver; completed/s and latency.

    .venv/bin/python bench/drain.py [--executions 5000] [--hook-concurrency 20]

backlog: Octipus with its worker off accepts N signed deliveries for one forward hook, stops,
         and serves again with the worker on; rate = N / (last finished - first started).
live:    with the worker on, N deliveries arrive over 16 connections while it drains;
         end-to-end latency = finished - received, per execution.
Figures come from the executions table (the execution log's source).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from machine import describe
from payload import SECRET, github_signature, push_payload
from pyspy import start_py_spy, top_costs
from servers import Octipus, Receiver, rss_kib

FINISHED = ("success", "error", "skipped")


@dataclass(frozen=True)
class Row:
    status: str
    created: datetime
    started: datetime | None
    finished: datetime | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--hook-concurrency",
        type=int,
        default=20,
        help="OCTIPUS_HOOK_CONCURRENCY (one hook here; the default config allows 2 per hook)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up waiting after this")
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample Octipus with py-spy for 8 s of the backlog drain; collapsed stacks here",
    )
    args = parser.parse_args()
    if not 1 <= args.executions <= 100_000:
        parser.error("--executions must be 1..100000")
    return args


async def send_deliveries(url: str, count: int, connections: int, tag: str) -> float:
    """POST `count` signed deliveries over `connections` connections; returns seconds taken."""
    body = push_payload()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": github_signature(body),
    }
    numbers = iter(range(count))
    limits = httpx.Limits(max_connections=connections)

    async def sender(client: httpx.AsyncClient) -> None:
        for n in numbers:
            delivery = {**headers, "X-GitHub-Delivery": f"{tag}-{n}"}
            response = await client.post(url, content=body, headers=delivery)
            if response.status_code != 202:
                raise RuntimeError(f"delivery {n}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(connections)))
    return time.perf_counter() - started


def read_rows(octipus: Octipus) -> list[Row]:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    with sqlite3.connect(f"file:{octipus.dir}/octipus.db?mode=ro", uri=True) as db:
        query = "select status, created_at, started_at, finished_at from executions"
        return [Row(s, when(c), when(st), when(f)) for s, c, st, f in db.execute(query)]  # type: ignore[arg-type]


def wait_until_finished(octipus: Octipus, count: int, timeout: float) -> tuple[list[Row], float]:
    """Poll the database until `count` executions finished (or the timeout); peak RSS in MiB."""
    deadline = time.monotonic() + timeout
    peak = 0
    rows: list[Row] = []
    while time.monotonic() < deadline:
        peak = max(peak, rss_kib(octipus.pid))
        rows = read_rows(octipus)
        if sum(r.status in FINISHED for r in rows) >= count:
            break
        time.sleep(0.25)
    return rows, peak / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(phase: str, rows: list[Row], start_of: str, rss_mib: float) -> None:
    done = [r for r in rows if r.status in FINISHED and r.finished and r.started]
    if not done:
        print(f"{phase}: no execution finished")
        return
    first = min(getattr(r, start_of) for r in done)
    last = max(r.finished for r in done)  # type: ignore[type-var]
    span = (last - first).total_seconds()
    e2e = [1000 * (r.finished - r.created).total_seconds() for r in done]  # type: ignore[operator]
    run = [1000 * (r.finished - r.started).total_seconds() for r in done]  # type: ignore[operator]
    errors = sum(r.status != "success" for r in done)
    print(
        f"{phase:8} {len(done)}/{len(rows)} finished in {span:.2f} s = {len(done) / span:7.0f}"
        f" executions/s  errors {errors}  peak RSS {rss_mib:.1f} MiB"
    )
    print(
        f"         received->finished ms: p50 {percentile(e2e, 50):.0f}"
        f"  p90 {percentile(e2e, 90):.0f}  p99 {percentile(e2e, 99):.0f}"
        f" | started->finished ms: p50 {percentile(run, 50):.1f}  p99 {percentile(run, 99):.1f}"
        f"  mean {statistics.fmean(run):.1f}"
    )


def main() -> None:
    args = parse_args()
    env = {
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_HOOK_CONCURRENCY": str(args.hook_concurrency),
        "OCTIPUS_WORKER_ENABLED": "false",
    }
    print(f"machine: {describe()}")
    print(
        f"drain: {args.executions} forwards of a {len(push_payload())} byte push to a local"
        f" receiver, hook concurrency {args.hook_concurrency}"
    )
    with Receiver().start() as receiver, Octipus(env).start() as octipus:
        octipus.create_hook("drain", SECRET, "webhook", {"webhookUrl": receiver.url})
        took = asyncio.run(
            send_deliveries(octipus.url, args.executions, args.connections, "backlog")
        )
        print(f"backlog  queued {args.executions} deliveries in {took:.1f} s (worker off)")
        octipus.halt()
        octipus.start(OCTIPUS_WORKER_ENABLED="true")
        spy = start_py_spy(octipus.pid, 8, args.profile) if args.profile else None
        rows, rss = wait_until_finished(octipus, args.executions, args.timeout)
        report("backlog", rows, "started", rss)
        if spy is not None:
            spy.wait(60)
            print(top_costs(args.profile))

    with (
        Receiver().start() as receiver,
        Octipus({**env, "OCTIPUS_WORKER_ENABLED": "true"}) as octipus,
    ):
        octipus.start()
        octipus.create_hook("drain", SECRET, "webhook", {"webhookUrl": receiver.url})
        took = asyncio.run(send_deliveries(octipus.url, args.executions, args.connections, "live"))
        print(f"live     sent {args.executions} deliveries in {took:.1f} s (worker on)")
        rows, rss = wait_until_finished(octipus, args.executions, args.timeout)
        report("live", rows, "created", rss)


if __name__ == "__main__":
    main()
