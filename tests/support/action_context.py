"""Hand-built ActionContexts for calling an action's `run` directly in unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from octipus.actions.base import ActionContext
from octipus.config import Settings
from octipus.db.ids import new_id
from octipus.db.tables import Hook, User
from octipus.runtime import Runtime


def make_runtime(tmp_path: Path, **settings: Any) -> Runtime:
    """A runtime on a throwaway SQLite file (nothing connects until used); close it after."""
    return Runtime.create(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/unit.db", data_dir=tmp_path, **settings
        )
    )


def make_owner(admin: bool = True) -> User:
    return User(id=new_id(), name="owner-admin" if admin else "owner-user", is_admin=admin)


def make_context(
    runtime: Runtime,
    action: str,
    config: dict[str, Any],
    *,
    owner: User | None = None,
    body: Any = None,
    event: str | None = None,
) -> ActionContext:
    """A context whose trigger carries `body` and `event` like a real delivery would."""
    owner = owner or make_owner()
    hook = Hook(
        id=new_id(),
        owner_id=owner.id,
        name="unit hook",
        webhook_path="unit",
        action=action,
        action_config=config,
    )
    execution_id = new_id()
    trigger = {
        "webhook": {
            "path": "unit",
            "method": "POST",
            "event": event,
            "deliveryId": None,
            "headers": {},
            "query": {},
            "body": body,
            "rawBody": "",
        },
        "hook": {"id": hook.id, "name": hook.name},
        "execution": {"id": execution_id},
        "now": "2024-01-01T00:00:00+00:00",
    }
    return ActionContext(runtime, hook, owner, execution_id, 1, "hook", trigger)
