"""Every error body is `{"error": "<what was wrong and how to fix it>"}` (plus details for 422)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from octipus.api.responses import StoredJSONResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with a status code and a message meant for the API caller."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


def error_response(status_code: int, message: str, **extra: Any) -> StoredJSONResponse:
    headers = extra.pop("headers", None)
    return StoredJSONResponse({"error": message, **extra}, status_code=status_code, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> StoredJSONResponse:
        return error_response(exc.status_code, exc.message, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> StoredJSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "Not found: check the URL (the API lives under /api/)"
        if exc.status_code == 405:
            message = "Method not allowed for this URL"
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = (
                "The request body could not be parsed as JSON (malformed, or nested too deeply);"
                " send a JSON object"
            )
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> StoredJSONResponse:
        details = [
            {"field": _location(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return error_response(422, f"Invalid request: {summary}", details=details)
