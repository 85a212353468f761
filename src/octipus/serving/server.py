"""uvicorn, configured once for every serving process, on a listening socket they share."""

from __future__ import annotations

import socket
import threading
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from octipus.api.http_protocol import ConnectionLimits, protocol_class
from octipus.config import Settings


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        header_bytes=settings.max_header_bytes,
        header_count=settings.max_header_count,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        connections=settings.max_connections,
    )


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol_class(connection_limits(settings)),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
        server_header=False,
    )


def bind(settings: Settings) -> socket.socket:
    """The listening socket on OCTIPUS_HOST:OCTIPUS_PORT, inheritable by sibling processes."""
    return uvicorn_config(None, settings).bind_socket()  # type: ignore[arg-type]


# Set when this process is told to stop. uvicorn then waits for the responses in progress, so
# those that would go on for minutes (`octipus listen` streams) end when they see it.
EXITING = threading.Event()


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        EXITING.set()
        super().handle_exit(sig, frame)


def serve(app: ASGIApp, settings: Settings, sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGINT/SIGTERM, then shut down gracefully."""
    _Server(uvicorn_config(app, settings)).run(sockets=[sock])
