"""What one connection or request may hold, through a real server and raw sockets: header bytes
and count (431), read timeouts (408), the connection cap (503), JSON nesting (400), bounded
rejection rows, and who may read them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.raw_http import answer, connect, send_all, trickle
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

SECRET = "s3cret-value"
TIMEOUT = 1.0  # the server's header and body timeouts in this module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "OCTIPUS_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "OCTIPUS_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        "OCTIPUS_WORKER_ENABLED": "false",
    }
    proc = ServerProcess(tmp_path_factory.mktemp("limits"), env).start()
    yield proc
    proc.kill()


def rejections(server: ServerProcess, path: str, token: str | None = None) -> list[dict]:
    with server.client(token) as c:
        response = c.get("/api/webhooks/rejections", params={"path": path})
    assert response.status_code == 200, response.text
    return response.json()["rejections"]


def status_and_error(raw: bytes) -> tuple[int, str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(body)["error"]


def post_head(path: str, *fields: bytes, length: int = 2) -> bytes:
    lines = [f"POST /api/webhooks/{path} HTTP/1.1".encode(), b"Host: 127.0.0.1", *fields]
    lines += [b"Content-Type: application/json", f"Content-Length: {length}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


# Header block: bytes and count


@pytest.mark.parametrize(
    "fields,error",
    [
        ([b"X-Pad: " + b"a" * 1_000_000], "Request header fields too large"),
        ([f"X-H{i}: v".encode() for i in range(100_000)], "Too many request header fields"),
    ],
    ids=["one-megabyte-header", "100k-headers"],
)
def test_a_head_past_the_limits_gets_431_and_leaves_nothing_stored(
    server: ServerProcess, fields: list[bytes], error: str
):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    with connect(server.port) as sock:
        send_all(sock, post_head(path, b"X-Hub-Signature-256: sha256=00", *fields) + b"{}")
        status, message = status_and_error(answer(sock))
    assert status == 431
    assert error in message and "OCTIPUS_MAX_HEADER_" in message
    assert rejections(server, path) == []
    assert httpx.get(f"{server.url}/api/health").status_code == 200


def test_a_head_within_the_limits_is_served(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    fields = [f"X-H{i}: {'v' * 200}".encode() for i in range(150)]  # ~32 KB, 150 headers
    with connect(server.port) as sock:
        send_all(sock, post_head(path, b"Connection: close", *fields) + b"{}")
        status, message = status_and_error(answer(sock))
    assert status == 401 and "X-Hub-Signature-256" in message


# Rejection rows: bounded in bytes, readable by the hooks' owners at the time


def test_a_rejection_keeps_a_bounded_share_of_the_headers(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    headers = {"X-GitHub-Event": "push", "X-Big": "b" * 20_000}
    headers |= {f"X-H{i}": "v" * 300 for i in range(100)}  # ~50 KB in all
    response = httpx.post(f"{server.url}/api/webhooks/{path}", content=b"{}", headers=headers)
    assert response.status_code == 401
    [rejection] = rejections(server, path)
    kept = rejection["headers"]
    assert rejection["eventType"] == "push"
    assert len(json.dumps(kept)) < 6000
    assert kept["x-big"].startswith("b" * 1024) and "more characters" in kept["x-big"]
    assert kept["(not kept)"].endswith("more headers")


def test_rejections_are_read_only_by_owners_of_the_path_when_they_arrived(
    server: ServerProcess,
):
    only_owners_at_the_time_read_rejections(server)


def test_rejections_are_read_only_by_owners_on_postgresql(server_factory, pg_database_url):
    only_owners_at_the_time_read_rejections(
        server_factory(env={"OCTIPUS_DATABASE_URL": pg_database_url})
    )


def only_owners_at_the_time_read_rejections(server: ServerProcess) -> None:
    alice = server.new_user_token("alice-rejections")
    mallory = server.new_user_token("mallory-rejections")
    path = unique_path()
    with server.client(alice) as c:
        make_hook(c, path)
    first = httpx.post(
        f"{server.url}/api/webhooks/{path}", content=b"{}", headers={"X-Secret-Ish": "alice's"}
    )
    assert first.status_code == 401
    with server.client(mallory) as c:
        make_hook(c, path, secret="mallory-secret")
    assert rejections(server, path, mallory) == []
    with server.client(mallory) as c:
        assert c.get("/api/webhooks/rejections").json()["rejections"] == []

    second = httpx.post(f"{server.url}/api/webhooks/{path}", content=b"{}")
    assert second.status_code == 401
    assert len(rejections(server, path, mallory)) == 1  # arrived while mallory had a hook here
    assert len(rejections(server, path, alice)) == 2
    assert len(rejections(server, path)) == 2  # the admin


# JSON nesting


def test_signed_json_nested_past_the_limit_is_refused_with_400(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    deep = send_github(server.url, path, b"[" * 1000 + b"]" * 1000, SECRET)
    assert deep.status_code == 400
    assert deep.json()["error"] == (
        "JSON payload nested deeper than 64 levels of arrays and objects "
        "(the limit is OCTIPUS_MAX_JSON_DEPTH)"
    )
    assert rejections(server, path)[0]["status"] == 400
    at_limit = send_github(server.url, path, b"[" * 64 + b"]" * 64, SECRET)
    assert at_limit.status_code == 202, at_limit.text
    with server.client() as c:
        listed = c.get(f"/api/hooks/{hook['id']}/executions")
    assert listed.status_code == 200
    assert len(listed.json()["executions"]) == 1


# Slow and gone clients


def test_a_connection_that_sends_nothing_is_answered_408_and_closed(server: ServerProcess):
    with connect(server.port) as sock:
        status, message = status_and_error(answer(sock, timeout=TIMEOUT + 10))
    assert status == 408 and "OCTIPUS_HEADER_TIMEOUT_SECONDS" in message


def test_headers_trickled_past_the_timeout_get_408_and_the_connection_closed(
    server: ServerProcess,
):
    with connect(server.port) as sock:
        send_all(sock, b"POST /api/webhooks/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        raw = trickle(sock, b"X-Slow: 1\r\n", every=0.2, timeout=TIMEOUT + 10)
    status, message = status_and_error(raw)
    assert status == 408 and "Request headers not received within 1 s" in message


def test_a_kept_alive_connection_gets_the_same_clock_for_its_next_request(server: ServerProcess):
    health = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(server.port) as sock:
        for _ in range(3):  # served one after another, each well within the clock
            send_all(sock, health)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        send_all(sock, b"GET /api/health HTTP/1.1\r\n")
        raw = trickle(sock, b"X-Slow: 1\r\n", every=0.2, timeout=TIMEOUT + 10)
    assert status_and_error(raw)[0] == 408


def test_a_body_trickled_past_the_timeout_gets_408_and_the_connection_closed(
    server: ServerProcess,
):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    with connect(server.port) as sock:
        send_all(sock, post_head(path, length=100_000) + b'{"a":"')
        raw = trickle(sock, b"x", every=0.2, timeout=TIMEOUT + 10)
    status, message = status_and_error(raw)
    assert status == 408 and "OCTIPUS_BODY_TIMEOUT_SECONDS" in message


def test_a_client_gone_mid_body_is_logged_as_one_info_line(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    log_start = len(server.logs())
    with connect(server.port) as sock:
        send_all(sock, post_head(path, length=1000) + b'{"a":"')
    wait_until(
        lambda: "webhook body not received" in server.logs()[log_start:],
        what="the disconnect to be logged",
    )
    logs = server.logs()[log_start:]
    assert "Traceback" not in logs and "ERROR" not in logs


# Connection cap


def test_connections_past_the_cap_get_503_and_are_closed(server_factory):
    server = server_factory(env={"OCTIPUS_MAX_CONNECTIONS": "3", "OCTIPUS_HTTP_PROCESSES": "1"})
    health = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    held = []
    try:
        for _ in range(6):  # the server may still count the start-up check's connection
            sock = connect(server.port)
            held.append(sock)
            send_all(sock, health)
            sock.settimeout(10)
            reply = sock.recv(65536)
            if not reply.startswith(b"HTTP/1.1 200"):
                break
        status, message = status_and_error(reply + answer(sock))
        assert status == 503 and "OCTIPUS_MAX_CONNECTIONS" in message
        assert 2 <= len(held) - 1 <= 3  # the ones served stay open (keep-alive)
    finally:
        for sock in held:
            sock.close()
    wait_until(
        lambda: httpx.get(f"{server.url}/api/health").status_code == 200,
        what="a connection to be served once the others closed",
    )
