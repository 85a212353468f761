"""Action types by name."""

from __future__ import annotations

from octipus.actions.agent import AgentAction
from octipus.actions.base import Action
from octipus.actions.forward import ForwardAction
from octipus.actions.notify import NotifyAction
from octipus.actions.tool import ToolAction


def _build() -> dict[str, Action]:
    actions: list[Action] = [
        ForwardAction(),
        NotifyAction(),
        ToolAction(),
        AgentAction(),
    ]
    return {a.name: a for a in actions}


ACTIONS: dict[str, Action] = _build()


def get_action(name: str) -> Action:
    """The action for `name`; KeyError for unknown types (validated at save time)."""
    return ACTIONS[name]
