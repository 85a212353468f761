"""`octipus serve` (API + worker) and `octipus worker` (worker only)."""

from __future__ import annotations

import asyncio
import signal
from contextlib import nullcontext

import typer

from octipus.config import Settings
from octipus.logs import configure_logging


def _serve(settings: Settings, with_worker: bool) -> None:
    """Serve on one socket from `settings.serving_processes` processes (octipus/serving/)."""
    from octipus.serving.group import ProcessGroup
    from octipus.serving.server import bind, serve
    from octipus.serving.writer import IngressWriter

    configure_logging(settings.log_level, settings.log_format)
    sock = bind(settings)
    siblings = settings.serving_processes - 1
    group = ProcessGroup(sock, siblings, settings.shutdown_grace_seconds) if siblings else None

    from octipus.app import create_app  # after ProcessGroup: it decides how metrics are kept

    database = settings.sqlite_file if settings.ingress_writer_process else None
    writer = (
        IngressWriter(database, settings.sqlite_synchronous, settings.shutdown_grace_seconds)
        if database
        else None
    )
    with group or nullcontext(), writer or nullcontext():
        app = create_app(settings, with_worker=with_worker, group=group, writer=writer)
        serve(app, settings, sock)


async def _run_worker_only(settings: Settings) -> None:
    from octipus.app import background_services, prepare_database
    from octipus.runtime import Runtime

    runtime = Runtime.create(settings)
    await prepare_database(runtime)
    services = background_services(runtime, with_worker=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for service in services:
        await service.start()
    await stop.wait()
    runtime.shutting_down = True
    for service in reversed(services):
        await service.stop()
    await runtime.close()


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        no_worker: bool = typer.Option(
            False, "--no-worker", help="Serve the API only; run workers elsewhere."
        ),
        host: str | None = typer.Option(None, help="Override OCTIPUS_HOST."),
        port: int | None = typer.Option(None, help="Override OCTIPUS_PORT."),
    ) -> None:
        """Serve the HTTP API (and, unless --no-worker, the execution workers)."""
        overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        settings = Settings(**overrides)  # type: ignore[arg-type]
        _serve(settings, with_worker=not no_worker and settings.worker_enabled)

    @app.command()
    def worker() -> None:
        """Run execution workers only (PostgreSQL deployments with separate API nodes)."""
        settings = Settings()
        configure_logging(settings.log_level, settings.log_format)
        import uvloop

        uvloop.run(_run_worker_only(settings))
