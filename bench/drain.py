"""Drain benchmark: queued cheap executions (a forward to a local receiver, a notify to a local
fake Telegram); completed/s and latency.

    .venv/bin/python bench/drain.py [--action both] [--executions 5000] [--hook-concurrency 20]

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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fake_telegram import TOKEN
from machine import describe, disk_fsync
from payload import SECRET, github_signature, push_payload
from pyspy import start_py_spy, top_costs
from servers import FakeTelegram, Octipus, Receiver, cpu_seconds, memory_kib

FINISHED = ("success", "error", "skipped")
NOTIFY_MESSAGE = "{{webhook.event}} to {{webhook.body.ref}} by {{webhook.body.pusher.name}}"
CHAT_ID = "424242"


@dataclass(frozen=True)
class Row:
    status: str
    created: datetime
    started: datetime | None
    finished: datetime | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--action",
        choices=("forward", "notify", "both"),
        default="both",
        help="forward: webhook action to bench/receiver.py; notify: to bench/fake_telegram.py",
    )
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
        help="sample Octipus with py-spy for 8 s of each backlog drain; collapsed stacks in"
        " FILE with the action's name added",
    )
    args = parser.parse_args()
    if not 1 <= args.executions <= 100_000:
        parser.error("--executions must be 1..100000")
    return args


async def send_deliveries(url: str | list[str], count: int, connections: int, tag: str) -> float:
    """POST `count` signed deliveries over `connections` connections, to `url` (or to each of a
    list of URLs in turn); returns seconds taken."""
    urls = [url] if isinstance(url, str) else url
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
            response = await client.post(urls[n % len(urls)], content=body, headers=delivery)
            if response.status_code != 202:
                raise RuntimeError(f"delivery {n}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(connections)))
    return time.perf_counter() - started


def read_rows(octipus: Octipus) -> list[Row]:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    with sqlite3.connect(f"file:{octipus.database}?mode=ro", uri=True) as db:
        query = "select status, created_at, started_at, finished_at from executions"
        return [Row(s, when(c), when(st), when(f)) for s, c, st, f in db.execute(query)]  # type: ignore[arg-type]


def wait_until_finished(
    octipus: Octipus, count: int, timeout: float
) -> tuple[list[Row], float, float]:
    """Poll the database until `count` executions finished (or the timeout); the peak RSS of
    the server's largest process in MiB, and the CPU seconds its processes used meanwhile."""
    deadline = time.monotonic() + timeout
    cpu_at_start = cpu_seconds(octipus.pid)
    peak = 0
    rows: list[Row] = []
    while time.monotonic() < deadline:
        peak = max(peak, memory_kib(octipus.pid)[0])
        rows = read_rows(octipus)
        if sum(r.status in FINISHED for r in rows) >= count:
            break
        time.sleep(0.25)
    return rows, peak / 1024, cpu_seconds(octipus.pid) - cpu_at_start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(
    phase: str, rows: list[Row], start_of: str, rss_mib: float, cpu: float | None = None
) -> None:
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
    per_run = "" if cpu is None else f"  server CPU {1e6 * cpu / len(done):.0f} us/execution"
    print(
        f"{phase:8} {len(done)}/{len(rows)} finished in {span:.2f} s = {len(done) / span:7.0f}"
        f" executions/s  errors {errors}  peak RSS {rss_mib:.1f} MiB{per_run}"
    )
    print(
        f"         received->finished ms: p50 {percentile(e2e, 50):.0f}"
        f"  p90 {percentile(e2e, 90):.0f}  p99 {percentile(e2e, 99):.0f}"
        f" | started->finished ms: p50 {percentile(run, 50):.1f}  p99 {percentile(run, 99):.1f}"
        f"  mean {statistics.fmean(run):.1f}"
    )


def link_owner_to_telegram(octipus: Octipus) -> None:
    """A verified Telegram binding for the admin, as `/link` leaves it, written straight into
    the bench's database (the linking flow is not what this measures)."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(octipus.database, timeout=30) as db:
        (owner,) = db.execute("select id from users where is_admin").fetchone()
        db.execute(
            "insert into channel_bindings (id, user_id, channel_type, external_id, display_name,"
            " status, config, created_at, verified_at)"
            " values (?, ?, 'telegram', ?, '@bench', 'verified', '{}', ?, ?)",
            (uuid.uuid4().hex, owner, CHAT_ID, now, now),
        )


def create_hook(octipus: Octipus, action: str, target: Receiver) -> None:
    if action == "notify":
        link_owner_to_telegram(octipus)
        octipus.create_hook("drain", SECRET, "notify", {"notifyMessage": NOTIFY_MESSAGE})
    else:
        octipus.create_hook("drain", SECRET, "webhook", {"webhookUrl": target.url})


def drain(action: str, args: argparse.Namespace) -> None:
    """The backlog and live phases for one action, each with fresh servers."""
    target_type = FakeTelegram if action == "notify" else Receiver
    env = {
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_HOOK_CONCURRENCY": str(args.hook_concurrency),
        "OCTIPUS_WORKER_ENABLED": "false",
        "OCTIPUS_TELEGRAM_BOT_TOKEN": TOKEN,
        "OCTIPUS_LOG_LEVEL": "warning",
    }
    what = {
        "forward": f"forwards of a {len(push_payload())} byte push to a local receiver",
        "notify": "notifies (one Telegram sendMessage each) to a local fake Telegram",
    }[action]
    print(f"drain: {args.executions} {what}, hook concurrency {args.hook_concurrency}")
    profile = args.profile and args.profile.with_name(
        f"{args.profile.stem}-{action}{args.profile.suffix}"
    )
    with (
        target_type().start() as target,
        Octipus({**env, "OCTIPUS_TELEGRAM_API_URL": target.url}).start() as octipus,
    ):
        create_hook(octipus, action, target)
        took = asyncio.run(
            send_deliveries(octipus.url, args.executions, args.connections, "backlog")
        )
        print(f"backlog  queued {args.executions} deliveries in {took:.1f} s (worker off)")
        octipus.halt()
        octipus.start(OCTIPUS_WORKER_ENABLED="true")
        spy = start_py_spy(octipus.pid, 8, profile) if profile else None
        rows, rss, cpu = wait_until_finished(octipus, args.executions, args.timeout)
        report("backlog", rows, "started", rss, cpu)
        if spy is not None:
            spy.wait(60)
            print(top_costs(profile))

    with (
        target_type().start() as target,
        Octipus(
            {**env, "OCTIPUS_WORKER_ENABLED": "true", "OCTIPUS_TELEGRAM_API_URL": target.url}
        ).start() as octipus,
    ):
        create_hook(octipus, action, target)
        took = asyncio.run(send_deliveries(octipus.url, args.executions, args.connections, "live"))
        print(f"live     sent {args.executions} deliveries in {took:.1f} s (worker on)")
        rows, rss, _ = wait_until_finished(octipus, args.executions, args.timeout)
        report("live", rows, "created", rss)


def main() -> None:
    args = parse_args()
    print(f"machine: {describe()}")
    print(f"disk: {disk_fsync()}")
    for action in ("forward", "notify") if args.action == "both" else (args.action,):
        drain(action, args)


if __name__ == "__main__":
    main()
