"""Enabled (and auto-paused) hooks by webhook path, loaded once and reused by the ingress.

A change through this process's API clears the cache at once, and so does one through a sibling
serving process on this machine (a shared change counter, octipus/serving/shared.py, read on
each lookup). On PostgreSQL, a change committed on any node clears it too, within milliseconds
(hooks/changes.py LISTENs); while that holds, entries expire only after a minute. Without it
(SQLite, or the listening connection lost), an entry older than `ttl_seconds` is still served
while one background load refreshes it, so no request waits on a reload. Concurrent misses for
one path share a single load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from octipus.db.engine import READ_ONLY
from octipus.db.tables import Hook
from octipus.ingress.providers.core import Verifier
from octipus.ingress.providers.verifier import build_verifier
from octipus.serving.shared import ChangeCounter

log = logging.getLogger(__name__)

Entries = tuple["HookEntry", ...]
# While changes are pushed, entries are still reloaded this often: for writes no node announces
# (an operator's own SQL).
PUSHED_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class HookEntry:
    """What the ingress needs of one enabled hook, with its verifier built once."""

    id: str
    name: str
    action: str
    provider: str
    verifier: Verifier
    events: frozenset[str]
    conditions: list[dict[str, Any]]
    max_attempts: int | None
    extra_sensitive_headers: tuple[str, ...]
    owner_id: str
    paused: bool = False  # auto-paused: deliveries are held until the owner resumes it


def _entry(hook: Any) -> HookEntry:
    config = hook.trigger_config
    signature_header = config.get("signatureHeader")
    return HookEntry(
        id=hook.id,
        name=hook.name,
        action=hook.action,
        provider=str(config.get("provider") or "auto"),
        verifier=build_verifier(config),
        events=frozenset(config.get("events") or ()),
        conditions=list(hook.conditions or ()),
        max_attempts=hook.retry_max_attempts,
        extra_sensitive_headers=(signature_header,) if isinstance(signature_header, str) else (),
        owner_id=hook.owner_id,
        paused=not hook.is_enabled,
    )


class HookCache:
    def __init__(
        self, engine: AsyncEngine, ttl_seconds: float = 2.0, changes: ChangeCounter | None = None
    ):
        self._engine = engine
        self._ttl = ttl_seconds
        self._changes = changes
        self._changes_seen = changes.value if changes else 0
        self._entries: dict[str, tuple[float, Entries]] = {}
        self._loading: dict[str, asyncio.Task[Entries]] = {}
        self._generation = 0
        self.pushed = False  # True while every node's changes clear the cache (hooks/changes.py)

    def invalidate(self) -> None:
        """Forget every hook, here and (after a committed change) in sibling processes."""
        if self._changes is not None:
            self._changes.bump()
        self.forget()

    def forget(self) -> None:
        """Forget every hook in this process (on a change here or on another node)."""
        self._generation += 1
        self._entries.clear()

    async def for_path(self, path: str) -> Entries:
        """Enabled hooks for `path`, highest priority first (empty tuple: unknown path)."""
        if self._changes is not None and self._changes.value != self._changes_seen:
            self._changes_seen = self._changes.value
            self.forget()
        cached = self._entries.get(path)
        if cached is None:
            return await asyncio.shield(self._load(path))
        ttl = PUSHED_TTL_SECONDS if self.pushed else self._ttl
        if time.monotonic() - cached[0] >= ttl:
            self._load(path)
        return cached[1]

    def _load(self, path: str) -> asyncio.Task[Entries]:
        """The one load in flight for `path`, started if there is none."""
        task = self._loading.get(path)
        if task is None:
            task = asyncio.create_task(self._fetch(path, self._generation))
            self._loading[path] = task
            task.add_done_callback(lambda done: self._finished(path, done))
        return task

    def _finished(self, path: str, task: asyncio.Task[Entries]) -> None:
        self._loading.pop(path, None)
        if not task.cancelled() and task.exception() is not None and path in self._entries:
            log.warning("hook reload failed; serving the cached hooks", exc_info=task.exception())

    async def _fetch(self, path: str, generation: int) -> Entries:
        started = time.monotonic()
        query = (
            sa.select(Hook.__table__)
            .where(
                Hook.webhook_path == path,
                sa.or_(Hook.is_enabled.is_(True), Hook.paused_reason.is_not(None)),
            )
            .order_by(Hook.priority.desc(), Hook.created_at)
        )
        async with self._engine.connect() as conn:
            await conn.execution_options(**READ_ONLY)
            entries = tuple(_entry(row) for row in await conn.execute(query))
        if generation == self._generation:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[path] = (started, entries)
        return entries
