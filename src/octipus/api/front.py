"""The app's front door: webhook deliveries go straight to the ingress, the rest to FastAPI.

`POST /api/webhooks/{path}` is the hot path (DESIGN §8): it skips FastAPI's per-request
telemetry check, middleware, routing and dependency solving, which together cost more CPU than
the ingress work itself.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from octipus.api.webhooks import INGRESS_PREFIX, internal_error, receive_webhook

log = logging.getLogger(__name__)


class OctipusApp(FastAPI):
    """FastAPI, with the ingress served ahead of everything else."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(INGRESS_PREFIX)
        ):
            await self._ingress(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _ingress(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        try:
            response = await receive_webhook(
                scope["path"][len(INGRESS_PREFIX) :], Request(scope, receive)
            )
        except ClientDisconnect:
            log.info(
                "webhook body not received: the client went away", extra={"path": scope["path"]}
            )
            return
        except Exception:
            log.exception("ingress failed", extra={"path": scope["path"]})
            response = internal_error()
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})
