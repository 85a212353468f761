"""Auto-pause and resume of a hook (opt-in with `autoPauseAfter`).

A paused hook is disabled with a reason. Deliveries that arrive while it is paused are stored as
`held` executions (ingress/accept.py) instead of running; executions that were already waiting
are skipped by the worker as "hook is disabled" when their turn comes. Resuming enables the hook
again and queues both: every `held` execution, and every delivery skipped as disabled since the
pause, with the attempt that skip used given back.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.db.connectors import HOOK_CHANGES, connector_of
from octipus.db.tables import Execution, Hook, utcnow

SKIPPED_AS_DISABLED = "hook is disabled"  # queue/executor.py's reason for a disabled hook
_HOOKS = cast(sa.Table, Hook.__table__)
_EXECUTIONS = cast(sa.Table, Execution.__table__)


async def pause_hook(session: AsyncSession, hook_id: str, reason: str, now: datetime) -> bool:
    """Disable an enabled hook with `reason`; False when it was already disabled."""
    result = await session.execute(
        sa.update(_HOOKS)
        .where(_HOOKS.c.id == hook_id, _HOOKS.c.is_enabled.is_(True))
        .values(is_enabled=False, paused_reason=reason, paused_at=now)
    )
    paused = int(result.rowcount) == 1  # type: ignore[attr-defined]
    if paused:  # every node's hook cache holds it now
        await connector_of(session).notify(session, HOOK_CHANGES)
    return paused


def _held_since_pause(hook: Hook) -> sa.ColumnElement[bool]:
    """The hook's executions held by its pause: `held`, or skipped as disabled since then."""
    skipped = sa.and_(
        _EXECUTIONS.c.status == "skipped",
        _EXECUTIONS.c.source == "hook",
        _EXECUTIONS.c.finished_at >= hook.paused_at,
        _EXECUTIONS.c.result["skipped"].as_string() == SKIPPED_AS_DISABLED,
    )
    return sa.and_(
        _EXECUTIONS.c.hook_id == hook.id, sa.or_(_EXECUTIONS.c.status == "held", skipped)
    )


async def resume_hook(session: AsyncSession, hook: Hook) -> int:
    """Enable `hook`, clear its pause and failure streak, and queue what its pause held;
    returns how many executions were queued. The caller commits and wakes the workers."""
    now = utcnow()
    requeued = 0
    if hook.paused_at is not None:
        result = await session.execute(
            sa.update(_EXECUTIONS)
            .where(_held_since_pause(hook))
            .values(
                status="queued",
                # A skip used an attempt (the claim counts it) that never ran.
                attempts=sa.case(
                    (
                        sa.and_(_EXECUTIONS.c.status == "skipped", _EXECUTIONS.c.attempts > 0),
                        _EXECUTIONS.c.attempts - 1,
                    ),
                    else_=_EXECUTIONS.c.attempts,
                ),
                result=sa.null(),
                finished_at=None,
                duration_ms=None,
                run_after=now,
            )
        )
        requeued = int(result.rowcount)  # type: ignore[attr-defined]
    hook.is_enabled = True
    hook.paused_reason = None
    hook.paused_at = None
    hook.failure_streak = 0
    await session.flush()
    return requeued
