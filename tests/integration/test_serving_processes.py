"""Several processes serving one port (OCTIPUS_HTTP_PROCESSES, octipus/serving/).

To make the sibling serve a request for sure, the main process is paused (SIGSTOP): the kernel
then hands every new connection on the shared socket to the sibling.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes
from tests.support.waiting import finished_executions, wait_until

SECRET = "s3cret-value"
BODY = fixture_bytes("github", "push")


def siblings(server: ServerProcess) -> list[int]:
    """The pids of the main process's sibling serving processes."""
    assert server.proc is not None
    out = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid), "-f", "octipus.serving.sibling"],
        capture_output=True,
        text=True,
    )
    return [int(pid) for pid in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie has exited


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a serving process: meanwhile the other one accepts every new connection."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def main_paused(server: ServerProcess) -> contextlib.AbstractContextManager[None]:
    assert server.proc is not None
    return paused(server.proc.pid)


def sibling_paused(server: ServerProcess) -> contextlib.AbstractContextManager[None]:
    [sibling] = siblings(server)
    return paused(sibling)


def accepted_total(server: ServerProcess) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    family = next(f for f in text_string_to_metric_families(text) if f.name.endswith("accepted"))
    return sum(s.value for s in family.samples if s.name.endswith("_total"))


def start_two(server_factory: Callable[..., ServerProcess], **env: str) -> ServerProcess:
    """A server with one sibling (on SQLite, beside the ingress writer process: the one layout
    with several serving processes), once the sibling serves; polling slowed, so that only the
    wake-up pipe starts a sibling's delivery quickly."""
    server = server_factory(
        env={
            "OCTIPUS_HTTP_PROCESSES": "2",
            "OCTIPUS_INGRESS_WRITER": "process",
            "OCTIPUS_POLL_INTERVAL_SECONDS": "60",
            "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
            **env,
        }
    )
    wait_until(lambda: len(siblings(server)) == 1, what="the sibling to start")
    wait_until(lambda: _sibling_serves(server), what="the sibling to serve")
    return server


@pytest.fixture
def two(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    return start_two(server_factory)


@pytest.fixture
def two_without_worker(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """For tests that pause a process while the other writes: a worker paused in the middle of
    its round would hold SQLite's write lock."""
    return start_two(server_factory, OCTIPUS_WORKER_ENABLED="false")


def _sibling_serves(server: ServerProcess) -> bool:
    with main_paused(server):
        try:
            return httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def test_a_delivery_the_sibling_accepts_is_committed_and_run_by_the_main_workers(
    two: ServerProcess, receiver: Receiver
):
    path = unique_path()
    with two.client() as c:
        hook = make_hook(
            c, path, action="webhook", actionConfig={"webhookUrl": f"{receiver.url}/sib"}
        )
    with main_paused(two):
        response = send_github(two.url, path, BODY, SECRET)
    assert response.status_code == 202, response.text
    with two.client() as c:
        # The worker polls every 60 s here: finishing sooner means the sibling woke it.
        [execution] = finished_executions(c, hook["id"], timeout=20)
    assert execution["status"] == "success", execution
    assert len(receiver.requests("/sib")) == 1


def test_a_hook_change_made_through_one_process_is_seen_by_the_other_at_once(
    two_without_worker: ServerProcess,
):
    two = two_without_worker
    path = unique_path()
    with two.client() as c:
        hook = make_hook(c, path, triggerConfig={"events": ["release"]})  # push: skipped
    toggle = f"/api/hooks/{hook['id']}/toggle"
    through = {"main": sibling_paused, "sibling": main_paused}
    for changed, checked in (("main", "sibling"), ("sibling", "main")):
        with through[checked](two):  # it caches the enabled hook
            assert send_github(two.url, path, BODY, SECRET).status_code == 202
        with through[changed](two), two.client() as c:
            assert c.post(toggle, json={"enabled": False}).is_success
        with through[checked](two):
            refused = send_github(two.url, path, BODY, SECRET)
        assert refused.status_code == 404, f"changed through {changed}: {refused.text}"
        with two.client() as c:
            assert c.post(toggle, json={"enabled": True}).is_success


def test_metrics_count_what_every_process_accepted(two_without_worker: ServerProcess):
    two = two_without_worker
    path = unique_path()
    with two.client() as c:
        make_hook(c, path, triggerConfig={"events": ["release"]})  # push: skipped, no runs
    before = accepted_total(two)
    with main_paused(two):
        for _ in range(3):
            assert send_github(two.url, path, BODY, SECRET).status_code == 202
        served_by_sibling = accepted_total(two)
    assert served_by_sibling == before + 3
    assert send_github(two.url, path, BODY, SECRET).status_code == 202
    assert accepted_total(two) == before + 4


def test_a_crashed_sibling_is_replaced(two: ServerProcess):
    [first] = siblings(two)
    os.kill(first, signal.SIGKILL)
    replaced = wait_until(lambda: [p for p in siblings(two) if p != first], what="a new sibling")
    assert len(replaced) == 1
    wait_until(lambda: _sibling_serves(two), what="the new sibling to serve")


def test_sigterm_stops_the_sibling_with_the_main_process(two: ServerProcess):
    [sibling] = siblings(two)
    assert two.stop() in (0, -signal.SIGTERM)
    assert not alive(sibling)


def test_the_sibling_stops_when_the_main_process_is_killed(two: ServerProcess):
    assert two.proc is not None
    [sibling] = siblings(two)
    two.proc.send_signal(signal.SIGKILL)  # the main process alone, not its process group
    two.proc.wait(10)
    wait_until(lambda: not alive(sibling), what="the sibling to stop")


def test_one_process_when_asked(server_factory: Callable[..., ServerProcess]):
    server = server_factory(env={"OCTIPUS_HTTP_PROCESSES": "1"})
    assert siblings(server) == []
    assert httpx.get(f"{server.url}/api/health").status_code == 200


def test_a_second_server_on_the_same_port_is_refused(
    two: ServerProcess, server_factory: Callable[..., ServerProcess]
):
    second = server_factory(env={"OCTIPUS_PORT": str(two.port)}, autostart=False)
    with pytest.raises(RuntimeError, match="Address already in use"):
        second.start()
    assert httpx.get(f"{two.url}/api/health").status_code == 200


def test_a_failed_start_leaves_no_scratch_directory(tmp_path: Path):
    env = {
        **os.environ,
        "OCTIPUS_HTTP_PROCESSES": "2",
        "OCTIPUS_PORT": "0",
        "OCTIPUS_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/unreachable",
        "TMPDIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "octipus", "serve"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode != 0
    assert b"Application startup failed" in done.stdout + done.stderr
    assert list(tmp_path.glob("octipus-serving-*")) == []
