"""The private internals of pinned libraries that Octipus builds on are still there.

db/thread.py `InlineConnection` replaces aiosqlite's private queue to its thread (`_tx`) and
skips its `__await__`; api/http_protocol.py subclasses uvicorn's `HttpToolsProtocol` and uses
its private state and helpers. pyproject.toml pins both below their next minor version; when a
new version is allowed, these tests say what moved before anything misbehaves.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from functools import partial

import aiosqlite
import pytest
import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.server import ServerState

from octipus.db.thread import InlineConnection


def _changed(library: str, version: str, what: str, user: str) -> str:
    return (
        f"{library} {version} changed {what}, which {user} relies on: adapt it to the new "
        f"version (or remove the patch), then raise the pin in pyproject.toml"
    )


AIOSQLITE = partial(_changed, "aiosqlite", aiosqlite.__version__, user="db/thread.py")
UVICORN = partial(_changed, "uvicorn", uvicorn.__version__, user="api/http_protocol.py")


def test_aiosqlite_queues_each_call_as_a_future_and_a_function_on_tx():
    params = list(inspect.signature(aiosqlite.Connection.__init__).parameters)
    assert params[:3] == ["self", "connector", "iter_chunk_size"], AIOSQLITE("__init__'s arguments")
    connection = aiosqlite.Connection(partial(sqlite3.connect, ":memory:"), 64)
    assert callable(getattr(connection, "_tx", None) and connection._tx.put_nowait), AIOSQLITE(
        "the `_tx` queue to its thread"
    )
    for name in ("_connect", "_execute"):
        source = inspect.getsource(getattr(aiosqlite.Connection, name))
        assert "self._tx.put_nowait((future, " in source, AIOSQLITE(f"how `{name}` queues calls")
    assert "self._thread.start()" in inspect.getsource(aiosqlite.Connection.__await__), AIOSQLITE(
        "`__await__`, which InlineConnection replaces to start no thread"
    )


async def test_an_inline_connection_runs_statements_on_the_calling_thread_without_a_thread():
    connection = await InlineConnection(partial(sqlite3.connect, ":memory:"))
    try:
        async with connection.execute("select 41 + 1") as cursor:
            assert await cursor.fetchone() == (42,)
        assert not connection._thread.is_alive(), AIOSQLITE("when its thread starts")
    finally:
        await connection.close()


OVERRIDDEN = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_message_complete",
)
USED = (
    "handle_websocket_upgrade",
    "send_400_response",
    "_unset_keepalive_if_required",
    "_unsupported_upgrade_warning",
)
STATE = ("loop", "parser", "logger", "connections", "server_state", "headers", "url")


def test_uvicorn_httptools_protocol_has_the_methods_and_state_we_override_and_use():
    protocol = httptools_impl.HttpToolsProtocol
    for name in OVERRIDDEN + USED:
        assert callable(getattr(protocol, name, None)), UVICORN(f"HttpToolsProtocol.{name}")
    params = list(inspect.signature(protocol.__init__).parameters)
    assert params[:4] == ["self", "config", "server_state", "app_state"], UVICORN("__init__")
    assert httptools_impl.STATUS_LINE[200].startswith(b"HTTP/1.1 200"), UVICORN("STATUS_LINE")
    config = uvicorn.Config(app=lambda *_: None, loop="asyncio", http="httptools")
    config.load()
    instance = protocol(config, ServerState(), {}, _loop=asyncio.new_event_loop())
    instance.on_message_begin()  # what a request's start sets: its url and headers
    missing = [name for name in STATE if not hasattr(instance, name)]
    assert not missing, UVICORN(f"the protocol's state {missing}")
    instance.loop.close()


@pytest.mark.parametrize("library,pin", [(aiosqlite, "0.22"), (uvicorn, "0.55")])
def test_the_installed_versions_are_the_pinned_ones(library: object, pin: str):
    version = library.__version__  # type: ignore[attr-defined]
    assert version.startswith(pin + "."), (
        f"{library.__name__} {version} is installed, the tests above were written against "  # type: ignore[attr-defined]
        f"{pin}: run them, then update the pin here and in pyproject.toml"
    )
