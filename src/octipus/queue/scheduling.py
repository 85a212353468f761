"""Which hooks get the free worker slots of a claim round: work-conserving and fair.

Every waiting hook takes one slot per turn, oldest head first, until the slots run out, so a
single busy hook may use every free slot while hooks that wait together share them round-robin.
A hook never exceeds its cap (`concurrency`). In a first pass a user's hooks stop at the per-user
limit, so one user's many hooks cannot crowd out another's; a second pass lets the remaining
slots go to anyone with work (no slot idles while work waits).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

SHELL_TOOL_CONCURRENCY = 1  # one deploy script of a hook at a time unless `concurrency` says more


@dataclass(frozen=True)
class Waiting:
    """A hook with due executions: its oldest one's age, how many are due (up to the claim's
    probe), its owner and its cap on running executions (None: no cap)."""

    hook_id: str
    owner_id: str
    head: datetime
    due: int
    cap: int | None


def hook_cap(
    concurrency: int | None, action: str, tool: str | None, default: int | None
) -> int | None:
    """A hook's cap: its `concurrency`; else 1 for the shell tool; else `default` (None: none)."""
    if concurrency is not None:
        return concurrency
    if action == "execute_tool" and tool == "shell":
        return SHELL_TOOL_CONCURRENCY
    return default


def share_slots(
    waiting: Sequence[Waiting],
    running_hooks: Counter[str],
    running_users: Counter[str],
    free: int,
    user_limit: int,
) -> dict[str, int]:
    """How many executions to claim per hook: round-robin over `waiting` (oldest head first)."""
    hooks, users = Counter(running_hooks), Counter(running_users)
    given: Counter[str] = Counter()
    order = sorted(waiting, key=lambda w: w.head)
    for per_user in (True, False):
        progress = True
        while free > 0 and progress:
            progress = False
            for w in order:
                if free == 0:
                    break
                if given[w.hook_id] >= w.due or (w.cap is not None and hooks[w.hook_id] >= w.cap):
                    continue
                if per_user and users[w.owner_id] >= user_limit:
                    continue
                given[w.hook_id] += 1
                hooks[w.hook_id] += 1
                users[w.owner_id] += 1
                free -= 1
                progress = True
    return dict(given)
