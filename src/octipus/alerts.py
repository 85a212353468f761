"""Failure alerts and auto-pause, from the outcomes a worker stores.

Each hook keeps its failed attempts in a row (`failure_streak`; a success resets it). When an
execution ends in `error` (retries exhausted, or a failure not worth retrying), or the streak
reaches OCTIPUS_ALERT_CONSECUTIVE_FAILURES, the owner gets one message on their verified
channels, naming the hook, the error and a link to the hook's failed executions. At most one
per hook per OCTIPUS_ALERT_WINDOW_SECONDS: the alert is claimed by a conditional UPDATE of the
hook's `last_alert_at`, so the rule holds across processes and nodes. A hook with
`autoPauseAfter` is paused when its streak reaches it (hooks/pause.py); that message is sent
whatever the window, since a pause happens once until the owner resumes.

Runs in the process that stored the outcomes, off the worker's round: the worker hands each
committed batch over (queue/changes.py), and this service writes the hooks in a transaction of
its own and sends after it commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.actions.base import ActionError, RetryableError
from octipus.channels.notifier import notify_owner
from octipus.db.tables import Hook, utcnow
from octipus.hooks.pause import pause_hook
from octipus.queue.changes import Ended
from octipus.queue.queries import lock_hooks
from octipus.runtime import Runtime

log = logging.getLogger(__name__)

ALERTED_SOURCES = ("hook", "replay")  # manual tests answer their caller directly
ERROR_CHARS = 500
_HOOKS = cast(sa.Table, Hook.__table__)


@dataclass
class Failures:
    """One hook's outcomes in a batch: whether a success reset its streak, the failed attempts
    after the last success, the last error, and whether an execution gave up."""

    reset: bool = False
    failed: int = 0
    error: str | None = None
    gave_up: bool = False

    def add(self, status: str, error: str | None) -> None:
        if status == "success":
            self.reset, self.failed = True, 0
        elif status in ("retrying", "error"):
            self.failed += 1
            self.error = error
            self.gave_up = self.gave_up or status == "error"


@dataclass(frozen=True)
class Alert:
    """A message to send to a hook's owner."""

    owner_id: str
    hook_id: str
    text: str


@dataclass
class Batch:
    """What a batch of outcomes does to the hooks' rows: streaks to reset, failures to add."""

    resets: list[str] = field(default_factory=list)
    failures: dict[str, Failures] = field(default_factory=dict)


def plan(ended: Sequence[Ended]) -> Batch:
    """Per hook, in the order the outcomes ended."""
    by_hook: dict[str, Failures] = {}
    for run, outcome in ended:
        if run.claim.source in ALERTED_SOURCES:
            by_hook.setdefault(run.claim.hook_id, Failures()).add(outcome.status, outcome.error)
    result = Batch()
    for hook_id, failures in by_hook.items():
        if failures.failed:
            result.failures[hook_id] = failures
        elif failures.reset:
            result.resets.append(hook_id)
    return result


# Statements on the hooks' rows; none of them is an edit of the hook (updated_at kept).
_RESET = (
    sa.update(_HOOKS)
    .where(_HOOKS.c.id.in_(sa.bindparam("ids", expanding=True)), _HOOKS.c.failure_streak > 0)
    .values(failure_streak=0, updated_at=_HOOKS.c.updated_at)
)
_ADD_FAILURES = (
    sa.update(_HOOKS)
    .where(_HOOKS.c.id == sa.bindparam("hook_id"))
    .values(
        failure_streak=sa.case(
            (sa.bindparam("reset", type_=sa.Boolean), sa.bindparam("failed")),
            else_=_HOOKS.c.failure_streak + sa.bindparam("failed"),
        ),
        updated_at=_HOOKS.c.updated_at,
    )
    .returning(
        _HOOKS.c.name,
        _HOOKS.c.owner_id,
        _HOOKS.c.failure_streak,
        _HOOKS.c.auto_pause_after,
        _HOOKS.c.is_enabled,
    )
)
# Claims the hook's alert for this window: only one of any number of processes gets the row.
_CLAIM_ALERT = (
    sa.update(_HOOKS)
    .where(
        _HOOKS.c.id == sa.bindparam("hook_id"),
        sa.or_(_HOOKS.c.last_alert_at.is_(None), _HOOKS.c.last_alert_at <= sa.bindparam("since")),
    )
    .values(last_alert_at=sa.bindparam("now"), updated_at=_HOOKS.c.updated_at)
)


async def _claim_alert(
    session: AsyncSession, hook_id: str, now: datetime, window: timedelta
) -> bool:
    """Take the hook's alert for this window; False when one was sent within it."""
    params = {"hook_id": hook_id, "since": now - window, "now": now}
    result = await session.execute(_CLAIM_ALERT, params)
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def log_link(base_url: str, hook_id: str) -> str:
    """The web UI's log of the hook's failed executions."""
    return f"{base_url}/ui/hooks/{hook_id}/executions?{urlencode({'status': 'error'})}"


def alert_text(
    name: str, streak: int, failures: Failures, paused_after: int | None, link: str
) -> str:
    """The message: the hook, what happened, the error, what was done, where to look."""
    error = (failures.error or "no error message")[:ERROR_CHARS]
    if paused_after is not None:
        what = f"failed {streak} times in a row and was paused (autoPauseAfter {paused_after})"
    elif failures.gave_up:
        what = "has an execution that failed for good"
    else:
        what = f"failed {streak} times in a row"
    lines = [f"⚠️ Octipus: hook “{name}” {what}.", f"Last error: {error}"]
    if paused_after is not None:
        lines.append("Deliveries are held until you resume it (Resume on the hook's page).")
    lines.append(f"Failed executions: {link}")
    return "\n".join(lines)


async def record_failures(
    session: AsyncSession, runtime: Runtime, batch: Batch, now: datetime
) -> tuple[list[Alert], bool]:
    """Write the streaks, claim the alerts due and pause the hooks due; returns the alerts to
    send once this commits, and whether a hook was paused."""
    settings = runtime.settings
    await lock_hooks(session, [*batch.resets, *batch.failures])
    if batch.resets:
        await session.execute(_RESET, {"ids": batch.resets})
    alerts: list[Alert] = []
    paused_any = False
    for hook_id in sorted(batch.failures):
        failures = batch.failures[hook_id]
        row = (
            await session.execute(
                _ADD_FAILURES,
                {"hook_id": hook_id, "reset": failures.reset, "failed": failures.failed},
            )
        ).first()
        if row is None:  # deleted meanwhile
            continue
        pause_at = row.auto_pause_after
        paused = (
            pause_at is not None
            and row.failure_streak >= pause_at
            and row.is_enabled
            and await pause_hook(
                session, hook_id, f"{row.failure_streak} failed attempts in a row", now
            )
        )
        paused_any = paused_any or paused
        due = failures.gave_up or row.failure_streak >= settings.alert_consecutive_failures
        window = timedelta(seconds=settings.alert_window_seconds)
        claimed = (paused or due) and await _claim_alert(session, hook_id, now, window)
        if paused or claimed:
            link = log_link(settings.base_url, hook_id)
            text = alert_text(
                row.name, row.failure_streak, failures, pause_at if paused else None, link
            )
            alerts.append(Alert(row.owner_id, hook_id, text))
    return alerts, paused_any


class FailureAlerts:
    """The background service: takes the worker's stored outcomes, records them, alerts."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        self._queue: asyncio.Queue[Sequence[Ended]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        runtime.changes.on_outcomes(self._queue.put_nowait)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="failure alerts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _loop(self) -> None:
        while True:
            ended = list(await self._queue.get())
            while not self._queue.empty():  # whatever else ended meanwhile, in one transaction
                ended.extend(self._queue.get_nowait())
            try:
                await self.handle(ended)
            except Exception:  # the database may be briefly away; these outcomes go unalerted
                log.exception("failure alerts: recording outcomes failed")

    async def handle(self, ended: Sequence[Ended]) -> None:
        """Record a batch of stored outcomes and send the alerts it claimed."""
        batch = plan(ended)
        if not batch.failures:  # only successes: most rounds, with nothing to write
            batch.resets = await self._with_streaks(batch.resets)
            if not batch.resets:
                return
        async with self._runtime.sessions.begin() as session:
            alerts, paused = await record_failures(session, self._runtime, batch, utcnow())
        if paused:
            self._runtime.hooks.invalidate()  # this machine's ingress holds deliveries now
        for alert in alerts:
            await self._send(alert)

    async def _with_streaks(self, hook_ids: list[str]) -> list[str]:
        """Those of `hook_ids` with failures to reset (read without taking a write lock)."""
        if not hook_ids:
            return []
        async with self._runtime.read_sessions() as session:
            found = await session.scalars(
                sa.select(_HOOKS.c.id).where(_HOOKS.c.id.in_(hook_ids), _HOOKS.c.failure_streak > 0)
            )
            return list(found)

    async def _send(self, alert: Alert) -> None:
        try:
            await notify_owner(self._runtime, alert.owner_id, alert.text)
        except (ActionError, RetryableError) as exc:  # no channel linked, or the platform failed
            log.warning(
                "failure alert not delivered",
                extra={"hook": alert.hook_id, "owner": alert.owner_id, "reason": str(exc)},
            )
        else:
            log.info("failure alert sent", extra={"hook": alert.hook_id, "owner": alert.owner_id})
