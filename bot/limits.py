"""Request body limits, enforced before a body is read whole: declared sizes are refused at once, streamed
bodies are counted as they arrive. Every public route is bounded; admin routes take uploads.

Starlette's own limit answers a declared-too-large request in plain text whatever the app says, and a
client needs to know which limit it hit and which setting raises it, so this is a small ASGI middleware.

A refused body is still read, and dropped, up to a bound (nginx's "lingering close"): many clients (Python's
urllib, most SDKs) send the whole body before they read the answer, and a server that closes with unread
data makes the kernel reset the connection, so they would see "connection reset by peer" instead of the 413.
"""

import asyncio

from fastapi import status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# How much of a refused body is read before the connection closes anyway; a client past either bound may
# see a reset. 64 MiB on loopback is read in well under a second; a stalled sender costs 10 s of waiting.
LINGER_BYTES = 64 * 1024 * 1024
LINGER_SECONDS = 10.0


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, setting: str):
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"The request body is larger than {limit} bytes, the limit of this route ({setting}). "
                         "Send less: shorter metadata, or a smaller file.")


class BodyLimit:
    """`limits` maps path prefixes to (bytes, setting name); the longest matching prefix wins."""

    def __init__(self, app: ASGIApp, default: tuple[int, str], limits: dict[str, tuple[int, str]]):
        self.app = app
        self.default = default
        self.limits = sorted(limits.items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> tuple[int, str]:
        return next((limit for prefix, limit in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(BodyTooLarge(limit, setting), scope, receive, send)
            return
        received, started, over, body_done = 0, False, False, False

        async def counted() -> Message:
            nonlocal received, over, body_done
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit:
                    over = True
                    # An HTTPException: FastAPI re-raises it from body parsing, and its handler answers.
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if over and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            if over and message["type"] == "http.response.body" and not message.get("more_body", False):
                await send({**message, "more_body": True})  # the answer first: clients that read early see it
                if not body_done:
                    await linger(receive)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as error:  # from a mounted app (socket.io polling) that has no handler for it
            if started:
                raise
            await _refuse(error, scope, receive, send, body_pending=not body_done)


async def _refuse(error: BodyTooLarge, scope: Scope, receive: Receive, send: Send, body_pending: bool = True) -> None:
    # Connection: close, so that a client still sending the body does not keep the connection busy.
    response = JSONResponse({"detail": error.detail}, error.status_code, headers={"Connection": "close"})
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    # A client that sent `Expect: 100-continue` waits for a go-ahead that never comes: it sends no body.
    if body_pending and not _expects_continue(scope):
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
        await linger(receive)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    else:
        await send({"type": "http.response.body", "body": response.body, "more_body": False})


async def linger(receive: Receive, max_bytes: int = LINGER_BYTES, seconds: float = LINGER_SECONDS) -> None:
    """Read and drop the rest of a refused body, at most `max_bytes` for at most `seconds`."""
    drained = 0
    try:
        async with asyncio.timeout(seconds):
            while drained <= max_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return


def _expects_continue(scope: Scope) -> bool:
    return any(name == b"expect" and value.lower() == b"100-continue" for name, value in scope.get("headers", []))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
