"""Which hooks get the free worker slots of a claim round: work-conserving and fair.

Slots go one at a time to the waiting hook with the fewest executions running (the oldest head
first among equals) until they run out, so a single busy hook may use every free slot while
hooks that wait together share them round-robin. A hook never exceeds its cap (`concurrency`).
In a first pass a user's hooks stop at the per-user limit, so one user's many hooks cannot crowd
out another's; a second pass lets the remaining slots go to anyone with work (no slot idles
while work waits).
"""

from __future__ import annotations

import heapq
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
    """How many executions to claim per hook: slot by slot, to the waiting hook with the fewest
    running (its oldest head first among equals), so a hook that arrives while another holds
    every slot gets the next one that frees."""
    hooks, users = Counter(running_hooks), Counter(running_users)
    given: Counter[str] = Counter()
    for per_user in (True, False):
        turns = [(hooks[w.hook_id], w.head, w.hook_id, w) for w in waiting]
        heapq.heapify(turns)
        while free > 0 and turns:
            _, _, hook_id, w = heapq.heappop(turns)
            if given[hook_id] >= w.due or (w.cap is not None and hooks[hook_id] >= w.cap):
                continue
            if per_user and users[w.owner_id] >= user_limit:
                continue  # a user's count only grows within a pass
            given[hook_id] += 1
            hooks[hook_id] += 1
            users[w.owner_id] += 1
            free -= 1
            heapq.heappush(turns, (hooks[hook_id], w.head, hook_id, w))
    return dict(given)
