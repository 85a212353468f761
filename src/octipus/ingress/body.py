"""Read a request body up to a limit, never buffering past it."""

from __future__ import annotations

from fastapi import Request


class BodyTooLarge(Exception):
    """The body is larger than OCTIPUS_MAX_BODY_BYTES."""


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"Payload too large: the limit is {limit} bytes (OCTIPUS_MAX_BODY_BYTES)")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; BodyTooLarge as soon as Content-Length or the bytes read pass `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
