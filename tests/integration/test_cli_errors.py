"""Every `octipus` command that talks to a server fails with one line and an exit code that says
why: 2 unreachable, 3 token refused, 4 not Octipus, 1 the server's own refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess, free_port


def octipus(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`octipus ARGS` in `cwd` with no OCTIPUS_* setting but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OCTIPUS_")}
    return subprocess.run(
        [sys.executable, "-m", "octipus", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def api_commands(tmp_path: Path) -> list[list[str]]:
    """One invocation of every command that calls the API with a token."""
    spec = tmp_path / "hooks.yaml"
    spec.write_text("- name: any\n  triggerConfig: {webhookPath: any}\n")
    return [
        ["hooks", "list"],
        ["hooks", "show", "--hook", "any"],
        ["hooks", "delete", "--hook", "any"],
        ["hooks", "test", "--hook", "any"],
        ["hooks", "apply", "-f", str(spec)],
        ["executions", "list"],
        ["tokens", "list"],
        ["tokens", "revoke", "0123"],
    ]


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ") and text in done.stderr, done.stderr


def test_server_down_is_exit_2_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in [*api_commands(tmp_path), ["send", "any", "--secret", "s"]]:
        done = octipus(*args, cwd=tmp_path, OCTIPUS_URL=url, OCTIPUS_TOKEN="oct_x")
        assert_one_line(done, 2, f"cannot reach Octipus at {url}: connection refused")
        assert "set OCTIPUS_URL" in done.stderr


def test_the_default_url_is_the_one_the_servers_settings_give(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / ".env").write_text(f"OCTIPUS_PORT={port}\n")
    done = octipus("hooks", "list", cwd=tmp_path, OCTIPUS_TOKEN="oct_x")
    assert_one_line(done, 2, f"cannot reach Octipus at http://127.0.0.1:{port}:")
    done = octipus(
        "hooks", "list", cwd=tmp_path, OCTIPUS_TOKEN="x", OCTIPUS_PUBLIC_URL="https://h.example/"
    )
    assert "cannot reach Octipus at https://h.example:" in done.stderr


def test_no_token_is_exit_3_saying_where_one_comes_from(tmp_path: Path) -> None:
    done = octipus("hooks", "list", cwd=tmp_path, OCTIPUS_URL="http://127.0.0.1:1")
    assert_one_line(done, 3, "no token: set OCTIPUS_TOKEN or pass --token")
    assert str(tmp_path / "data" / "admin-token") in done.stderr


def test_a_refused_token_is_exit_3(server: ServerProcess, tmp_path: Path) -> None:
    for args in api_commands(tmp_path):
        done = octipus(*args, cwd=tmp_path, OCTIPUS_URL=server.url, OCTIPUS_TOKEN="oct_wrong")
        assert_one_line(done, 3, f"{server.url} rejected the token (Invalid or revoked token)")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(404, b"<html>Not here</html>", {"Content-Type": "text/html"}),
        Reply(200, b'{"ok": true}'),
        Reply(200, b"<html>a login page</html>", {"Content-Type": "text/html"}),
    ],
    ids=["404-html", "200-other-json", "200-html"],
)
def test_a_url_that_is_not_octipus_is_exit_4(tmp_path: Path, reply: Reply) -> None:
    with Receiver() as other:
        other.default = reply
        commands = api_commands(tmp_path)
        if "html" in reply.headers.get("Content-Type", ""):  # any JSON object may answer a send
            commands.append(["send", "any", "--secret", "s"])
        for args in commands:
            done = octipus(*args, cwd=tmp_path, OCTIPUS_URL=other.url, OCTIPUS_TOKEN="oct_x")
            assert_one_line(done, 4, f"{other.url} does not answer like Octipus")


def test_octipus_under_a_wrong_prefix_is_exit_4(server: ServerProcess, tmp_path: Path) -> None:
    done = octipus(
        "hooks", "list", cwd=tmp_path, OCTIPUS_URL=f"{server.url}/api", OCTIPUS_TOKEN=server.token
    )
    assert_one_line(done, 4, "does not answer like Octipus (HTTP 404")


def test_an_unknown_hook_is_exit_1_listing_the_callers_hooks(
    server: ServerProcess, tmp_path: Path
) -> None:
    for args in (
        ["hooks", "show", "--hook", "no-such-hook"],
        ["hooks", "delete", "--hook", "no-such-hook"],
        ["hooks", "test", "--hook", "no-such-hook"],
        ["executions", "list", "--hook", "no-such-hook"],
    ):
        done = server.cli(*args, check=False)
        assert_one_line(done, 1, "no hook named or with id 'no-such-hook'")


def test_an_api_refusal_is_exit_1_with_the_servers_message(server: ServerProcess) -> None:
    done = server.cli("tokens", "revoke", "not-a-token-id", check=False)
    assert_one_line(done, 1, "No token not-a-token-id of yours; GET /api/auth/tokens lists them")
    done = server.cli("executions", "list", "--since", "nonsense", check=False)
    assert done.returncode == 1 and "(HTTP 4" in done.stderr, done.stderr
    # --status is checked by the command itself (its choices are listed): a usage error
    done = server.cli("executions", "list", "--status", "nonsense", check=False)
    assert done.returncode == 2 and "queued" in done.stderr, done.stderr


def test_database_commands_refuse_to_create_a_database(tmp_path: Path) -> None:
    for args in (
        ["users", "create", "bob"],
        ["users", "list"],
        ["tokens", "create", "bob"],
        ["db", "upgrade"],
        ["secrets", "rotate-key"],
    ):
        done = octipus(*args, cwd=tmp_path)
        assert_one_line(done, 1, f"no database at {tmp_path / 'data' / 'octipus.db'}")
        assert "OCTIPUS_DATABASE_URL" in done.stderr
    assert not (tmp_path / "data").exists()

    created = octipus("db", "upgrade", "--create", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "data" / "octipus.db").exists()
    made = octipus("users", "create", "bob", "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    listed = octipus("users", "list", "--json", cwd=tmp_path)
    assert [u["name"] for u in json.loads(listed.stdout)] == ["bob"]
