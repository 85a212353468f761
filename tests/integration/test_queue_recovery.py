"""Nothing accepted is lost: crashes (SIGKILL) and graceful stops (SIGTERM) (DESIGN §1, §4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions, wait_until

SECRET = "s3cret-value"
ALLOW_RECEIVER = {"OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1"}


def forward_hook(server: ServerProcess, url: str) -> dict:
    """A forward hook that runs two executions at a time (so some stay queued)."""
    with server.client() as c:
        return make_hook(
            c, unique_path(), action="webhook", actionConfig={"webhookUrl": url}, concurrency=2
        )


def deliver(server: ServerProcess, hook: dict, count: int) -> None:
    path = hook["triggerConfig"]["webhookPath"]
    for n in range(count):
        response = send_github(server.url, path, b'{"n": %d}' % n, SECRET)
        assert response.status_code == 202, response.text


def executions(server: ServerProcess, hook: dict) -> list[dict]:
    with server.client() as c:
        return c.get(f"/api/hooks/{hook['id']}/executions").json()["executions"]


def test_executions_running_or_queued_at_a_crash_all_complete_after_restart(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
):
    server = server_factory(env={**ALLOW_RECEIVER, "OCTIPUS_LEASE_SECONDS": "2"})
    receiver.default = Reply(200, delay=60)  # runs hang until the crash
    hook = forward_hook(server, receiver.url + "/crash")
    deliver(server, hook, 5)
    wait_until(lambda: len(receiver.requests("/crash")) == 2, what="two runs in flight")

    server.kill()
    receiver.default = Reply(200)
    server.start()

    with server.client() as c:
        done = finished_executions(c, hook["id"], count=5)
    assert [e["status"] for e in done] == ["success"] * 5
    sent = Counter(r.headers["idempotency-key"] for r in receiver.requests("/crash"))
    assert set(sent) == {e["id"] for e in done}
    interrupted = [e for e in done if sent[e["id"]] == 2]
    assert len(interrupted) == 2
    assert all(e["attempts"] == 2 for e in interrupted)


def test_sigterm_returns_unfinished_executions_to_the_queue(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
):
    env = {**ALLOW_RECEIVER, "OCTIPUS_SHUTDOWN_GRACE_SECONDS": "0.5"}
    server = server_factory(env=env)
    receiver.default = Reply(200, delay=60)  # longer than the grace period
    hook = forward_hook(server, receiver.url + "/hold")
    deliver(server, hook, 3)
    wait_until(lambda: len(receiver.requests("/hold")) == 2, what="two runs in flight")

    server.stop()
    api_only = server_factory(env=env, args=["serve", "--no-worker"], data_dir=server.data_dir)

    found = executions(api_only, hook)
    assert [e["status"] for e in found] == ["queued"] * 3
    assert sorted(e["attempts"] for e in found) == [0, 1, 1]
    assert "requeued=2" in server.logs()


def test_sigterm_lets_a_run_that_ends_within_the_grace_period_finish(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
):
    env = {**ALLOW_RECEIVER, "OCTIPUS_SHUTDOWN_GRACE_SECONDS": "20"}
    server = server_factory(env=env)
    receiver.default = Reply(200, delay=1)
    hook = forward_hook(server, receiver.url + "/short")
    deliver(server, hook, 1)
    wait_until(lambda: receiver.requests("/short"), what="the run to start")

    server.stop()
    api_only = server_factory(env=env, args=["serve", "--no-worker"], data_dir=server.data_dir)

    [execution] = executions(api_only, hook)
    assert execution["status"] == "success"
