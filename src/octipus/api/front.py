"""The ASGI front door: webhook deliveries go straight to the ingress, the rest to FastAPI.

`POST /api/webhooks/{path}` is the hot path (DESIGN §8): it skips FastAPI's middleware,
routing and dependency solving, which cost more CPU than the ingress work itself.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from octipus.api.webhooks import INGRESS_PREFIX, internal_error, receive_webhook

log = logging.getLogger(__name__)


class IngressFront:
    """Serves webhook deliveries itself and hands every other request to `app`."""

    def __init__(self, app: ASGIApp, owner: FastAPI):
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(INGRESS_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.owner
        request = Request(scope, receive)
        try:
            response = await receive_webhook(scope["path"][len(INGRESS_PREFIX) :], request)
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


class OctipusApp(FastAPI):
    """FastAPI with the ingress front door outside its middleware stack."""

    def build_middleware_stack(self) -> ASGIApp:
        return IngressFront(super().build_middleware_stack(), self)
