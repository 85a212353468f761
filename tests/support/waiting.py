"""Wait for a condition by polling with a deadline (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    """Call `check` until it returns something truthy, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def finished_executions(
    client: httpx.Client,
    hook_id: str,
    count: int = 1,
    statuses: tuple[str, ...] = ("success", "error", "skipped"),
    timeout: float = 20.0,
) -> list[dict[str, Any]]:
    """Wait until `hook_id` has `count` executions in `statuses`; return them oldest first."""

    def done() -> list[dict[str, Any]] | None:
        response = client.get(f"/api/hooks/{hook_id}/executions", params={"limit": 500})
        assert response.status_code == 200, response.text
        found = [e for e in response.json()["executions"] if e["status"] in statuses]
        return found[::-1] if len(found) >= count else None

    return wait_until(done, timeout, f"{count} execution(s) of hook {hook_id} in {statuses}")
