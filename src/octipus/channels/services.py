"""Inbound channel pollers started with the server (Telegram long polling when configured)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from octipus.runtime import Runtime

if TYPE_CHECKING:
    from octipus.app import BackgroundService


def channel_services(runtime: Runtime) -> list[BackgroundService]:
    return []
