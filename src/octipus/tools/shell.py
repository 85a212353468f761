"""The `shell` tool: run a program on the server, its output tail, a timeout that kills.

Payload text is never parsed by a shell through our substitution. `args` runs a program without
a shell, each element rendered to exactly one argument. `command` runs with `/bin/sh -c` but
takes no placeholders: payload values reach it only as environment variables (`env`) that it
references as "$NAME", the way adnanh/webhook passes values to a command. What the command then
does with a variable (eval, `sh -c "$X"`, arithmetic) is its author's responsibility.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from octipus.hooks.templates import PLACEHOLDER, render_value
from octipus.tools.base import ActionSpec, Tool, ToolContext, ToolError
from octipus.tools.process import spawn, supervise

MAX_TIMEOUT_SECONDS = 3600.0
SHELL_PROGRAM = "/bin/sh"
# Commands do not inherit the server's environment (it holds tokens and database URLs).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Variables the dynamic loader or a shell acts on before the command runs: never payload values.
STARTUP_ENV = re.compile(r"PATH|IFS|ENV|BASH_ENV|SHELLOPTS|BASHOPTS|PS4|LD_\w*")
HOW_TO_PASS_VALUES = (
    'put the value in env (e.g. "env": {"REF": "{{webhook.body.ref}}"}) and write "$REF" in '
    'the command, or run the program without a shell: "args": ["deploy", "{{webhook.body.ref}}"]'
)


class ShellParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: list[str] | None = Field(
        None,
        min_length=1,
        description="Program and arguments, run without a shell; each element is one argument",
    )
    command: str | None = Field(
        None, min_length=1, description='Command line run with /bin/sh -c; values as "$NAME"'
    )
    cwd: str | None = Field(None, description="Working directory (must exist)")
    timeout: float = Field(
        30.0, gt=0, le=MAX_TIMEOUT_SECONDS, description="Seconds before the process is killed"
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables")

    @field_validator("env")
    @classmethod
    def _names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not ENV_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a variable name: use letters, digits and _, not starting "
                    "with a digit"
                )
        return env

    @model_validator(mode="after")
    def _one_form(self) -> ShellParams:
        if (self.args is None) == (self.command is None):
            raise ValueError(
                "give either args (a program and its arguments, run without a shell) or command "
                "(a /bin/sh command line), exactly one of them"
            )
        return self

    def argv(self) -> list[str]:
        """What is executed: `args` as given, or the shell running `command`."""
        return self.args if self.args is not None else [SHELL_PROGRAM, "-c", str(self.command)]


def check_shell_templates(params: dict[str, Any]) -> None:
    """ValueError when a placeholder sits where payload text could become code or a program.

    Checked when a hook is saved and again before every run (hooks stored before this rule).
    """
    command, args, env = params.get("command"), params.get("args"), params.get("env", {})
    if isinstance(command, str) and (found := PLACEHOLDER.search(command)):
        raise ValueError(
            f"command: the placeholder {found.group(0)} would be parsed by the shell; "
            + HOW_TO_PASS_VALUES
        )
    for field, shape in (("args", "a list of strings"), ("env", "an object of names to values")):
        if isinstance(params.get(field), str):
            raise ValueError(
                f"{field} must be {shape}; a placeholder renders inside one element or value, "
                f"it cannot make the whole {field}"
            )
    if isinstance(args, list) and args and PLACEHOLDER.search(str(args[0])):
        raise ValueError("args: the program (first element) cannot come from a placeholder")
    for name, value in env.items() if isinstance(env, dict) else ():
        if STARTUP_ENV.fullmatch(name) and PLACEHOLDER.search(str(value)):
            raise ValueError(
                f"env: {name} steers the loader or the shell before the command runs; it cannot "
                "take a placeholder"
            )


def render_shell(params: dict[str, Any], trigger: dict[str, Any]) -> dict[str, Any]:
    """Each placeholder renders into one argument, variable or field; `command` has none."""
    try:
        check_shell_templates(params)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    rendered: dict[str, Any] = render_value(params, trigger)
    return rendered


def _environment(extra: dict[str, str]) -> dict[str, str]:
    base = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    return {**base, **extra}


async def run_command(params: ShellParams, ctx: ToolContext) -> dict[str, Any]:
    """Run the program; non-zero exit or timeout raise ToolError with the output in the result."""
    started = time.monotonic()
    try:
        proc = await spawn(params.argv(), params.cwd, _environment(params.env))
    except OSError as exc:  # a missing program or cwd, or one not executable
        raise ToolError(f"cannot start the command: {exc.strerror}: {exc.filename}") from None
    except ValueError as exc:  # a NUL byte (or text with no byte form) in an argument or value
        raise ToolError(f"cannot start the command: {exc}") from None
    finished = await supervise(proc, params.timeout)
    form = {"args": params.args} if params.args is not None else {"command": params.command}
    result: dict[str, Any] = {
        **form,
        "cwd": params.cwd,
        "envKeys": sorted(params.env),
        "exitCode": finished.returncode,
        "timedOut": finished.timed_out,
        "stdout": finished.stdout.text(),
        "stderr": finished.stderr.text(),
        "truncated": finished.stdout.truncated or finished.stderr.truncated,
        "durationMs": int((time.monotonic() - started) * 1000),
    }
    if finished.timed_out:
        raise ToolError(f"command timed out after {params.timeout:g}s and was killed", result)
    if finished.returncode != 0:
        raise ToolError(f"command exited with status {finished.returncode}", result)
    return result


_RUN = ActionSpec(
    name="run",
    description=(
        "Run a program on the server and return its exit code and the tail of stdout/stderr: "
        "args runs a program with arguments and no shell (preferred); command runs a /bin/sh "
        'line, with values passed in env and written "$NAME".'
    ),
    params=ShellParams,
    run=run_command,
    render=render_shell,
    check_templates=check_shell_templates,
)

SHELL = Tool(
    id="shell",
    description="Programs and shell commands on the Octipus server (admin-owned hooks only).",
    actions={"execute": _RUN, "run": _RUN},
    admin_only=True,
    switch="tools_shell",
)
