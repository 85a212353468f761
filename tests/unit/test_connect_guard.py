"""The socket-level guard: what a guarded worker may connect to, checked in real worker
processes against local receivers (each hop of a redirect included)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from octipus.channels.apprise import deliver
from octipus.net.connect_guard import GuardedProcess, connect_refusal
from tests.support.receiver import Receiver, Reply

ALLOW = frozenset({"localhost", "example.internal"})


@pytest.mark.parametrize(
    "address,resolved",
    [
        (("127.0.0.1", 80), "127.0.0.1"),
        (("169.254.169.254", 80), "169.254.169.254"),
        (("::1", 80, 0, 0), "::1"),
        (("::ffff:10.0.0.1", 80, 0, 0), "evil.example"),  # a name answering an internal address
        (("fe80::1%1", 80, 0, 1), None),
        (("metadata.internal", 80), None),  # a name the socket would resolve itself
        ("/var/run/docker.sock", None),  # Unix sockets
        (b"\x00abstract", None),
    ],
)
def test_internal_or_unchecked_destinations_are_refused(address: object, resolved: str | None):
    assert connect_refusal(address, resolved, ALLOW) is not None


@pytest.mark.parametrize(
    "address,resolved",
    [
        (("93.184.216.34", 443), "example.com"),
        (("2606:4700:4700::1111", 443, 0, 0), None),
        (("127.0.0.1", 8080), "localhost"),  # resolved from an allowed name
        (("10.1.2.3", 80), "example.internal"),
        (("example.internal", 80), None),  # an allowed name, connected by name
    ],
)
def test_public_or_allowed_destinations_pass(address: object, resolved: str | None):
    assert connect_refusal(address, resolved, ALLOW) is None


def test_a_refusal_names_the_address_the_host_and_the_setting():
    error = connect_refusal(("127.0.0.1", 80), "evil.example", frozenset())
    assert error is not None
    assert "127.0.0.1 (host evil.example): loopback" in str(error)
    assert "OCTIPUS_FORWARD_ALLOW_HOSTS" in str(error)


def _connect(port: int) -> str:
    """In a worker: connect to 127.0.0.1:port by IP, as urllib3 does (resolve, then connect)."""
    family, kind, proto, _, address = socket.getaddrinfo("127.0.0.1", port, socket.AF_INET)[0]
    with socket.socket(family, kind, proto) as sock:
        try:
            sock.connect(address)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
    return "connected"


@pytest.fixture
async def nothing_allowed() -> AsyncIterator[GuardedProcess]:
    process = GuardedProcess(frozenset(), workers=1)
    yield process
    await process.aclose()


async def test_a_worker_cannot_connect_to_loopback(nothing_allowed: GuardedProcess):
    with Receiver() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1])
        outcome, refused = await nothing_allowed.run(_connect, port)
    assert outcome.startswith("BlockedConnection: Refusing to connect to 127.0.0.1: loopback")
    assert refused == [outcome.removeprefix("BlockedConnection: ")]
    assert receiver.requests() == []


async def test_an_allowed_host_is_reached():
    process = GuardedProcess(frozenset({"127.0.0.1"}), workers=1)
    try:
        with Receiver() as receiver:
            port = int(receiver.url.rsplit(":", 1)[1])
            assert await process.run(_connect, port) == ("connected", [])
    finally:
        await process.aclose()


async def test_each_redirect_hop_of_apprise_is_checked_even_when_it_follows_them():
    """`redirect=yes` is refused when a destination is saved; were it followed anyway, the hop
    to a host that is not allowed is refused at its connect."""
    process = GuardedProcess(frozenset({"localhost"}), workers=1)
    try:
        with Receiver() as allowed, Receiver() as internal:
            allowed.script("/in", Reply(status=307, headers={"Location": f"{internal.url}/x"}))
            port = allowed.url.rsplit(":", 1)[1]
            url = f"json://localhost:{port}/in?redirect=yes"
            (delivered, notes), refused = await process.run(deliver, url, "hello")
        assert len(allowed.requests("/in")) == 1
        assert internal.requests() == []
    finally:
        await process.aclose()
    assert not delivered and notes
    assert refused and "Refusing to connect to 127.0.0.1: loopback address" in refused[0]
