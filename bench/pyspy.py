"""Sample a server with py-spy while it is under load, and summarise where its time goes."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path


def start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy record (collapsed stacks, native frames off, idle frames off) on `pid`."""
    py_spy = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv/bin/py-spy")
    command = [py_spy, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250"]
    return subprocess.Popen(
        [*command, "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_costs(collapsed: Path, count: int = 25) -> str:
    """The frames with the most samples: inclusive (on the stack) and self (innermost)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        n = int(samples)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"-- top {count} {title}")
        for frame, n in counter.most_common(count):
            lines.append(f"{100 * n / total:5.1f}%  {frame}")
    return "\n".join(lines)
