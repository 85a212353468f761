"""The `shell` tool: a command in its own process group, its output tail, a timeout that kills.

The command template is the hook owner's; every value substituted into it is shell-quoted, so
payload data stays a literal argument and can never become shell syntax.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import time
from collections import deque
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from octipus.hooks.templates import _PLACEHOLDER as PLACEHOLDER
from octipus.hooks.templates import render, render_value
from octipus.tools.base import ActionSpec, Tool, ToolContext, ToolError

OUTPUT_TAIL_BYTES = 16 * 1024
MAX_TIMEOUT_SECONDS = 3600.0
# Commands do not inherit the server's environment (it holds tokens and database URLs).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
CLOSERS = {'"': '"', "`": "`", "$(": ")"}  # what ends each nested shell context


class ShellParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, description="Command line, run with /bin/sh -c")
    cwd: str | None = Field(None, description="Working directory (must exist)")
    timeout: float = Field(
        30.0, gt=0, le=MAX_TIMEOUT_SECONDS, description="Seconds before the process is killed"
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables")


def quoting_context(command: str, position: int) -> str | None:
    """Where `position` sits in a POSIX shell command: None when unquoted (also inside `$(…)`),
    else "single quotes", "double quotes", "backquotes" or "a here-document"."""
    stack: list[str] = []
    heredoc = False
    i = 0
    while i < position:
        top = stack[-1] if stack else None
        char = command[i]
        if top == "'":
            if char == "'":
                stack.pop()
        elif char == "\\":
            i += 1  # the next character is escaped
        elif top in CLOSERS and char == CLOSERS[top]:
            stack.pop()
        elif char == '"' or (char == "'" and top != '"'):
            stack.append(char)
        elif command.startswith("$(", i):
            stack.append("$(")
            i += 1
        elif char == "`":
            stack.append("`")
        elif command.startswith("<<", i) and top != '"':
            heredoc = True
        i += 1
    top = stack[-1] if stack else None
    if top in ("'", '"'):
        return "single quotes" if top == "'" else "double quotes"
    if "`" in stack:  # backquote parsing differs between shells: refuse rather than guess
        return "backquotes"
    return "a here-document" if heredoc else None


def check_command_template(params: dict[str, Any]) -> None:
    """ValueError when a placeholder in `command` sits where shell-quoting would not protect it.

    Substituted values are quoted for an unquoted position; inside quotes or a here-document
    that quoting is not enough, so such templates are refused rather than run.
    """
    command = params.get("command")
    if not isinstance(command, str):
        return
    for match in PLACEHOLDER.finditer(command):
        where = quoting_context(command, match.start())
        if where:
            raise ValueError(
                f"command: the placeholder {match.group(0)} is inside {where}; write placeholders "
                "unquoted (Octipus shell-quotes every substituted value), e.g. "
                "git commit -m {{webhook.body.head_commit.message}}"
            )


def render_shell(params: dict[str, Any], trigger: dict[str, Any]) -> dict[str, Any]:
    """Quote values substituted into `command`; `cwd` and `env` are not shell-parsed."""
    try:
        check_command_template(params)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    rendered: dict[str, Any] = render_value(params, trigger)
    if isinstance(params.get("command"), str):
        rendered["command"] = render(params["command"], trigger, escape=shlex.quote)
    return rendered


class TailBuffer:
    """Keeps the last `limit` bytes of a stream and counts what was dropped."""

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES):
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        while self.size - len(self.chunks[0]) >= self.limit:
            first = self.chunks.popleft()
            self.size -= len(first)
            self.dropped += len(first)

    def text(self) -> str:
        data = b"".join(self.chunks)
        excess = max(0, len(data) - self.limit)
        return data[excess:].decode("utf-8", "replace")

    @property
    def truncated(self) -> bool:
        return self.dropped > 0 or self.size > self.limit


async def _drain(stream: asyncio.StreamReader | None, sink: TailBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        sink.add(chunk)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _environment(extra: dict[str, str]) -> dict[str, str]:
    base = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    return {**base, **extra}


async def run_command(params: ShellParams, ctx: ToolContext) -> dict[str, Any]:
    """Run the command; non-zero exit or timeout raise ToolError with the output in the result."""
    started = time.monotonic()
    out, err = TailBuffer(), TailBuffer()
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            params.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=params.cwd,
            env=_environment(params.env),
            start_new_session=True,  # its own process group: a timeout kills every child too
        )
    except OSError as exc:  # a missing or unreadable cwd
        raise ToolError(f"cannot start the command: {exc.strerror}: {params.cwd}") from None
    timed_out = False
    try:
        async with asyncio.timeout(params.timeout):
            await asyncio.gather(_drain(proc.stdout, out), _drain(proc.stderr, err))
            await proc.wait()
    except TimeoutError:
        timed_out = True
    finally:
        if timed_out or proc.returncode is None:  # timeout or cancellation: kill every child
            _kill_group(proc.pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5.0)
    result: dict[str, Any] = {
        "command": params.command,
        "cwd": params.cwd,
        "envKeys": sorted(params.env),
        "exitCode": proc.returncode,
        "timedOut": timed_out,
        "stdout": out.text(),
        "stderr": err.text(),
        "truncated": out.truncated or err.truncated,
        "durationMs": int((time.monotonic() - started) * 1000),
    }
    if timed_out:
        raise ToolError(f"command timed out after {params.timeout:g}s and was killed", result)
    if proc.returncode != 0:
        raise ToolError(f"command exited with status {proc.returncode}", result)
    return result


_RUN = ActionSpec(
    name="run",
    description=(
        "Run a shell command on the server (/bin/sh -c) and return its exit code and the tail "
        "of stdout/stderr."
    ),
    params=ShellParams,
    run=run_command,
    render=render_shell,
    check_templates=check_command_template,
)

SHELL = Tool(
    id="shell",
    description="Shell commands on the Octipus server (admin-owned hooks only).",
    actions={"execute": _RUN, "run": _RUN},
    admin_only=True,
    switch="tools_shell",
)
