"""FastAPI app factory: routers, error handlers, and the lifespan (database, admin, workers)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fastapi import FastAPI

from octipus import __version__
from octipus.accounts import bootstrap_admin
from octipus.api import (
    auth,
    channels,
    deliveries,
    delivery_detail,
    execution_stream,
    executions,
    health,
    hooks,
    webhooks,
)
from octipus.api.errors import install_error_handlers
from octipus.api.front import OctipusApp
from octipus.api.ingress_schema import document_ingress
from octipus.api.responses import StoredJSONResponse
from octipus.config import Settings
from octipus.db.engine import upgrade_schema
from octipus.db.reseal import prepare_secrets
from octipus.files import make_data_private
from octipus.hooks.changes import hook_change_listener
from octipus.runtime import Runtime
from octipus.serving.writer import IngressWriter
from octipus.web import routes as web_routes

if TYPE_CHECKING:
    from octipus.serving.shared import Shared

log = logging.getLogger("octipus")


class BackgroundService(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class ServingGroup(Protocol):
    """This process's place among the processes serving the port (octipus/serving/)."""

    is_main: bool  # the main one prepares the database and runs the background services
    shared: Shared

    async def start(self, runtime: Runtime) -> None: ...
    async def stop(self) -> None: ...


def background_services(runtime: Runtime, with_worker: bool) -> list[BackgroundService]:
    """The worker pool with its failure alerts, and the campaign for leadership: the leader,
    one process among every node's, runs the singletons (the inbound channel pollers and
    retention)."""
    from octipus.alerts import FailureAlerts
    from octipus.channels.services import channel_services
    from octipus.cluster.leader import Leadership
    from octipus.queue.worker import Worker
    from octipus.retention import Retention
    from octipus.search import SearchIndexer

    singletons = [
        *channel_services(runtime),
        Retention(runtime.settings, runtime.sessions),
        SearchIndexer(runtime.sessions, runtime.settings.search_index_interval_seconds),
    ]
    services: list[BackgroundService] = (
        [Worker(runtime), FailureAlerts(runtime)] if with_worker else []
    )
    services.append(Leadership(runtime.connector.leader_lock(runtime.settings), singletons))
    return services


async def prepare_database(runtime: Runtime) -> None:
    """Make the data dir private (files.py), apply migrations, check the secret keys
    (db/reseal.py) and, on first start, create the admin and announce its token once.

    Under the schema lock: when several nodes start together on an empty database, one
    migrates and creates the admin, and only that one prints (and writes) its token.
    """
    make_data_private(runtime.settings)
    async with runtime.connector.schema_lock(runtime.engine):
        await upgrade_schema(runtime.engine)
        await prepare_secrets(runtime.engine, runtime.settings)
        async with runtime.sessions.begin() as session:
            token = await bootstrap_admin(session, runtime.settings)
    if token and not runtime.settings.bootstrap_token:
        where = runtime.settings.data_dir / "admin-token"
        print(
            f"\n  Octipus: created user 'admin'. API token (shown once, also in {where}):\n"
            f"  {token}\n",
            flush=True,
        )


def create_app(
    settings: Settings | None = None,
    with_worker: bool | None = None,
    group: ServingGroup | None = None,
    writer: IngressWriter | Path | None = None,
) -> FastAPI:
    """The app; `group` when several processes serve the port (None: this process alone);
    `writer` when the ingress writer process stores deliveries: the main process starts and stops
    it, a sibling gets its socket (None: this process stores its own)."""
    settings = settings or Settings()
    main_writer = writer if isinstance(writer, IngressWriter) else None
    writer_socket = writer.socket if isinstance(writer, IngressWriter) else writer
    run_worker = settings.worker_enabled if with_worker is None else with_worker
    is_main = group is None or group.is_main

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.create(settings, group.shared if group else None, writer_socket)
        app.state.runtime = runtime
        services: list[BackgroundService] = []
        if is_main:
            await prepare_database(runtime)
            services = background_services(runtime, run_worker)
        listener = hook_change_listener(runtime.connector, settings.database_url, runtime.hooks)
        if listener is not None:  # every serving process has its own hook cache to clear
            services.insert(0, listener)
        if main_writer is not None:
            await main_writer.start()
        for service in services:
            await service.start()
        if group is not None:
            await group.start(runtime)
        if is_main:
            log.info("octipus ready", extra={"url": settings.base_url, "worker": run_worker})
            print(f"  Open {settings.client_url}/\n", flush=True)
        try:
            yield
        finally:
            runtime.shutting_down = True
            if group is not None:
                await group.stop()
            for service in reversed(services):
                await service.stop()
            await runtime.close()
            if main_writer is not None:
                await main_writer.stop()

    app = OctipusApp(
        title="Octipus Hooks",
        version=__version__,
        lifespan=lifespan,
        default_response_class=StoredJSONResponse,
    )
    install_error_handlers(app)
    document_ingress(app)
    # execution_stream before executions: its path would match /api/executions/{execution_id}.
    for module in (
        health,
        webhooks,
        hooks,
        execution_stream,
        executions,
        deliveries,
        delivery_detail,
        auth,
        channels,
        web_routes,
    ):
        app.include_router(module.router)
    return app
