"""Reading a platform's webhook body safely: bounded size, UTF-8, a JSON object, or a clear 4xx."""

import json
from typing import Any

from fastapi import HTTPException, Request, status

from bot.input_checks import checked, loads

MAX_BODY_BYTES = 1_000_000  # platform events are a few kB; anything near this is not one


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"The request body is larger than {limit} bytes; platform events are far smaller.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"The request body is not valid UTF-8 (byte {error.start}); send UTF-8 JSON.") from None


def parse_json_object(text: str) -> dict[str, Any]:
    try:
        value = loads(text)  # too deep, NaN or Infinity: InputRefused, a 422
    except json.JSONDecodeError as error:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"The request body is not valid JSON: {error.msg} at character {error.pos}.") from None
    if not isinstance(value, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "The request body must be a JSON object.")
    return checked(value)
