"""The ingress writer process (OCTIPUS_INGRESS_WRITER, serving/writer.py): one process stores
every accepted delivery; it is replaced when it crashes, and stopped with the server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes
from tests.support.waiting import finished_executions, wait_until

SECRET = "s3cret-value"
BODY = fixture_bytes("github", "push")


def children(server: ServerProcess, command: str) -> list[int]:
    """The pids of the main process's children running `command`."""
    assert server.proc is not None
    found = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid), "-f", command], capture_output=True, text=True
    )
    return [int(pid) for pid in found.stdout.split()]


def writer_pid(server: ServerProcess) -> int | None:
    pids = children(server, "octipus.ingress.writer_process")
    return pids[0] if len(pids) == 1 else None


def skipping_hook(server: ServerProcess) -> tuple[str, str]:
    """A hook whose push deliveries finish at once as "skipped": stored, with no worker run."""
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path, triggerConfig={"events": ["release"]})
    return path, hook["id"]


def test_one_serving_process_beside_the_writer_unless_asked_for_more(
    server_factory: Callable[..., ServerProcess],
):
    env = {"OCTIPUS_HTTP_PROCESSES": "0", "OCTIPUS_INGRESS_WRITER": "process"}
    server = server_factory(env=env)
    assert writer_pid(server) is not None
    assert children(server, "octipus.serving.sibling") == []
    path, hook_id = skipping_hook(server)
    for _ in range(5):
        assert send_github(server.url, path, BODY, SECRET).status_code == 202
    with server.client() as c:
        assert len(finished_executions(c, hook_id, count=5)) == 5


def test_a_killed_writer_is_replaced_and_every_accepted_delivery_is_stored(
    server_factory: Callable[..., ServerProcess],
):
    server = server_factory(env={"OCTIPUS_INGRESS_WRITER": "process"})
    path, hook_id = skipping_hook(server)
    first = writer_pid(server)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    accepted = 0
    for _ in range(200):  # bounded: about 10 s of tries while the writer starts again
        response = send_github(server.url, path, BODY, SECRET)
        assert response.status_code in (202, 503), response.text
        if response.status_code == 503:
            assert "retry" in response.json()["error"].lower()
            assert response.headers["Retry-After"]
        accepted += response.status_code == 202
        if accepted >= 3:
            break
        time.sleep(0.05)
    assert accepted == 3
    replaced = writer_pid(server)
    assert replaced not in (None, first)
    with server.client() as c:
        assert len(finished_executions(c, hook_id, count=3)) == 3


def test_inline_the_one_serving_process_stores_its_own(
    server_factory: Callable[..., ServerProcess],
):
    server = server_factory(env={"OCTIPUS_INGRESS_WRITER": "inline"})
    assert writer_pid(server) is None
    assert children(server, "octipus.serving.sibling") == []
    path, hook_id = skipping_hook(server)
    assert send_github(server.url, path, BODY, SECRET).status_code == 202
    with server.client() as c:
        assert len(finished_executions(c, hook_id)) == 1


def test_several_inline_serving_processes_are_refused_at_start(tmp_path: Path):
    env = {
        **os.environ,
        "OCTIPUS_INGRESS_WRITER": "inline",
        "OCTIPUS_HTTP_PROCESSES": "2",
        "OCTIPUS_PORT": "0",
        "OCTIPUS_DATA_DIR": str(tmp_path),
        "OCTIPUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/octipus.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "octipus", "serve"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode != 0
    assert b"set OCTIPUS_INGRESS_WRITER=process" in done.stdout + done.stderr
    assert not (tmp_path / "octipus.db").exists()


def test_sigterm_stops_the_writer_and_removes_its_socket(
    server_factory: Callable[..., ServerProcess], short_tmp: Path
):
    scratch = short_tmp  # short: a longer TMPDIR makes the server use /tmp (socket paths)
    server = server_factory(
        env={
            "OCTIPUS_INGRESS_WRITER": "process",
            "OCTIPUS_HTTP_PROCESSES": "2",
            "TMPDIR": str(scratch),
        }
    )
    pid = writer_pid(server)
    assert pid is not None
    assert sorted(p.name.split("-")[1] for p in scratch.iterdir()) == ["ingress", "serving"]
    assert server.stop() in (0, -signal.SIGTERM)
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), what="the writer to stop")
    assert list(scratch.iterdir()) == []  # uvicorn re-raises SIGTERM: `stop` removed them


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="oct-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
