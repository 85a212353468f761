"""Hook changes reach every node at once: each write notifies, every process listens.

Every write of a hook row through the ORM (create, update, toggle, delete: the API through
hooks/service.py) notifies HOOK_CHANGES on the writing transaction's own connection, so on
PostgreSQL the notification is delivered when that transaction commits, and never for one rolled
back. The queue's counters (`execution_count`, `last_error`) are Core updates and notify no one.
On SQLite (one machine) the connector neither notifies nor listens: the serving processes share
a change counter instead (serving/shared.py).

Each process's listener clears its hook cache on every notification. When its connection is
lost, the cache serves by its TTL again until the listener is back, and is cleared once more
then, since changes made meanwhile were not heard.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from octipus.db.connectors import HOOK_CHANGES, Connector, Listening, connector_of
from octipus.db.tables import Hook
from octipus.hooks.cache import HookCache


@event.listens_for(Hook, "after_insert")
@event.listens_for(Hook, "after_update")
@event.listens_for(Hook, "after_delete")
def _notify_hook_change(_mapper: Any, connection: Connection, _hook: Hook) -> None:
    """Notify in the transaction that writes the hook."""
    connector_of(connection).notify_sync(connection, HOOK_CHANGES)


def hook_change_listener(
    connector: Connector, database_url: str, cache: HookCache
) -> Listening | None:
    """What clears `cache` on every hook change any node commits (None: nothing to listen to)."""

    def connected() -> None:
        cache.forget()  # what changed while nobody listened
        cache.pushed = True

    def lost() -> None:
        cache.pushed = False

    return connector.listen(database_url, HOOK_CHANGES, cache.forget, connected, lost)
