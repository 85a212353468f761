"""GET /api/executions/stream through a real server: live events, resume, visibility, filters."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.cluster import API_ONLY, WORKER, start_nodes
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.sse import ExecutionStream
from tests.support.waiting import finished_executions

SECRET = "s3cret-value"


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Streams end after 4 s here, so the tests also cover the client's reconnects.
    env = {"OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1", "OCTIPUS_STREAM_MAX_SECONDS": "4"}
    proc = ServerProcess(tmp_path_factory.mktemp("stream"), env).start()
    yield proc
    proc.kill()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def forward_hook(server: ServerProcess, url: str, token: str | None = None) -> dict:
    with server.client(token) as c:
        return make_hook(c, unique_path(), action="webhook", actionConfig={"webhookUrl": url})


def deliver(server: ServerProcess, hook: dict, event: str = "push") -> None:
    path = hook["triggerConfig"]["webhookPath"]
    response = send_github(server.url, path, b'{"n": 1}', SECRET, event=event)
    assert response.status_code == 202, response.text


def test_a_new_delivery_arrives_as_created_then_finished(
    stream_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(stream_server, receiver.url + "/live")
    with ExecutionStream(stream_server, params={"hookId": hook["id"]}) as stream:
        deliver(stream_server, hook)
        done = stream.wait_for("the execution's finish", hookId=hook["id"], kind="finished")

    assert done["status"] == "success"
    assert done["attempts"] == 1
    assert done["hookName"] == hook["name"]
    assert done["event"] == "push"
    assert isinstance(done["durationMs"], int)
    kinds = [c["kind"] for c in stream.changes() if c["id"] == done["id"]]
    assert kinds[-1] == "finished"
    assert set(kinds) <= {"created", "started", "finished"}


def test_a_failing_attempt_streams_its_status_and_error_line(
    stream_server: ServerProcess, receiver: Receiver
):
    receiver.script("/down", Reply(500, b"boom"))
    hook = forward_hook(stream_server, receiver.url + "/down")
    with ExecutionStream(stream_server, params={"hookId": hook["id"]}) as stream:
        deliver(stream_server, hook)
        retrying = stream.wait_for("a retrying change", hookId=hook["id"], status="retrying")

    assert retrying["kind"] == "updated"
    assert "500" in retrying["error"]
    assert "\n" not in retrying["error"]


def test_last_event_id_resumes_with_what_changed_meanwhile(
    stream_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(stream_server, receiver.url + "/resume")
    with ExecutionStream(stream_server, params={"hookId": hook["id"]}) as first:
        deliver(stream_server, hook)
        first.wait_for("the first execution", hookId=hook["id"], kind="finished")
    resume_from = first.last_event_id
    assert resume_from is not None

    deliver(stream_server, hook, event="release")  # while nobody listens
    with stream_server.client() as c:
        finished_executions(c, hook["id"], count=2)
    with ExecutionStream(
        stream_server, params={"hookId": hook["id"]}, last_event_id=resume_from
    ) as resumed:
        missed = resumed.wait_for("the change made meanwhile", event="release", kind="finished")

    assert missed["status"] == "success"


def test_another_users_executions_are_not_streamed(
    stream_server: ServerProcess, receiver: Receiver
):
    alice = stream_server.new_user_token(f"alice-{unique_path()}")
    bob = stream_server.new_user_token(f"bob-{unique_path()}")
    alices = forward_hook(stream_server, receiver.url + "/alice", alice)
    bobs = forward_hook(stream_server, receiver.url + "/bob", bob)
    with ExecutionStream(stream_server, bob) as bob_stream:
        deliver(stream_server, alices)
        with stream_server.client(alice) as c:
            finished_executions(c, alices["id"])
        deliver(stream_server, bobs)  # committed after alice's, so streamed after it
        bob_stream.wait_for("bob's own execution", hookId=bobs["id"], kind="finished")

    assert {c["hookId"] for c in bob_stream.changes()} == {bobs["id"]}


def test_a_status_filter_sends_only_that_status(stream_server: ServerProcess, receiver: Receiver):
    receiver.script("/bad", Reply(400, b"no"))
    good = forward_hook(stream_server, receiver.url + "/good")
    bad = forward_hook(stream_server, receiver.url + "/bad")
    with ExecutionStream(stream_server, params={"status": "error"}) as stream:
        deliver(stream_server, good)
        with stream_server.client() as c:
            finished_executions(c, good["id"])
        deliver(stream_server, bad)
        stream.wait_for("the failed execution", hookId=bad["id"], kind="finished")

    assert {c["status"] for c in stream.changes()} == {"error"}
    assert good["id"] not in {c["hookId"] for c in stream.changes()}


def test_the_stream_ends_after_its_maximum_and_the_client_continues(
    stream_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(stream_server, receiver.url + "/long")
    with ExecutionStream(stream_server, params={"hookId": hook["id"]}) as stream:
        deliver(stream_server, hook)
        stream.wait_for("the first execution", hookId=hook["id"], kind="finished")
        connections = stream.connections
        stream.wait_for_connections(connections + 1)
        deliver(stream_server, hook, event="release")
        stream.wait_for("an execution after the reconnect", event="release", kind="finished")


@pytest.mark.parametrize(
    ("params", "headers", "problem"),
    [
        ({"status": "nope"}, {}, "status must be one of"),
        ({}, {"Last-Event-ID": "yesterday"}, "Last-Event-ID must be"),
    ],
)
def test_bad_filters_and_cursors_are_refused_with_the_fix(
    stream_server: ServerProcess, params: dict, headers: dict, problem: str
):
    with stream_server.client() as c:
        response = c.get("/api/executions/stream", params=params, headers=headers)

    assert response.status_code == 400
    assert problem in response.json()["error"]


def test_the_stream_needs_a_token(stream_server: ServerProcess):
    response = httpx.get(f"{stream_server.url}/api/executions/stream", timeout=10)

    assert response.status_code == 401


def test_an_open_stream_does_not_hold_up_a_graceful_shutdown(
    server_factory: Callable[..., ServerProcess],
):
    # uvicorn would wait up to the grace period (+5 s) for open requests before stopping.
    server = server_factory(env={"OCTIPUS_SHUTDOWN_GRACE_SECONDS": "120"})
    with ExecutionStream(server) as stream:
        assert stream.connections == 1
        assert server.stop(timeout=30) in (0, -signal.SIGTERM)  # not killed after the timeout


def test_on_postgresql_a_stream_sends_what_a_worker_on_another_node_did(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    env = {"OCTIPUS_DATABASE_URL": pg_database_url, "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1"}
    api, _worker = start_nodes(server_factory, env, [API_ONLY, WORKER])
    hook = forward_hook(api, receiver.url + "/pg")
    with ExecutionStream(api, params={"hookId": hook["id"]}) as stream:
        deliver(api, hook)
        done = stream.wait_for("the other node's outcome", hookId=hook["id"], kind="finished")
    resume_from = stream.last_event_id

    assert done["status"] == "success"
    deliver(api, hook, event="release")
    with ExecutionStream(api, params={"hookId": hook["id"]}, last_event_id=resume_from) as later:
        later.wait_for("the change made meanwhile", event="release", kind="finished")
