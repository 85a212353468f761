"""Ingest benchmark: Octipus vs adnanh/webhook, same signed 2 KB push payload, alternating runs.

    .venv/bin/python bench/run.py [--seconds 10] [--rounds 2] [--connections 16]

Both servers run side by side on 127.0.0.1; wrk drives them in turn (A B A B ...).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import httpx
from load import RunResult, ensure_wrk, run_wrk
from machine import describe, disk_fsync
from payload import SECRET, github_signature, push_payload
from prometheus_client.parser import text_string_to_metric_families
from pyspy import start_py_spy, top_costs
from servers import AdnanhWebhook, Octipus, Server


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run")
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs (each server once)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per server")
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


def committed_executions(octipus: Octipus) -> int:
    """Execution rows in Octipus's database (read beside the running server; WAL allows it)."""
    with closing(sqlite3.connect(f"file:{octipus.dir}/octipus.db?mode=ro", uri=True)) as db:
        return int(db.execute("select count(*) from executions").fetchone()[0])


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
    batches = grew["octipus_ingress_batch_deliveries_count:"]
    size = grew["octipus_ingress_batch_deliveries_sum:"] / max(1.0, batches)
    held = grew["octipus_ingress_transaction_deliveries_sum:"] / max(1.0, batches)

    def mean_ms(phase: str) -> float:
        count = grew[f"octipus_ingress_write_seconds_count:{phase}"]
        return 1000 * grew[f"octipus_ingress_write_seconds_sum:{phase}"] / max(1.0, count)

    return (
        f"           ingress: {batches / seconds:.0f} batches/s of {size:.1f} deliveries,"
        f" each in a transaction of {held:.1f}; mean transaction {mean_ms('commit'):.2f} ms,"
        f" WAL sync {mean_ms('sync'):.2f} ms"
    )


def print_run(result: RunResult, note: str = "") -> None:
    print(
        f"  {result.name:8} {result.accepted_per_s:8.0f} req/s  p50 {result.p50_ms:6.2f} ms"
        f"  p99 {result.p99_ms:6.2f} ms  max {result.max_ms:7.1f} ms  errors {result.errors:5d}"
        f"  RSS {result.rss_mib:6.1f} MiB (all {result.processes}: PSS {result.pss_total_mib:.0f})"
        f"  CPU {result.cpu_us_per_request:5.0f} us/req"
        f"  settled {result.settle_seconds:4.1f} s{note}",
        flush=True,
    )


def summarise(name: str, runs: list[RunResult]) -> float:
    accepted = sum(r.requests - r.errors for r in runs)
    rate = accepted / sum(r.seconds for r in runs)
    cpu_us = 1e6 * sum(r.cpu_seconds for r in runs) / max(1, accepted)
    print(
        f"  {name:8} {rate:8.0f} req/s"
        f"  p50 {statistics.median(r.p50_ms for r in runs):6.2f} ms (median of runs)"
        f"  p99 {max(r.p99_ms for r in runs):6.2f} ms (worst run)"
        f"  errors {sum(r.errors for r in runs)}  RSS {max(r.rss_mib for r in runs):.1f} MiB (peak;"
        f" all processes: PSS {max(r.pss_total_mib for r in runs):.0f} MiB)"
        f"  CPU {cpu_us:.0f} us/req"
    )
    return rate


def main() -> None:
    args = parse_args()
    ensure_wrk()
    body = push_payload()
    print(f"machine: {describe()}")
    print(f"disk: {disk_fsync()}")
    print(
        f"load: wrk -t1 -c{args.connections}, {args.seconds:.0f} s per run, {args.rounds} rounds,"
        f" {len(body)} byte GitHub push payload, HMAC-SHA256 (X-Hub-Signature-256)"
    )
    with tempfile.TemporaryDirectory(prefix="octipus-bench-") as workdir:
        body_file = Path(workdir) / "push.json"
        body_file.write_bytes(body)
        compare(args, body_file)
    sys.stdout.flush()


def compare(args: argparse.Namespace, body_file: Path) -> None:
    """Both servers side by side; warm-up, then alternating measured runs, then the summary."""
    body = body_file.read_bytes()
    signature = github_signature(body)
    octipus_env = {
        "OCTIPUS_WORKER_ENABLED": "false",
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        # With the worker off every delivery stays queued: at ~4,000/s a 3-round run would
        # reach the default depth limit (100,000) and be answered 503 "Queue is full".
        "OCTIPUS_QUEUE_MAX_DEPTH": "10000000",
    }
    with Octipus(octipus_env).start() as octipus, AdnanhWebhook(SECRET).start() as peer:
        octipus.create_hook("bench", SECRET, "webhook", {"webhookUrl": "http://127.0.0.1:9/"})
        servers: list[Server] = [octipus, peer]
        for server in servers:
            smoke_check(server, body)
            run_wrk(
                server.name, server.url, server.pid, body_file, signature,
                f"warm-{server.name}", args.connections, args.warmup,
            )  # fmt: skip
        results: dict[str, list[RunResult]] = {s.name: [] for s in servers}
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}:")
            for server in servers:
                before = committed_executions(octipus) if server is octipus else 0
                totals = ingress_totals(octipus) if server is octipus else {}
                profiling = args.profile and server is octipus and round_no == 1
                spy = start_py_spy(octipus.pid, args.seconds, args.profile) if profiling else None
                result = run_wrk(
                    server.name, server.url, server.pid, body_file, signature,
                    f"r{round_no}-{time.time_ns()}", args.connections, args.seconds,
                )  # fmt: skip
                note = ""
                if server is octipus:
                    note = f"  committed {committed_executions(octipus) - before}"
                results[server.name].append(result)
                print_run(result, note)
                if server is octipus:
                    print(ingress_breakdown(totals, ingress_totals(octipus), result.seconds))
                if spy is not None:
                    spy.wait(60)
                    print(top_costs(args.profile))
        print("summary:")
        ours = summarise("octipus", results["octipus"])
        theirs = summarise("webhook", results["webhook"])
        print(f"ratio octipus/webhook (accepted req/s): {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
