"""A one-line description of the machine and its load, printed with every benchmark."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def describe() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({_cpu_model()}), {_memory_gib():.0f} GiB RAM,"
        f" Python {platform.python_version()}, load average {load}"
    )


def _sync_latencies(seconds: float, rewrite: bool) -> list[float]:
    """8 KiB writes, each followed by fdatasync (rewriting a 4 MiB file in place, as a WAL is
    rewritten after a checkpoint) or by fsync (appending, as a growing file is)."""
    latencies: list[float] = []
    with tempfile.TemporaryFile(dir=tempfile.gettempdir()) as file:
        fd, block = file.fileno(), b"\0" * 8192
        span = 4 << 20
        if rewrite:
            os.write(fd, b"\0" * span)
            os.fsync(fd)
        offset, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            os.pwrite(fd, block, offset if rewrite else offset + span)
            offset = (offset + len(block)) % span if rewrite else offset + len(block)
            start = time.perf_counter()
            (os.fdatasync if rewrite else os.fsync)(fd)
            latencies.append(time.perf_counter() - start)
    return sorted(latencies)


def disk_fsync(seconds: float = 2.0, stall_ms: float = 20.0) -> str:
    """How the disk under the benchmarks' data (the temp folder) answers syncs, which bound any
    durable server's tail latency: p50/p99/max, and the share of the time spent in stalls over
    `stall_ms`, for in-place fdatasync (what Octipus's ingress does) and appending fsync."""
    parts = []
    for label, rewrite in (("fdatasync, rewrite", True), ("fsync, append", False)):
        latencies = _sync_latencies(seconds, rewrite)
        stalled = sum(x for x in latencies if x * 1000 > stall_ms)
        parts.append(
            f"{label}: p50 {latencies[len(latencies) // 2] * 1000:.2f}"
            f" / p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f}"
            f" / max {latencies[-1] * 1000:.0f} ms,"
            f" {100 * stalled / seconds:.1f} % of the time in stalls > {stall_ms:.0f} ms"
        )
    return f"8 KiB writes, {seconds:.0f} s each; " + "; ".join(parts)
