"""uvicorn, configured once for every serving process, on a listening socket they share."""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp

from octipus.api.http_protocol import OneWriteHttpToolsProtocol
from octipus.config import Settings


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=OneWriteHttpToolsProtocol,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
        server_header=False,
    )


def bind(settings: Settings) -> socket.socket:
    """The listening socket on OCTIPUS_HOST:OCTIPUS_PORT, inheritable by sibling processes."""
    return uvicorn_config(None, settings).bind_socket()  # type: ignore[arg-type]


def serve(app: ASGIApp, settings: Settings, sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGINT/SIGTERM, then shut down gracefully."""
    uvicorn.Server(uvicorn_config(app, settings)).run(sockets=[sock])
