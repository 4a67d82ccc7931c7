"""Reading a request body under a size limit."""

from __future__ import annotations

from fastapi import Request

from fermion.errors import PayloadTooLarge

MAX_REQUEST_MB = 10.0  # an inference request's limit, at the gateway and at each replica

# An oversized body is still read (and dropped) up to this much, so that the client
# gets its 413 instead of a connection reset while it is still sending.
DRAIN_LIMIT = 256 * 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    too_large = PayloadTooLarge(
        f"the request is over this endpoint's limit of {limit / 2**20:g} MB; send fewer or"
        " smaller inputs per request"
    )
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
    if size > limit:
        raise too_large
    return b"".join(chunks)
