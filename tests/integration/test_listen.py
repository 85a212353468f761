"""`octipus listen` against a real server: deliveries replayed to a local receiver, whole."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import API_ONLY, start_nodes
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess, free_port
from tests.support.signing import github_signature
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def alice(server: ServerProcess) -> str:
    return server.new_user_token(f"listen-alice-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def bob(server: ServerProcess) -> str:
    return server.new_user_token(f"listen-bob-{uuid.uuid4().hex[:6]}")


@contextmanager
def listening(server: ServerProcess, token: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`octipus listen ARGS` as `token`'s user, ended with Ctrl-C (SIGINT) after the block."""
    env = {**server.env, "OCTIPUS_URL": server.url, "OCTIPUS_TOKEN": token}
    process = subprocess.Popen(
        [sys.executable, "-m", "octipus", "listen", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        process.output = (out, err)  # type: ignore[attr-defined]


def run_listen(server: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`octipus listen ARGS` expected to exit by itself."""
    env = {**server.env, "OCTIPUS_URL": server.url, "OCTIPUS_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "octipus", "listen", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def handled(state: Path) -> int:
    """How many deliveries the listener replayed and printed, from its state file."""
    return len(json.loads(state.read_text())["recent"]) if state.exists() else 0


def test_deliveries_sent_while_disconnected_arrive_in_order_and_verify(
    server: ServerProcess, alice: str, receiver: Receiver, tmp_path: Path
):
    path, secret = unique_path("listen"), "alice-github-secret"
    with server.client(token=alice) as c:
        make_hook(c, path, secret=secret)
    bodies = [json.dumps({"n": n, "ref": "refs/heads/main"}).encode() for n in range(5)]
    ids = [str(uuid.uuid4()) for _ in bodies]
    state = tmp_path / "listen.state"
    args = ("--path", path, "--forward-to", f"{receiver.url}/local", "--state", str(state))

    assert send_github(server.url, path, bodies[0], secret, delivery=ids[0]).status_code == 202
    with listening(server, alice, *args, "--from-start") as first:
        wait_until(lambda: handled(state) == 1, what="the first delivery")
    assert first.returncode == 0, first.output  # type: ignore[attr-defined]
    assert "stopped" in first.output[0]  # type: ignore[attr-defined]

    for body, delivery in zip(bodies[1:], ids[1:], strict=True):  # while nobody listens
        assert send_github(server.url, path, body, secret, delivery=delivery).status_code == 202
    with listening(server, alice, *args) as second:
        wait_until(lambda: handled(state) == 5, what="the missed deliveries")
    out = second.output[0]  # type: ignore[attr-defined]

    received = receiver.requests("/local")
    assert [r.headers["x-github-delivery"] for r in received] == ids
    for request, body in zip(received, bodies, strict=True):
        assert request.method == "POST"
        assert request.body == body
        assert request.headers["x-hub-signature-256"] == github_signature(secret, body)
        assert request.headers["x-github-event"] == "push"
        assert request.headers["host"] != server.url.split("//")[1]  # rewritten for the receiver
    lines = [line for line in out.splitlines() if "-> 200" in line]
    assert [line.split()[2] for line in lines] == ids[1:]  # one line each, no repeats


def test_new_deliveries_arrive_while_listening(
    server: ServerProcess, alice: str, receiver: Receiver
):
    path, secret = unique_path("listen"), "alice-live-secret"
    with server.client(token=alice) as c:
        make_hook(c, path, secret=secret)
    with listening(server, alice, "--path", path, "--forward-to", f"{receiver.url}/live") as p:
        assert p.stdout is not None
        assert p.stdout.readline().startswith("Listening on")  # it prints once connected
        for n in range(3):
            send_github(server.url, path, b'{"live": %d}' % n, secret)
            wait_until(lambda n=n: len(receiver.requests("/live")) == n + 1, what=f"delivery {n}")
    assert [r.body for r in receiver.requests("/live")] == [b'{"live": %d}' % n for n in range(3)]


def test_another_users_deliveries_are_not_streamed(
    server: ServerProcess, alice: str, bob: str, receiver: Receiver
):
    path = unique_path("listen")
    with server.client(token=alice) as c:
        make_hook(c, path, secret="alice-shared-path")
    with server.client(token=bob) as c:
        make_hook(c, path, secret="bob-shared-path")
    send_github(server.url, path, b'{"who": "bob"}', "bob-shared-path")
    send_github(server.url, path, b'{"who": "alice"}', "alice-shared-path")
    forward = f"{receiver.url}/mine"
    with listening(server, alice, "--path", path, "--forward-to", forward, "--from-start"):
        wait_until(lambda: receiver.requests("/mine"), what="alice's delivery")
    assert [r.body for r in receiver.requests("/mine")] == [b'{"who": "alice"}']


def test_signature_headers_stay_back_when_another_users_hook_also_accepted(
    server: ServerProcess, alice: str, bob: str
):
    """Two users' hooks verify the same request (one repository's webhook, one secret): neither
    gets headers that may carry what the other's hook checks (tokens, for some providers)."""
    path = unique_path("listen")
    with server.client(token=alice) as c:
        make_hook(c, path, secret="alice-secret-both")
    with server.client(token=bob) as c:
        make_hook(c, path, secret="alice-secret-both")
    send_github(server.url, path, b'{"both": true}', "alice-secret-both")
    for token, withheld in ((bob, True), (alice, True), (server.token, False)):
        event = _first_event(server, token, path)
        assert ("x-hub-signature-256" not in event["headers"]) is withheld
        assert bool(event["headersWithheld"]) is withheld


def _first_event(server: ServerProcess, token: str, path: str) -> dict[str, object]:
    """The first delivery event of the path's stream, read as `token`'s user."""
    params = {"path": path, "after": "0" * 32}
    auth = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=server.url, headers=auth, timeout=10.0) as c,  # bounded reads
        c.stream("GET", "/api/deliveries/stream", params=params) as response,
    ):
        assert response.status_code == 200
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "delivery":
                event: dict[str, object] = json.loads(line[6:])
                return event
    raise AssertionError("the stream ended without a delivery")


def test_execution_listings_never_show_signature_headers(server: ServerProcess, alice: str):
    path, secret = unique_path("listen"), "alice-listing-secret"
    with server.client(token=alice) as c:
        hook = make_hook(c, path, secret=secret)
        send_github(server.url, path, b'{"x": 1}', secret)
        executions = wait_until(
            lambda: c.get(f"/api/hooks/{hook['id']}/executions").json()["executions"],
            what="the execution",
        )
        shown = c.get(f"/api/executions/{executions[0]['id']}").text
    assert github_signature(secret, b'{"x": 1}') not in shown
    assert "x-hub-signature-256" not in shown


def test_a_bad_token_exits_with_one_line(server: ServerProcess, alice: str):
    done = run_listen(
        server, "oct_not_a_token", "--path", "x", "--forward-to", "http://127.0.0.1:9/"
    )
    assert done.returncode == 3
    assert done.stderr.strip() == "error 401: Invalid or revoked token"


def test_a_path_without_your_hook_is_refused(server: ServerProcess, alice: str):
    done = run_listen(server, alice, "--path", unique_path(), "--forward-to", "http://127.0.0.1:9/")
    assert done.returncode == 1
    assert "You have no hook on path" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_bad_cursor_is_a_400_that_says_what_to_send(server: ServerProcess, alice: str):
    path = unique_path("listen")
    with server.client(token=alice) as c:
        make_hook(c, path)
        response = c.get("/api/deliveries/stream", params={"path": path, "after": "../../etc"})
    assert response.status_code == 400
    assert "32 hex digits" in response.json()["error"]


def test_an_unreachable_server_exits_with_one_line(server: ServerProcess):
    url = f"http://127.0.0.1:{free_port()}"
    args = ("--path", "x", "--forward-to", "http://127.0.0.1:9/", "--url", url)
    done = run_listen(server, server.token, *args)
    assert done.returncode == 4
    assert done.stderr.startswith(f"cannot reach {url}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_on_postgresql_a_listener_on_one_node_gets_what_another_node_received(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    first, second = start_nodes(
        server_factory, {"OCTIPUS_DATABASE_URL": pg_database_url}, [API_ONLY, API_ONLY]
    )
    path, secret = unique_path("listen"), "pg-listen-secret"
    with first.client() as c:
        make_hook(c, path, secret=secret)
    args = ("--path", path, "--forward-to", f"{receiver.url}/pg", "--from-start")
    send_github(second.url, path, b'{"node": 0}', secret)
    with listening(first, first.token, *args):
        wait_until(lambda: len(receiver.requests("/pg")) == 1, what="the stored delivery")
        wait_until(
            lambda: send_github(second.url, path, b'{"node": 1}', secret).status_code == 202,
            what="the second node to know the hook",
        )
        wait_until(lambda: len(receiver.requests("/pg")) == 2, what="the other node's delivery")
    received = receiver.requests("/pg")
    assert [r.body for r in received] == [b'{"node": 0}', b'{"node": 1}']
    for request in received:
        assert request.headers["x-hub-signature-256"] == github_signature(secret, request.body)


def test_the_listener_resumes_when_the_server_comes_back(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
):
    server = server_factory()
    path, secret = unique_path("listen"), "restart-secret"
    with server.client() as c:
        make_hook(c, path, secret=secret)
    args = ("--path", path, "--forward-to", f"{receiver.url}/again")
    with listening(server, server.token, *args) as listener:
        assert listener.stdout is not None
        assert listener.stdout.readline().startswith("Listening on")
        server.restart()  # same port and data dir
        send_github(server.url, path, b'{"after": "restart"}', secret)
        wait_until(lambda: receiver.requests("/again"), timeout=60, what="the resumed stream")
    assert "connection lost" in listener.output[1]  # type: ignore[attr-defined]
