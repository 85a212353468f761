"""The shell tool through execute_tool: payload as data, save-time rules, policies, output."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octipus.actions.base import ActionError, ConfigError
from octipus.actions.tool import ToolAction
from octipus.runtime import Runtime
from octipus.tools.process import OUTPUT_TAIL_BYTES, TOOL_NICENESS
from octipus.tools.shell import ShellParams, render_shell, run_command
from tests.support.action_context import make_context, make_owner, make_runtime
from tests.support.waiting import wait_until


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = make_runtime(tmp_path)
    yield rt
    await rt.close()


def shell_config(command: str | None = None, **params: object) -> dict[str, object]:
    """A shell hook's action config: `command` (a /bin/sh line) or, through params, `args`."""
    form = {"command": command} if command is not None else {}
    return {"toolId": "shell", "toolAction": "execute", "toolParams": {**form, **params}}


INJECTIONS = [
    "$(touch {marker}); rm -rf {sandbox}",
    "`touch {marker}`",
    "a[$(touch {marker})]",
    "$(touch {marker}) #",
    "x && touch {marker}",
    "x | touch {marker}",
    "x\ntouch {marker}",
    "'; touch {marker}; echo '",
    '"; touch {marker}; echo "',
    "${{IFS}}touch${{IFS}}{marker}",
]
FORMS = {
    "args": {"args": ["printf", "%s", "{{webhook.body.title}}"]},
    "env": {"command": 'printf %s "$TITLE"', "env": {"TITLE": "{{webhook.body.title}}"}},
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("template", INJECTIONS)
async def test_payload_field_is_passed_as_data_never_parsed(
    runtime: Runtime, tmp_path: Path, template: str, form: str
) -> None:
    marker, sandbox = tmp_path / "pwned", tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "keep").write_text("still here")
    value = template.format(marker=marker, sandbox=sandbox)
    config = shell_config(**FORMS[form])
    await ToolAction().validate(config, make_owner(), runtime)
    ctx = make_context(runtime, "execute_tool", config, body={"title": value})

    result = await ToolAction().run(ctx)

    assert result["stdout"] == value
    assert not marker.exists()
    assert (sandbox / "keep").exists()


@settings(max_examples=60, deadline=None)
@given(
    value=st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"))
)
def test_args_pass_any_text_as_exactly_one_argument(value: str) -> None:
    params = {"args": ["printf", "%s\\0", "{{webhook.body.v}}"]}
    rendered = render_shell(params, {"webhook": {"body": {"v": value}}})

    result = asyncio.run(run_command(ShellParams.model_validate(rendered), None))  # type: ignore[arg-type]

    assert result["stdout"] == value + "\0"


async def test_nul_byte_in_a_value_fails_the_run_cleanly(runtime: Runtime) -> None:
    config = shell_config(args=["printf", "%s", "{{webhook.body.v}}"])
    ctx = make_context(runtime, "execute_tool", config, body={"v": "a\u0000b"})

    with pytest.raises(ActionError, match="null byte"):
        await ToolAction().run(ctx)


async def test_args_program_is_looked_up_on_path(runtime: Runtime) -> None:
    ctx = make_context(runtime, "execute_tool", shell_config(args=["echo", "a b", "c"]))

    result = await ToolAction().run(ctx)

    assert result["stdout"] == "a b c\n"
    assert result["args"] == ["echo", "a b", "c"]


async def test_commands_run_below_the_servers_priority(runtime: Runtime) -> None:
    ctx = make_context(runtime, "execute_tool", shell_config(args=["nice"]))

    result = await ToolAction().run(ctx)

    assert int(result["stdout"]) == max(TOOL_NICENESS, os.getpriority(os.PRIO_PROCESS, 0))
    assert os.getpriority(os.PRIO_PROCESS, 0) < TOOL_NICENESS  # the server itself is not lowered


async def test_missing_program_is_an_error_naming_it(runtime: Runtime) -> None:
    ctx = make_context(runtime, "execute_tool", shell_config(args=["no-such-program-octipus"]))

    with pytest.raises(ActionError, match=r"cannot start the command: .*no-such-program-octipus"):
        await ToolAction().run(ctx)


async def test_result_has_exit_code_and_both_streams(runtime: Runtime) -> None:
    ctx = make_context(runtime, "execute_tool", shell_config("echo out; echo err >&2"))

    result = await ToolAction().run(ctx)

    assert result["tool"] == "shell"
    assert result["exitCode"] == 0
    assert result["stdout"] == "out\n"
    assert result["stderr"] == "err\n"
    assert result["timedOut"] is False


async def test_run_is_an_alias_of_execute(runtime: Runtime) -> None:
    config = {"toolId": "shell", "toolAction": "run", "toolParams": {"command": "echo via-run"}}

    result = await ToolAction().run(make_context(runtime, "execute_tool", config))

    assert result["stdout"] == "via-run\n"


async def test_nonzero_exit_is_an_error_with_the_output_in_the_result(runtime: Runtime) -> None:
    ctx = make_context(runtime, "execute_tool", shell_config("echo partial; exit 3"))

    with pytest.raises(ActionError) as caught:
        await ToolAction().run(ctx)

    assert "status 3" in str(caught.value)
    assert caught.value.result is not None
    assert caught.value.result["exitCode"] == 3
    assert caught.value.result["stdout"] == "partial\n"


async def test_output_is_capped_to_its_tail(runtime: Runtime) -> None:
    command = "head -c 200000 /dev/zero | tr '\\0' x; echo; echo END"
    result = await ToolAction().run(make_context(runtime, "execute_tool", shell_config(command)))

    assert len(result["stdout"]) <= OUTPUT_TAIL_BYTES
    assert result["stdout"].endswith("END\n")
    assert result["truncated"] is True


def _process_gone(pid: int) -> bool:
    """True once `pid` no longer runs (exited, or a zombie awaiting its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not _process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _process_gone(pid)


async def test_timeout_kills_the_whole_process_group(runtime: Runtime, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    command = f"sleep 300 & echo $! > {pidfile}; wait"
    ctx = make_context(runtime, "execute_tool", shell_config(command, timeout=1))

    with pytest.raises(ActionError) as caught:
        await ToolAction().run(ctx)

    assert caught.value.result is not None
    assert caught.value.result["timedOut"] is True
    assert wait_until_gone(int(pidfile.read_text()))


async def test_timeout_kills_children_left_holding_the_output(
    runtime: Runtime, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    command = f"sleep 300 & echo $! > {pidfile}"  # the shell exits; sleep keeps stdout open
    ctx = make_context(runtime, "execute_tool", shell_config(command, timeout=1))

    with pytest.raises(ActionError, match="timed out") as caught:
        await ToolAction().run(ctx)

    assert caught.value.result is not None
    assert caught.value.result["exitCode"] == 0
    assert wait_until_gone(int(pidfile.read_text()))


async def test_cancelled_run_kills_the_whole_process_group(
    runtime: Runtime, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    command = f"sleep 300 & echo $! > {pidfile}; wait"
    run = asyncio.ensure_future(
        ToolAction().run(make_context(runtime, "execute_tool", shell_config(command)))
    )

    def started() -> str:
        return pidfile.read_text().strip() if pidfile.exists() else ""

    await asyncio.to_thread(wait_until, started, 20.0, "the background child's pid")

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert wait_until_gone(int(pidfile.read_text()))


async def test_exit_is_awaited_without_a_pidfd_too(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    ctx = make_context(runtime, "execute_tool", shell_config(args=["sh", "-c", "exit 4"]))

    with pytest.raises(ActionError, match="status 4"):
        await ToolAction().run(ctx)


async def test_env_values_are_passed_and_server_environment_is_not(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCTIPUS_TELEGRAM_BOT_TOKEN", "server-secret-token")
    config = shell_config('printf %s "$GREETING"; env', env={"GREETING": "{{webhook.body.who}}"})
    ctx = make_context(runtime, "execute_tool", config, body={"who": "$(not run)"})

    result = await ToolAction().run(ctx)

    assert result["stdout"].startswith("$(not run)")
    assert "server-secret-token" not in result["stdout"]
    assert result["envKeys"] == ["GREETING"]


async def test_cwd_sets_the_working_directory(runtime: Runtime, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    ctx = make_context(runtime, "execute_tool", shell_config("pwd", cwd=str(workdir)))

    result = await ToolAction().run(ctx)

    assert result["stdout"].strip().endswith("/work")


async def test_missing_cwd_is_an_error(runtime: Runtime, tmp_path: Path) -> None:
    ctx = make_context(runtime, "execute_tool", shell_config("pwd", cwd=str(tmp_path / "nope")))

    with pytest.raises(ActionError, match="cannot start the command"):
        await ToolAction().run(ctx)


async def test_non_admin_owner_is_refused_at_save_time(runtime: Runtime) -> None:
    with pytest.raises(ConfigError) as caught:
        await ToolAction().validate(shell_config("echo hi"), make_owner(admin=False), runtime)

    assert caught.value.field == "toolId"
    assert "admin" in str(caught.value)


async def test_non_admin_owner_is_refused_at_run_time(runtime: Runtime, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = shell_config(f"touch {marker}")
    ctx = make_context(runtime, "execute_tool", config, owner=make_owner(admin=False))

    with pytest.raises(ActionError, match="admin"):
        await ToolAction().run(ctx)

    assert not marker.exists()


async def test_shell_switched_off_is_refused(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, tools_shell="off")
    try:
        with pytest.raises(ConfigError, match="OCTIPUS_TOOLS_SHELL=off"):
            await ToolAction().validate(shell_config("echo hi"), make_owner(), runtime)
        with pytest.raises(ActionError, match="OCTIPUS_TOOLS_SHELL=off"):
            await ToolAction().run(make_context(runtime, "execute_tool", shell_config("echo")))
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    "command",
    [
        "echo $(( {{webhook.body.x}} ))",
        "echo \\{{webhook.body.x}}",
        "deploy {{webhook.body.ref}}",
        'git commit -m "{{ webhook.body.msg }}"',
    ],
)
async def test_placeholder_in_command_is_refused_saying_how_to_fix_it(
    runtime: Runtime, command: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await ToolAction().validate(shell_config(command), make_owner(), runtime)

    assert caught.value.field == "toolParams"
    assert '"$REF"' in str(caught.value) and '"args"' in str(caught.value)


async def test_stored_command_with_a_placeholder_fails_without_running(
    runtime: Runtime, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    config = shell_config("echo {{webhook.body.x}}")
    ctx = make_context(runtime, "execute_tool", config, body={"x": f"$(touch {marker})"})

    with pytest.raises(ActionError, match="would be parsed by the shell") as caught:
        await ToolAction().run(ctx)

    assert not marker.exists()
    assert caught.value.result is not None and "exitCode" not in caught.value.result


@pytest.mark.parametrize(
    ("params", "wrong"),
    [
        ({"args": ["{{webhook.body.program}}", "x"]}, "program"),
        ({"args": "{{webhook.body.argv}}"}, "list"),
        ({"command": "echo", "env": "{{webhook.body}}"}, "object"),
        ({"command": "echo", "env": {"1X": "a"}}, "variable name"),
        ({"command": "echo", "env": {"A-B": "a"}}, "variable name"),
        ({"command": "echo", "env": {"LD_PRELOAD": "{{webhook.body.so}}"}}, "LD_PRELOAD"),
        ({"command": "echo", "env": {"SHELLOPTS": "{{webhook.body.o}}"}}, "SHELLOPTS"),
        ({"args": ["echo"], "command": "echo"}, "exactly one"),
        ({"cwd": "/tmp"}, "exactly one"),
    ],
)
async def test_unsafe_or_malformed_params_are_refused_at_save_time(
    runtime: Runtime, params: dict[str, object], wrong: str
) -> None:
    with pytest.raises(ConfigError, match=wrong) as caught:
        await ToolAction().validate(shell_config(**params), make_owner(), runtime)

    assert caught.value.field == "toolParams"


async def test_literal_startup_variables_are_allowed(runtime: Runtime) -> None:
    config = shell_config('printf %s "$PATH"', env={"PATH": "/usr/bin:/bin"})

    await ToolAction().validate(config, make_owner(), runtime)
    result = await ToolAction().run(make_context(runtime, "execute_tool", config))

    assert result["stdout"] == "/usr/bin:/bin"


async def test_templated_timeout_is_checked_when_rendered(runtime: Runtime) -> None:
    config = shell_config("echo hi", timeout="{{webhook.body.seconds}}")
    await ToolAction().validate(config, make_owner(), runtime)

    with pytest.raises(ActionError, match="timeout"):
        await ToolAction().run(
            make_context(runtime, "execute_tool", config, body={"seconds": "soon"})
        )
