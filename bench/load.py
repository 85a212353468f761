"""Drive a server with wrk (Debian package) and the signed-POST script; sample its RSS meanwhile."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from servers import cpu_seconds, ensure_debian_package, memory_kib

LUA = Path(__file__).with_name("signed_post.lua")


@dataclass(frozen=True)
class Completed:
    """What ran of a load's deliveries: runs that succeeded, failed, and when the last ended."""

    runs: int
    failed: int
    seconds: float  # from the load's start until the last run ended
    drained: bool  # False: the wait for the runs gave up (the timeout)

    def per_second(self) -> float:
        return self.runs / max(1e-9, self.seconds)


class Completion(Protocol):
    """Counts a server's finished runs (the end-to-end half of a run)."""

    def mark(self) -> None:
        """Note what has run so far; called just before the load starts."""

    def wait(self, started: float, accepted: int, timeout: float) -> Completed:
        """Wait (at most `timeout` s) until the runs of the `accepted` deliveries of a load that
        started at wall-clock time `started` have ended."""


@dataclass(frozen=True)
class RunResult:
    name: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    rss_mib: float  # peak VmRSS of the server's largest process
    pss_total_mib: float  # peak PSS of all its processes together
    processes: int
    cpu_seconds: float  # during the run and until the server settled
    settle_seconds: float
    completed: Completed | None = None

    @property
    def accepted_per_s(self) -> float:
        return (self.requests - self.errors) / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per accepted request, work left after the run included: steadier than
        req/s on a shared machine."""
        return 1e6 * self.cpu_seconds / max(1, self.requests - self.errors)


def ensure_wrk() -> str:
    ensure_debian_package("wrk")
    return shutil.which("wrk") or "wrk"


def run_wrk(
    name: str,
    url: str,
    pid: int,
    body_file: Path,
    signature: str,
    delivery_prefix: str,
    connections: int,
    seconds: float,
    threads: int = 1,
    completion: Completion | None = None,
    drain_timeout: float = 300.0,
) -> RunResult:
    """One wrk run of `seconds` at `connections`, sampling the server's memory meanwhile; with
    `completion`, then waiting until the accepted deliveries have run."""
    command = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
        "--",
        str(body_file),
        signature,
        delivery_prefix,
    ]
    cpu_before = cpu_seconds(pid)
    if completion is not None:
        completion.mark()
    started = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    largest = total = processes = 0
    deadline = time.monotonic() + seconds + 30
    while proc.poll() is None and time.monotonic() < deadline:
        rss, pss, count = memory_kib(pid)
        largest, total, processes = max(largest, rss), max(total, pss), max(processes, count)
        time.sleep(0.25)
    if proc.poll() is None:
        proc.kill()
    out, _ = proc.communicate(timeout=10)
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    data = json.loads(line.removeprefix("BENCH "))
    accepted = data["requests"] - data["status_errors"] - data["socket_errors"]
    completed = completion and completion.wait(started, accepted, drain_timeout)
    settle_seconds = settle(pid)
    cpu_used = cpu_seconds(pid) - cpu_before
    return RunResult(
        name=name,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=data["status_errors"] + data["socket_errors"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        rss_mib=largest / 1024,
        pss_total_mib=total / 1024,
        processes=processes,
        cpu_seconds=cpu_used,
        settle_seconds=settle_seconds,
        completed=completed,
    )


def settle(pid: int, quiet_share: float = 0.04, limit: float = 60.0) -> float:
    """Wait until the server (with its reaped children) uses under `quiet_share` of a core.

    adnanh/webhook answers before its command runs, so commands can still be running after the
    load stops; the next run must not pay for them. Returns the seconds waited.
    """
    started = time.monotonic()
    before = cpu_seconds(pid)
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - before < quiet_share * 0.5:
            break
        before = now
    return time.monotonic() - started
