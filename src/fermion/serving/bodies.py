"""Reading a request body under a size limit, and as a payload."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from fermion.errors import InvalidInput, PayloadTooLarge
from fermion.payloads import describe_errors

Model = TypeVar("Model", bound=BaseModel)

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


def parse_body(payload: type[Model], body: bytes) -> Model:
    """A JSON body as `payload`, or a 400 that says what is wrong with it."""
    if not body:
        raise InvalidInput(f"the request has no body: send {payload.__name__} as JSON")
    try:
        return payload.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors())) from None
