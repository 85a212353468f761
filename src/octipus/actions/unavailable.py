"""Stand-in for an action type that has not landed: it fails loudly, never succeeds."""

from __future__ import annotations

from typing import Any, ClassVar

from octipus.actions.base import ActionContext, ActionError
from octipus.db.tables import User
from octipus.runtime import Runtime


class UnavailableAction:
    name: ClassVar[str] = ""

    def __init__(self, name: str):
        self.name = name  # type: ignore[misc]

    async def validate(
        self, config: dict[str, Any], owner: User, runtime: Runtime
    ) -> dict[str, Any]:
        return config

    async def run(self, ctx: ActionContext) -> dict[str, Any]:
        raise ActionError(f"action '{self.name}' is not available in this build")
