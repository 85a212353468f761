"""Enabled hooks by webhook path, loaded once and reused by the ingress (DESIGN §2 data flow).

A change through this process's API clears the cache at once; other processes (PostgreSQL
deployments with several API nodes) see changes within `ttl_seconds`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from octipus.db.tables import Hook
from octipus.ingress.verify import Verifier, build_verifier


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


def _entry(hook: Hook) -> HookEntry:
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
    )


class HookCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_seconds: float = 2.0):
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, tuple[HookEntry, ...]]] = {}

    def invalidate(self) -> None:
        self._entries.clear()

    async def for_path(self, path: str) -> tuple[HookEntry, ...]:
        """Enabled hooks for `path`, highest priority first (empty tuple: unknown path)."""
        cached = self._entries.get(path)
        now = time.monotonic()
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        async with self._sessions() as session:
            hooks = await session.scalars(
                sa.select(Hook)
                .where(Hook.webhook_path == path, Hook.is_enabled.is_(True))
                .order_by(Hook.priority.desc(), Hook.created_at)
            )
            entries = tuple(_entry(h) for h in hooks)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[path] = (now, entries)
        return entries
