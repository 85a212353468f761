"""Cost of one `/bin/true` run through the shell tool, against asyncio's stock subprocess path.

    PYTHONPATH=src python bench/spawn.py [--runs 500] [--ballast-mb 200]

Runs `/bin/true` N times one after another on the stdlib event loop and on uvloop (which the
server uses), through `run_command` with `args` (no shell) and with `command` (/bin/sh -c), and
through `asyncio.create_subprocess_exec("/bin/sh", "-c", …)` in a new session, which is how the
tool spawned before. Prints wall time and CPU time (this process, and its children) per run.
`--ballast-mb` grows this process the way a serving process is grown, since a fork's cost
grows with the parent's memory while vfork's does not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from octipus.tools.shell import ShellParams, run_command

Runner = Callable[[], Awaitable[Any]]


async def stock_asyncio() -> None:
    """The previous spawn: asyncio's subprocess transport running /bin/sh -c."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        "/bin/true",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        start_new_session=True,
    )
    await proc.communicate()


def tool(params: dict[str, Any]) -> Runner:
    parsed = ShellParams.model_validate(params)
    return lambda: run_command(parsed, None)  # type: ignore[arg-type]  # no context is used


RUNNERS: dict[str, Runner] = {
    "tool, args [/bin/true]": tool({"args": ["/bin/true"]}),
    "tool, command /bin/true": tool({"command": "/bin/true"}),
    "stock asyncio, sh -c (before)": stock_asyncio,
}


def cpu_seconds() -> tuple[float, float]:
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


async def measure(run: Runner, runs: int) -> tuple[float, float, float]:
    """Milliseconds per run: wall, this process's CPU, its children's CPU."""
    await run()  # warm-up
    own0, children0 = cpu_seconds()
    started = time.perf_counter()
    for _ in range(runs):
        await run()
    wall = time.perf_counter() - started
    own1, children1 = cpu_seconds()
    return tuple(1000 * x / runs for x in (wall, own1 - own0, children1 - children0))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--ballast-mb", type=int, default=0, help="resident memory to add first")
    args = parser.parse_args()
    ballast = bytearray(os.urandom(1024 * 1024)) * args.ballast_mb  # touched, so resident
    print(f"{args.runs} runs each, ballast {len(ballast) >> 20} MiB, load {os.getloadavg()[0]:.1f}")
    print(f"{'path':32} {'loop':8} {'wall ms':>8} {'own CPU':>8} {'child CPU':>9}")
    for name, run in RUNNERS.items():
        for loop, start in (("asyncio", asyncio.run), ("uvloop", uvloop.run)):
            wall, own, children = start(measure(run, args.runs))
            print(f"{name:32} {loop:8} {wall:8.2f} {own:8.2f} {children:9.2f}")


if __name__ == "__main__":
    main()
