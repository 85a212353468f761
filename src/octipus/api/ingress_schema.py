"""The ingress in the OpenAPI document.

`POST /api/webhooks/{path}` is served ahead of FastAPI's routing (api/front.py), so FastAPI
cannot describe it; this adds its description to the generated document, so that clients,
the Swagger page at /docs and fuzzers (schemathesis in the test suite) see every route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What was wrong and how to fix it"}},
    "required": ["error"],
}
_ACCEPTED = {
    "type": "object",
    "properties": {
        "received": {"type": "boolean"},
        "accepted": {"type": "boolean"},
        "hooks": {"type": "integer", "description": "Hooks whose secret verified and fired"},
        "deliveryId": {"type": ["string", "null"]},
    },
    "required": ["received", "accepted", "hooks"],
}
_DUPLICATE = {
    "type": "object",
    "properties": {"received": {"type": "boolean"}, "duplicate": {"type": "boolean"}},
    "required": ["received", "duplicate"],
}
# A few of the headers senders sign with; every provider's are listed in the README.
_SIGNATURE_HEADERS = (
    ("X-Hub-Signature-256", "GitHub, Bitbucket: sha256=<hex HMAC of the raw body>"),
    ("X-Gitlab-Token", "GitLab: the hook's secret"),
    ("Stripe-Signature", "Stripe: t=<unix time>,v1=<hex>"),
    ("webhook-signature", "Standard Webhooks / Svix: v1,<base64>"),
    ("X-Slack-Signature", "Slack: v0=<hex>"),
    ("X-GitHub-Event", "The event type (GitHub); other providers' event headers work too"),
    ("X-GitHub-Delivery", "The delivery id, used to drop duplicates"),
)


def _json_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def ingress_operation() -> dict[str, Any]:
    """The OpenAPI operation of `POST /api/webhooks/{path}`."""
    any_body: dict[str, Any] = {"schema": {}}
    return {
        "tags": ["webhooks"],
        "summary": "Receive a webhook delivery",
        "description": (
            "Every enabled hook on `path` whose own secret verifies the raw body fires; no "
            "bearer token. A 2xx means the delivery and its executions are stored durably."
        ),
        "operationId": "receive_webhook",
        "security": [],
        "parameters": [
            {
                "name": "path",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "The hook's triggerConfig.webhookPath",
            },
            *(
                {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": text,
                }
                for name, text in _SIGNATURE_HEADERS
            ),
        ],
        "requestBody": {
            "required": False,
            "content": {
                "application/json": any_body,
                "application/x-www-form-urlencoded": any_body,
                "text/plain": any_body,
                "application/octet-stream": any_body,
            },
        },
        "responses": {
            "202": {
                "description": "Accepted and stored",
                "content": {"application/json": {"schema": _ACCEPTED}},
            },
            "200": {
                "description": "A duplicate delivery id, already accepted (or a handshake)",
                "content": {"application/json": {"schema": _DUPLICATE}},
            },
            "400": _json_error("Verified, but the body does not decode"),
            "401": _json_error("No hook's secret verifies the request"),
            "404": _json_error("No enabled hook has this path"),
            "413": _json_error("The body is over OCTIPUS_MAX_BODY_BYTES"),
            "503": _json_error("The queue is full or the server is stopping; see Retry-After"),
        },
    }


def document_ingress(app: FastAPI) -> None:
    """Add the ingress operation to `app`'s OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"].setdefault("/api/webhooks/{path}", {})["post"] = ingress_operation()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
