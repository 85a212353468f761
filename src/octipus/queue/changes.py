"""This process's news of committed execution changes: wakes the live streams
(api/execution_stream.py) and hands finished outcomes to whoever watches them (alerts.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from octipus.pulse import Pulse

if TYPE_CHECKING:
    from octipus.queue.executor import Outcome, Run

Ended = tuple["Run", "Outcome"]
OutcomeHandler = Callable[[Sequence[Ended]], None]


class ExecutionChanges:
    def __init__(self) -> None:
        self._changed = Pulse()
        self._handlers: list[OutcomeHandler] = []

    def changed(self) -> None:
        """Executions changed and the change is committed: wake every waiting stream."""
        self._changed.fire()

    async def wait(self, timeout: float) -> None:
        """Until the next change in this process, or `timeout` seconds (changes on other
        processes and nodes are found by polling)."""
        await self._changed.wait(timeout)

    def on_outcomes(self, handler: OutcomeHandler) -> None:
        """Call `handler` (it must not block) with every batch of stored outcomes."""
        self._handlers.append(handler)

    def round_committed(self, ended: Sequence[Ended], claimed: bool) -> None:
        """A worker's round committed the outcomes `ended` (and claims, when `claimed`)."""
        if ended or claimed:
            self.changed()
        if ended:
            for handler in self._handlers:
                handler(ended)
