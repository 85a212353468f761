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


def disk_fsync(seconds: float = 3.0, stall_ms: float = 20.0) -> str:
    """How the disk under the benchmarks' data (the temp folder) answers fsync: 8 KiB appended
    and fsynced in a loop for `seconds`, as a WAL commit does. Reports p50/p99/max and the
    share of the time spent in stalls over `stall_ms`, which bound any durable server's tail."""
    latencies: list[float] = []
    with tempfile.TemporaryFile(dir=tempfile.gettempdir()) as file:
        fd, block, end = file.fileno(), b"\0" * 8192, time.monotonic() + seconds
        while time.monotonic() < end:
            os.write(fd, block)
            start = time.perf_counter()
            os.fsync(fd)
            latencies.append(time.perf_counter() - start)
    latencies.sort()
    stalled = sum(x for x in latencies if x * 1000 > stall_ms)
    return (
        f"{len(latencies)} fsyncs of 8 KiB appends in {seconds:.0f} s:"
        f" p50 {latencies[len(latencies) // 2] * 1000:.2f} ms"
        f", p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms"
        f", max {latencies[-1] * 1000:.0f} ms"
        f", {100 * stalled / seconds:.1f} % of the time in stalls over {stall_ms:.0f} ms"
    )
