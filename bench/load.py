"""Drive a server with wrk (Debian package) and the signed-POST script; sample its RSS meanwhile."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from servers import cpu_seconds, ensure_debian_package, memory_kib

LUA = Path(__file__).with_name("signed_post.lua")


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
) -> RunResult:
    """One wrk run of `seconds` at `connections`, sampling the server's memory meanwhile."""
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
    settle_seconds = settle(pid)
    cpu_used = cpu_seconds(pid) - cpu_before
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    data = json.loads(line.removeprefix("BENCH "))
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
