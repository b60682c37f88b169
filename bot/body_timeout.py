"""Request bodies that stop arriving are cut off: a 408 after HELPDESK_BODY_TIMEOUT_SECONDS without a byte.

uvicorn (h11 and httptools alike) waits for the rest of a body for ever, and times out only idle keep-alive
connections: 3,000 connections that sent their headers and a few body bytes were all held, and one of them
kept a worker from stopping for minutes. Like nginx's `client_body_timeout`, the limit is on the pause
between two reads, not on the whole body, so a slow but steady upload of a large document still arrives.
"""

import asyncio

from fastapi import status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyStalled(HTTPException):
    def __init__(self, seconds: float):
        super().__init__(status.HTTP_408_REQUEST_TIMEOUT,
                         f"The request body stopped arriving for {seconds:g} s (HELPDESK_BODY_TIMEOUT_SECONDS); "
                         "send it again without pausing.")


class BodyTimeout:
    def __init__(self, app: ASGIApp, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done, stalled, started = False, False, False

        async def timed() -> Message:
            nonlocal body_done, stalled
            if body_done:  # after the body an app may wait for the disconnect (a streamed reply): not bounded
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                stalled = True
                # An HTTPException: FastAPI re-raises it from body parsing, and its handler answers.
                raise BodyStalled(self.seconds) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def closing(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if stalled:  # the rest of the body will not come: the connection cannot serve another request
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, timed, closing)
        except BodyStalled as error:  # from a mounted app (socket.io polling) that has no handler for it
            if started:
                raise
            response = JSONResponse({"detail": error.detail}, error.status_code, headers={"Connection": "close"})
            await response(scope, receive, send)
