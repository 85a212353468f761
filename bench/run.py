"""Octipus vs adnanh/webhook, each running the same command per signed 2 KB push; alternating runs.

    .venv/bin/python bench/run.py [--seconds 10] [--rounds 2] [--connections 16] [--ingest-only]

Both servers run side by side on 127.0.0.1; wrk drives them in turn (A B A B ...). By default
Octipus runs as `make run` starts it (worker on, default settings) and each run reports ingest
(2xx answers per second during the load) and end-to-end (deliveries answered and run, per second,
from the load's start until the last one's command ended). `--ingest-only` is the older method:
Octipus's worker off and a forward action, answers per second only.
"""

from __future__ import annotations

import argparse
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
from load import Completed, Completion, RunResult, ensure_wrk, run_wrk
from machine import describe, disk_fsync
from payload import SECRET, github_signature, push_payload
from prometheus_client.parser import text_string_to_metric_families
from pyspy import start_py_spy, top_costs
from servers import AdnanhWebhook, Octipus, Server

from octipus.config import Settings

WAITING = ("queued", "running", "retrying")
FAILED = ("error", "skipped")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs (each server once)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per server")
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="the older method: Octipus's worker off, a forward action, answers per second only",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait, after each load, for its deliveries to have run",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="also sample Octipus with py-spy during its first run; collapsed stacks to this file",
    )
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10 or not 1 <= args.seconds <= 120:
        parser.error("--rounds must be 1..10 and --seconds 1..120")
    return args


def smoke_check(server: Server, body: bytes) -> None:
    """A signed request is accepted and a wrongly signed one refused, before anything is timed.

    adnanh/webhook answers a signature mismatch with 500 (a rule-evaluation error), Octipus 401.
    """
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    good = httpx.post(
        server.url,
        content=body,
        headers={**headers, "X-Hub-Signature-256": github_signature(body)},
        timeout=10,
    )
    bad = httpx.post(
        server.url,
        content=body,
        headers={**headers, "X-Hub-Signature-256": github_signature(body, "wrong")},
        timeout=10,
    )
    if not (200 <= good.status_code < 300 and bad.status_code >= 400):
        raise SystemExit(
            f"{server.name}: signed request gave {good.status_code} ({good.text[:200]}),"
            f" wrong signature gave {bad.status_code}; expected 2xx and 4xx/5xx"
        )


def status_counts(octipus: Octipus) -> dict[str, int]:
    """Execution rows by status in Octipus's database (read beside the running server)."""
    with closing(sqlite3.connect(f"file:{octipus.database}?mode=ro", uri=True)) as db:
        query = "select status, count(*) from executions group by status"
        return {str(status): int(n) for status, n in db.execute(query)}


class ExecutionsRun:
    """Octipus's end-to-end count: executions finished in its database (what the API lists)."""

    def __init__(self, octipus: Octipus) -> None:
        self.octipus = octipus
        self.before: dict[str, int] = {}

    def mark(self) -> None:
        self.before = status_counts(self.octipus)

    def wait(self, started: float, accepted: int, timeout: float) -> Completed:
        """Poll until no execution waits or runs; the end is the last `finished_at`."""
        deadline = time.monotonic() + timeout
        while True:
            counts = status_counts(self.octipus)
            drained = not any(counts.get(s) for s in WAITING)
            if drained or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        grew = {s: n - self.before.get(s, 0) for s, n in counts.items()}
        end = self.last_finished() if drained else time.time()
        failed = sum(grew.get(s, 0) for s in FAILED)
        return Completed(grew.get("success", 0), failed, end - started, drained)

    def last_finished(self) -> float:
        """Wall-clock time of the latest `finished_at` (stored as naive UTC)."""
        with closing(sqlite3.connect(f"file:{self.octipus.database}?mode=ro", uri=True)) as db:
            (value,) = db.execute("select max(finished_at) from executions").fetchone()
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


class CommandRuns:
    """adnanh/webhook's end-to-end count: it stores nothing, so its command appends a byte to a
    file per run (Octipus runs the same command); the file's mtime is the last run's end."""

    QUIET = 0.5  # s without a new run once every accepted delivery has run
    STALLED = 5.0  # s without a new run before that: the missing ones will not run

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()
        self.before = 0

    def mark(self) -> None:
        self.before = self.path.stat().st_size

    def wait(self, started: float, accepted: int, timeout: float) -> Completed:
        deadline = time.monotonic() + timeout
        size, grew_at = self.path.stat().st_size, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.path.stat().st_size
            if now != size:
                size, grew_at = now, time.monotonic()
                continue
            quiet = time.monotonic() - grew_at
            if (size - self.before >= accepted and quiet >= self.QUIET) or quiet >= self.STALLED:
                break
        runs = size - self.before
        end = self.path.stat().st_mtime if runs else time.time()
        return Completed(runs, max(0, accepted - runs), end - started, runs >= accepted)


def ingress_totals(octipus: Octipus) -> dict[str, float]:
    """Octipus's ingress histograms so far (/metrics): `_sum` and `_count` by name and phase."""
    text = httpx.get(f"{octipus.base}/metrics", timeout=10).text
    return {
        f"{s.name}:{s.labels.get('phase', '')}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("octipus_ingress_") and s.name.endswith(("_sum", "_count"))
    }


def ingress_breakdown(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """How the run's deliveries were committed: batches and their size, the transactions that
    held them (the ingress writer process merges batches), mean commit and sync."""
    grew = {name: value - before.get(name, 0.0) for name, value in after.items()}
    batches = grew.get("octipus_ingress_batch_deliveries_count:", 0.0)
    size = grew.get("octipus_ingress_batch_deliveries_sum:", 0.0) / max(1.0, batches)
    held = grew.get("octipus_ingress_transaction_deliveries_sum:", 0.0) / max(1.0, batches)

    def mean_ms(phase: str) -> float:
        count = grew.get(f"octipus_ingress_write_seconds_count:{phase}", 0.0)
        return 1000 * grew.get(f"octipus_ingress_write_seconds_sum:{phase}", 0.0) / max(1.0, count)

    return (
        f"           ingress: {batches / seconds:.0f} batches/s of {size:.1f} deliveries,"
        f" each in a transaction of {held:.1f}; mean transaction {mean_ms('commit'):.2f} ms,"
        f" WAL sync {mean_ms('sync'):.2f} ms"
    )


def print_run(result: RunResult, note: str = "") -> None:
    done = result.completed
    ran = "" if done is None else (
        f"\n           end-to-end: {done.runs} run in {done.seconds:.1f} s ="
        f" {done.per_second():6.0f}/s, last run {done.seconds - result.seconds:.1f} s after the"
        f" load, failed or not run {done.failed}{'' if done.drained else ' (gave up waiting)'}"
    )  # fmt: skip
    print(
        f"  {result.name:8} {result.accepted_per_s:8.0f} req/s  p50 {result.p50_ms:6.2f} ms"
        f"  p99 {result.p99_ms:6.2f} ms  max {result.max_ms:7.1f} ms  errors {result.errors:5d}"
        f"  RSS {result.rss_mib:6.1f} MiB (all {result.processes}: PSS {result.pss_total_mib:.0f})"
        f"  CPU {result.cpu_us_per_request:5.0f} us/req"
        f"  settled {result.settle_seconds:4.1f} s{note}{ran}",
        flush=True,
    )


def summarise(name: str, runs: list[RunResult]) -> tuple[float, float | None, float, int]:
    """Print a server's summary; return ingest/s, end-to-end/s (None: ingest only), worst p99
    and errors (HTTP errors and runs failed or missing)."""
    accepted = sum(r.requests - r.errors for r in runs)
    rate = accepted / sum(r.seconds for r in runs)
    cpu_us = 1e6 * sum(r.cpu_seconds for r in runs) / max(1, accepted)
    done = [r.completed for r in runs if r.completed is not None]
    end_to_end = sum(d.runs for d in done) / sum(d.seconds for d in done) if done else None
    errors = sum(r.errors for r in runs) + sum(d.failed for d in done)
    worst_p99 = max(r.p99_ms for r in runs)
    ran = "" if end_to_end is None else f"  end-to-end {end_to_end:6.0f}/s"
    print(
        f"  {name:8} ingest {rate:6.0f} req/s{ran}"
        f"  p50 {statistics.median(r.p50_ms for r in runs):6.2f} ms (median of runs)"
        f"  p99 {worst_p99:6.2f} ms (worst run)"
        f"  errors {errors}  RSS {max(r.rss_mib for r in runs):.1f} MiB (peak;"
        f" all processes: PSS {max(r.pss_total_mib for r in runs):.0f} MiB)"
        f"  CPU {cpu_us:.0f} us/req"
    )
    return rate, end_to_end, worst_p99, errors


def main() -> None:
    args = parse_args()
    ensure_wrk()
    body = push_payload()
    print(f"machine: {describe()}")
    print(f"disk: {disk_fsync()}")
    what = "ingest only: Octipus's worker off" if args.ingest_only else "make run defaults"
    print(
        f"load: wrk -t1 -c{args.connections}, {args.seconds:.0f} s per run, {args.rounds} rounds,"
        f" {len(body)} byte GitHub push payload, HMAC-SHA256 (X-Hub-Signature-256); {what}"
    )
    with tempfile.TemporaryDirectory(prefix="octipus-bench-") as workdir:
        body_file = Path(workdir) / "push.json"
        body_file.write_bytes(body)
        if args.ingest_only:
            compare_ingest(args, body_file)
        else:
            compare_end_to_end(args, body_file, Path(workdir))
    sys.stdout.flush()


def warm_up(
    args: argparse.Namespace,
    servers: list[Server],
    body_file: Path,
    completions: dict[str, Completion] | None,
) -> None:
    """A smoke check and an unmeasured run of each server (whose runs end before it returns)."""
    body = body_file.read_bytes()
    for server in servers:
        smoke_check(server, body)
        run_wrk(
            server.name, server.url, server.pid, body_file, github_signature(body),
            f"warm-{server.name}", args.connections, args.warmup,
            completion=completions and completions[server.name], drain_timeout=args.drain_timeout,
        )  # fmt: skip


def compare_end_to_end(args: argparse.Namespace, body_file: Path, workdir: Path) -> None:
    """Octipus as `make run` starts it and webhook, both running the same command per delivery;
    each load is followed by the wait until its deliveries have run."""
    runs = {name: workdir / f"{name}.runs" for name in ("octipus", "webhook")}
    command = {name: f"/bin/true; echo >> {shlex.quote(str(path))}" for name, path in runs.items()}
    slots = Settings.model_fields["worker_concurrency"].default
    print(
        "command per delivery: /bin/sh -c '/bin/true; echo >> FILE' (Octipus: an execute_tool"
        " hook with the shell tool; webhook: execute-command /bin/sh)"
    )
    with Octipus().start() as octipus, AdnanhWebhook(SECRET, command["webhook"]).start() as peer:
        tool = {
            "toolId": "shell",
            "toolAction": "run",
            "toolParams": {"command": command["octipus"]},
        }
        _, refused = octipus.create_hook("bench", SECRET, "execute_tool", tool, concurrency=slots)
        print(
            f"octipus hook: concurrency {slots} (the worker's slots, as webhook runs every command"
            " at once)" if not refused else "octipus hook: this Octipus has no per-hook"
            " `concurrency` field; the hook runs at most OCTIPUS_HOOK_CONCURRENCY (default 2)"
            " commands at once"
        )  # fmt: skip
        completions = {"octipus": ExecutionsRun(octipus), "webhook": CommandRuns(runs["webhook"])}
        alternate(args, body_file, octipus, peer, completions)


def compare_ingest(args: argparse.Namespace, body_file: Path) -> None:
    """The older method: Octipus's worker off (deliveries stay queued) and a forward action;
    webhook runs /bin/true. Answers per second only."""
    octipus_env = {
        "OCTIPUS_WORKER_ENABLED": "false",
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_LOG_LEVEL": "warning",
        # With the worker off every delivery stays queued: at ~4,000/s a 3-round run would
        # reach the default depth limit (100,000) and be answered 503 "Queue is full".
        "OCTIPUS_QUEUE_MAX_DEPTH": "10000000",
    }
    with Octipus(octipus_env).start() as octipus, AdnanhWebhook(SECRET).start() as peer:
        octipus.create_hook("bench", SECRET, "webhook", {"webhookUrl": "http://127.0.0.1:9/"})
        alternate(args, body_file, octipus, peer)


def alternate(
    args: argparse.Namespace,
    body_file: Path,
    octipus: Octipus,
    peer: AdnanhWebhook,
    completions: dict[str, Completion] | None = None,
) -> None:
    """Warm-up, then alternating measured runs (with `completions`, each followed by the wait
    for its runs), then the summary and the ratios."""
    servers: list[Server] = [octipus, peer]
    warm_up(args, servers, body_file, completions)
    signature = github_signature(body_file.read_bytes())
    results: dict[str, list[RunResult]] = {s.name: [] for s in servers}
    for round_no in range(1, args.rounds + 1):
        print(f"round {round_no}:")
        for server in servers:
            ours = server is octipus
            before = sum(status_counts(octipus).values()) if ours else 0
            totals = ingress_totals(octipus) if ours else {}
            profiling = args.profile and ours and round_no == 1
            spy = start_py_spy(octipus.pid, args.seconds, args.profile) if profiling else None
            result = run_wrk(
                server.name, server.url, server.pid, body_file, signature,
                f"r{round_no}-{time.time_ns()}", args.connections, args.seconds,
                completion=completions and completions[server.name],
                drain_timeout=args.drain_timeout,
            )  # fmt: skip
            results[server.name].append(result)
            committed = sum(status_counts(octipus).values()) - before
            print_run(result, f"  committed {committed}" if ours else "")
            if ours:
                print(ingress_breakdown(totals, ingress_totals(octipus), result.seconds))
            if spy is not None:
                spy.wait(60)
                print(top_costs(args.profile))
    print("summary:")
    print_ratios(summarise("octipus", results["octipus"]), summarise("webhook", results["webhook"]))


def print_ratios(
    ours: tuple[float, float | None, float, int], theirs: tuple[float, float | None, float, int]
) -> None:
    """Octipus/webhook for ingest and end-to-end, with the issue's targets."""
    print(
        f"ratio octipus/webhook, ingest (2xx answers/s): {ours[0] / theirs[0]:.2f}  (target >= 0.8)"
    )
    if ours[1] is not None and theirs[1]:
        print(
            f"ratio octipus/webhook, end-to-end (answered and run/s): {ours[1] / theirs[1]:.2f}"
            "  (target >= 0.5)"
        )
    print(f"octipus p99 {ours[2]:.1f} ms (target <= 25), errors {ours[3]} (target 0)")


if __name__ == "__main__":
    main()
