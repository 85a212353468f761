"""The HTTP client for action traffic (aiohttp under our own API): requests, kept-alive
connections, closed idle connections, timeouts, refusals, TLS, body limits and error messages,
against real servers on loopback ports."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from octipus.actions.base import RetryableError
from octipus.channels.telegram import TelegramAdapter
from octipus.config import Settings
from octipus.net.http import (
    HttpClient,
    HttpConnectError,
    HttpError,
    HttpInvalidRequest,
    HttpProtocolError,
    HttpTimeout,
    Reply,
    operator_client,
)
from tests.support.raw_http import raw_server, self_signed, tls_contexts
from tests.support.receiver import Receiver
from tests.support.receiver import Reply as Answer

SECRET_PATH = "/bot123456:SECRET-TOKEN/sendMessage?key=SECRET-QUERY"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens here once closed


def open_connections(http: HttpClient) -> list[object]:
    """The pool's idle connections whose socket is still open (aiohttp internals)."""
    session = http._session
    assert session is not None
    pooled = session.connector._conns  # type: ignore[union-attr]
    return [proto for conns in pooled.values() for proto, _ in conns if proto.is_connected()]


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Make the running loop resolve names from `answers` (no network in tests)."""
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


async def test_requests_and_answers_round_trip_over_one_kept_alive_connection():
    big_request, big_answer = b"q" * 300_000, b"a" * 1_000_000
    async with raw_server(answer_body=big_answer) as server, HttpClient() as http:
        url = f"http://127.0.0.1:{server.port}/in"
        answers = [await http.post(url, content=big_request) for _ in range(2)]
    assert [(a.status, a.reason, a.body, a.truncated) for a in answers] == [
        (200, "OK", big_answer, False)
    ] * 2
    assert answers[0].headers["content-type"] == "text/plain"
    assert [r.body for r in server.requests] == [big_request, big_request]
    assert server.connections == 1


async def test_json_bodies_are_sent_with_their_content_type():
    with Receiver() as receiver:
        async with HttpClient() as http:
            answer = await http.post(f"{receiver.url}/in", json={"text": "héllo"})
    [received] = receiver.requests("/in")
    assert received.headers["content-type"] == "application/json"
    assert received.body == '{"text":"héllo"}'.encode()
    assert answer.json() == {"ok": True} and answer.is_success


async def test_a_body_without_a_content_type_is_sent_without_one():
    with Receiver() as receiver:
        async with HttpClient() as http:
            await http.post(f"{receiver.url}/in", content=b"raw")
    [received] = receiver.requests("/in")
    assert "content-type" not in received.headers  # aiohttp alone would say octet-stream


async def test_an_idle_connection_the_server_closed_is_replaced_not_reused():
    async with raw_server(close_after_answer=True) as server, HttpClient() as http:
        url = f"http://127.0.0.1:{server.port}/"
        first = await http.post(url, content=b"1")
        for _ in range(500):  # until the loop delivered the server's end of the stream
            if not open_connections(http):
                break
            await asyncio.sleep(0.01)
        second = await http.post(url, content=b"2")  # POST: aiohttp would not retry it
    assert (first.text, second.text) == ("ok", "ok")
    assert server.connections == 2


async def test_a_slow_answer_is_a_timeout():
    with Receiver() as receiver:
        receiver.script("/slow", Answer(delay=10))
        async with HttpClient() as http:
            with pytest.raises(HttpTimeout, match=r"127\.0\.0\.1:\d+ within 0\.2s"):
                await http.request("GET", f"{receiver.url}/slow", timeout=0.2)


async def test_a_refused_connection_is_a_connect_error():
    async with HttpClient() as http:
        with pytest.raises(HttpConnectError, match="Connection refused"):
            await http.request("GET", f"http://127.0.0.1:{free_port()}/", timeout=5)


async def test_a_name_is_reached_on_its_next_address_when_the_first_refuses(monkeypatch):
    fake_dns(monkeypatch, {"service.test": ["127.0.0.2", "127.0.0.1"]})  # nothing on .2
    async with raw_server() as server, HttpClient() as http:
        answer = await http.request("GET", f"http://service.test:{server.port}/", timeout=5)
    assert answer.text == "ok"
    assert server.requests[0].header("host") == f"service.test:{server.port}"


async def test_tls_connections_verify_the_server_by_its_hostname(tmp_path: Path):
    server_side, trusting = tls_contexts(*self_signed(tmp_path, "localhost"))
    async with raw_server(tls=server_side) as server:
        async with HttpClient(ssl_context=trusting) as http:
            answer = await http.request("GET", f"https://localhost:{server.port}/", timeout=5)
            with pytest.raises(
                HttpConnectError, match=r"TLS certificate of 127\.0\.0\.1:\d+ not accepted"
            ):
                # the same trusted certificate, but it does not name 127.0.0.1
                await http.request("GET", f"https://127.0.0.1:{server.port}/", timeout=5)
        async with HttpClient() as http:  # the default CAs do not know the certificate
            with pytest.raises(HttpConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.request("GET", f"https://localhost:{server.port}/", timeout=5)
    assert (answer.status, answer.body) == (200, b"ok")
    assert "localhost" in server.server_names


async def test_a_body_over_max_body_is_truncated_and_its_connection_not_reused():
    body = b"0123456789" * 800_000  # more than the socket buffers: still arriving when cut
    async with raw_server(answer_body=body) as server, HttpClient() as http:
        url = f"http://127.0.0.1:{server.port}/"
        cut = await http.request("GET", url, timeout=5, max_body=25)
        whole = await http.request("GET", url, timeout=5, max_body=len(body))
    assert (cut.body, cut.truncated) == (b"0123456789012345678901234", True)
    assert (whole.body == body, whole.truncated) == (True, False)
    assert server.connections == 2  # the rest of the first answer was never read


async def test_error_messages_name_the_host_and_port_but_not_the_path(monkeypatch):
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    errors: list[HttpError] = []
    async with HttpClient() as http:

        async def failure(url: str, timeout: float = 5) -> None:
            with pytest.raises(HttpError) as caught:
                await http.request("POST", url, json={"a": 1}, timeout=timeout)
            errors.append(caught.value)

        await failure(f"http://127.0.0.1:{free_port()}{SECRET_PATH}")
        for handler in (garbage, hang_up, silence):
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            async with server:
                port = server.sockets[0].getsockname()[1]
                await failure(f"http://127.0.0.1:{port}{SECRET_PATH}", timeout=0.2)
        fake_dns(monkeypatch, {})
        await failure(f"https://nowhere.test{SECRET_PATH}")
    kinds = [type(e) for e in errors]
    assert kinds == [
        HttpConnectError,  # refused
        HttpProtocolError,  # not HTTP
        HttpProtocolError,  # hung up
        HttpTimeout,  # silence
        HttpConnectError,  # no such name
    ]
    for error in errors:
        assert "SECRET" not in str(error) and "sendMessage" not in str(error)
    assert all("127.0.0.1:" in str(e) for e in errors[:4])
    assert "nowhere.test" in str(errors[4])


async def test_requests_that_cannot_be_sent_are_invalid_requests():
    async with raw_server() as server, HttpClient() as http:
        url = f"http://127.0.0.1:{server.port}/"
        with pytest.raises(HttpInvalidRequest, match="header name"):
            await http.request("GET", url, headers={"Bad Name": "x"}, timeout=5)
        with pytest.raises(HttpInvalidRequest):
            await http.request("GET", url, headers={"X-Split": "a\r\nInjected: 1"}, timeout=5)
        with pytest.raises(HttpInvalidRequest, match="Port out of range"):
            await http.request("GET", "http://127.0.0.1:99999/", timeout=5)
    assert server.requests == []


def test_reply_text_uses_the_declared_charset_else_utf8():
    def reply(body: bytes, content_type: str | None) -> Reply:
        from multidict import CIMultiDict, CIMultiDictProxy

        headers = CIMultiDict({"Content-Type": content_type} if content_type else {})
        return Reply(200, "OK", CIMultiDictProxy(headers), body)

    assert reply("é".encode("latin-1"), "text/plain; charset=ISO-8859-1").text == "é"
    assert reply("é".encode(), "text/plain").text == "é"
    assert reply("é".encode(), "text/plain; charset=no-such-charset").text == "é"
    assert reply(b"\xff", None).text == "\ufffd"
    with pytest.raises(ValueError):
        reply(b"{not json", "application/json").json()


async def test_the_operator_client_goes_through_environment_proxies_unless_no_proxy(monkeypatch):
    fake_dns(monkeypatch, {"direct.test": ["127.0.0.1"]})
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with raw_server(answer_body=b"via proxy") as proxy, raw_server() as direct:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "direct.test")
        async with operator_client() as http:
            proxied = await http.post("http://api.service.test/bot1:SECRET/x", json={})
            skipped = await http.post(f"http://direct.test:{direct.port}/y", json={})
    assert (proxied.text, skipped.text) == ("via proxy", "ok")
    [request] = proxy.requests
    assert request.head.startswith(b"POST http://api.service.test/bot1:SECRET/x HTTP/1.1\r\n")
    assert request.header("proxy-authorization") == "Basic dXNlcjpwdw=="  # user:pw
    assert [r.head.split(b"\r\n")[0] for r in direct.requests] == [b"POST /y HTTP/1.1"]


async def test_telegram_failures_and_logs_never_show_the_bot_token(caplog, tmp_path: Path):
    token = "123456:SECRET-BOT-TOKEN"

    def adapter(http: HttpClient, port: int) -> TelegramAdapter:
        settings = Settings(
            data_dir=tmp_path,
            telegram_bot_token=token,
            telegram_api_url=f"http://127.0.0.1:{port}",
        )
        return TelegramAdapter(settings, http)

    caplog.set_level(logging.DEBUG)  # aiohttp's loggers included: none of them logs URLs
    answer = b'{"ok":true,"result":{"message_id":7}}'
    async with raw_server(answer_body=answer) as server, HttpClient() as http:
        assert await adapter(http, server.port).send_message("42", "hi") == {"messageId": 7}
        with pytest.raises(RetryableError, match="Telegram is unreachable") as caught:
            await adapter(http, free_port()).send_message("42", "hi")
    assert server.requests[0].head.startswith(f"POST /bot{token}/sendMessage ".encode())
    assert "SECRET" not in str(caught.value)
    assert all("SECRET" not in record.getMessage() for record in caplog.records)
