"""What a tool is: an id, its actions, each with a parameter model and a coroutine that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from octipus.db.tables import User
from octipus.hooks.templates import render_value
from octipus.runtime import Runtime


class ToolError(Exception):
    """A tool call that failed; `result` carries what is known (output, status); may be retried."""

    def __init__(
        self, message: str, result: dict[str, Any] | None = None, *, retryable: bool = False
    ):
        super().__init__(message)
        self.result = result or {}
        self.retryable = retryable


class ToolRefused(ToolError):
    """A call a policy forbids (shell for a non-admin owner, shell switched off)."""


class UnknownTool(LookupError):
    """No tool with that id, or no such action on it; the message lists what exists."""


@dataclass
class ToolContext:
    """What one tool call may use: the process runtime and the hook owner it acts for."""

    runtime: Runtime
    owner: User
    # What an HTTP tool sent and got back (actions/exchange.py), for the attempt log.
    exchange: dict[str, Any] | None = None


Renderer = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
TemplateCheck = Callable[[dict[str, Any]], None]


def render_plain(params: dict[str, Any], trigger: dict[str, Any]) -> dict[str, Any]:
    """Substitute templates in every string value."""
    rendered: dict[str, Any] = render_value(params, trigger)
    return rendered


def no_template_check(params: dict[str, Any]) -> None:
    """Templates may appear anywhere in this action's parameters."""


@dataclass(frozen=True)
class ActionSpec:
    """One action of a tool: its parameter model, how templates render into it, and its body."""

    name: str
    description: str
    params: type[BaseModel]
    run: Callable[[Any, ToolContext], Awaitable[dict[str, Any]]]
    render: Renderer = render_plain
    check_templates: TemplateCheck = no_template_check  # raises ValueError


@dataclass(frozen=True)
class Tool:
    """A tool by id; `admin_only` tools run only for hooks owned by an admin."""

    id: str
    description: str
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    admin_only: bool = False
    switch: str | None = None  # the Settings attribute that can turn it "off"
