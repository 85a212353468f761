"""uvicorn's httptools protocol, with limits on what a connection may hold, sending each response
in one system call.

Limits (README, Webhook ingress): a request's line and headers are refused with 431 past a byte
or a header count limit, as soon as either is passed (never buffered further); a request whose
headers, then whose body, have not all arrived in time gets 408; a serving process keeps at most
so many connections open, answering those beyond with 503. Each refusal closes the connection.

One write: uvicorn writes a response's status line and headers, then its body, each with its own
`transport.write`: two `send` calls per response. On loopback each costs ~10 µs of CPU, since
the kernel delivers to the reader within the writer's call. Here the writes a connection makes in
one step of the event loop are joined and sent at the end of that step.
"""

from __future__ import annotations

import asyncio
import logging
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger(__name__)


class CoalescingTransport:
    """Wraps a transport: `write`s made in one loop step go out as one write after it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data, self._pending = b"".join(self._pending), []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may hold (the OCTIPUS_* settings named in each refusal)."""

    header_bytes: int
    header_count: int
    header_timeout: float
    body_timeout: float
    connections: int


class HeadTooLarge(Exception):
    """A request line and headers past a limit: answered with 431."""


# Scope key set by a response that ends only when its client leaves (the executions stream).
ENDLESS = "octipus.endless"


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """httptools parsing within `limits`, responses sent in one write.

    uvicorn builds one per connection from the class `protocol_class` returns.
    """

    limits: ClassVar[ConnectionLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = False  # a request has begun, its headers have not all arrived
        self._reading_body = False  # its headers have arrived, its body has not
        self._requests = 0  # requests begun on this connection
        self._chunk = 0  # bytes in the chunk being parsed
        self._first_chunk = 0  # bytes in the chunk the request began in
        self._head_received = 0  # bytes in later chunks that were all head
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave as one.
        real = typing.cast(asyncio.Transport, transport)
        super().connection_made(CoalescingTransport(real, self.loop))  # type: ignore[arg-type]
        if len(self.connections) > self.limits.connections:
            message = (
                f"Too many open connections (at most {self.limits.connections} per serving "
                "process, OCTIPUS_MAX_CONNECTIONS); retry shortly"
            )
            self._refuse(503, message, answer=True, headers=[(b"retry-after", b"1")])
            return
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """Graceful shutdown as uvicorn's, except that an endless response's connection is
        closed (the app sees its client leave and stops), so that the shutdown does not wait
        for it in vain; its client reconnects."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.scope.get(ENDLESS):
            self.transport.close()
        else:
            super().shutdown()

    def data_received(self, data: bytes) -> None:
        """uvicorn's, refusing a head past its limits with 431 and timing the reads."""
        self._unset_keepalive_if_required()
        request, head_before = self._requests, self._reading_head
        self._chunk = len(data)
        try:
            self.parser.feed_data(data)
            if self._reading_head:
                if head_before and request == self._requests:
                    self._head_received += len(data)
                self._check_head(self._head_received)
        except HeadTooLarge as exc:
            self._refuse(431, str(exc), answer=self._may_answer_head())
            return
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse(431, str(exc.__context__), answer=self._may_answer_head())
            else:
                self._invalid_request()
            return
        except httptools.HttpParserError:
            self._invalid_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._reading_head and self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )
        elif self._reading_body and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def _invalid_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._requests += 1
        self._reading_head = True
        self._first_chunk, self._head_received = self._chunk, 0

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._reading_body = True
        self._head_timer = self._cancel(self._head_timer)
        # The chunks it came in bound the head's size; only past the limit is it measured.
        if self._first_chunk + self._head_received + self._chunk > self.limits.header_bytes:
            self._check_head(len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers))
        else:
            self._check_head(0)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._body_timer = self._cancel(self._body_timer)
        super().on_message_complete()

    # Limits

    def _check_head(self, size: int) -> None:
        """HeadTooLarge if the head read so far has too many headers, or `size` bytes are too
        many."""
        if len(self.headers) > self.limits.header_count:
            raise HeadTooLarge(
                f"Too many request header fields: at most {self.limits.header_count} "
                "(OCTIPUS_MAX_HEADER_COUNT)"
            )
        if size > self.limits.header_bytes:
            raise HeadTooLarge(
                "Request header fields too large: the request line and headers may hold "
                f"{self.limits.header_bytes} bytes (OCTIPUS_MAX_HEADER_BYTES)"
            )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        message = (
            f"Request headers not received within {self.limits.header_timeout:g} s "
            "(OCTIPUS_HEADER_TIMEOUT_SECONDS)"
        )
        self._refuse(408, message, answer=self._may_answer_head())

    def _body_timed_out(self) -> None:
        self._body_timer = None
        message = (
            f"Request body not received within {self.limits.body_timeout:g} s of its headers "
            "(OCTIPUS_BODY_TIMEOUT_SECONDS)"
        )
        self._refuse(408, message, answer=not self.cycle.response_started)

    def _may_answer_head(self) -> bool:
        """Whether a refusal of the request being read may be answered: no earlier response on
        this connection is still being made."""
        return self.cycle is None or self.cycle.response_complete

    def _refuse(
        self,
        status: int,
        message: str,
        answer: bool,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Answer `status` with a JSON error (if `answer`), then close the connection."""
        client = f"{self.client[0]}:{self.client[1]}" if self.client else None
        log.info("closing a connection: %s", message, extra={"status": status, "client": client})
        self._cancel_timers()
        if answer and not self.transport.is_closing():
            body = orjson.dumps({"error": message})
            head = [STATUS_LINE[status]]
            fields = [
                *self.server_state.default_headers,
                *(headers or []),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            head.extend(name + b": " + value + b"\r\n" for name, value in fields)
            self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> asyncio.TimerHandle | None:
        """Cancel `timer`; None, to keep in its place."""
        if timer is not None:
            timer.cancel()
        return None

    def _cancel_timers(self) -> None:
        self._head_timer = self._cancel(self._head_timer)
        self._body_timer = self._cancel(self._body_timer)


def protocol_class(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """`uvicorn.Config(http=...)`: the protocol class, bound to `limits`."""
    return type("BoundHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
