"""Request body limits, enforced before a body is read whole: declared sizes are refused at once, streamed
bodies are counted as they arrive. Every public route is bounded; admin routes take uploads.

Starlette's own limit answers a declared-too-large request in plain text whatever the app says, and a
client needs to know which limit it hit and which setting raises it, so this is a small ASGI middleware.
"""

from fastapi import status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: FastAPI re-raises it from body parsing, and its handler answers.
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as error:  # from a mounted app (socket.io polling) that has no handler for it
            if started:
                raise
            await _refuse(error, scope, receive, send)


async def _refuse(error: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    # Connection: close, so that a client still sending the body does not keep the connection busy.
    response = JSONResponse({"detail": error.detail}, error.status_code, headers={"Connection": "close"})
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
