"""ASGI wrapper of the socket.io app that drops websocket frames and polling bodies that are no engine.io packets."""

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.connectors.socketio_throttles import OncePerMinute, client_address

_ENGINE_TYPES = frozenset("0123456b")  # engine.io packet types: open ... noop, and base64 binary


class EnginePackets:
    """ASGI wrapper of the socket.io app that drops what python-engineio would fail on with a traceback: a
    websocket frame or polling record that is no engine.io packet (empty, unknown type, not UTF-8)."""

    def __init__(self, app: ASGIApp, notes: OncePerMinute):
        self.app = app
        self.notes = notes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._frames(scope, receive), send)
        elif scope["type"] == "http" and scope["method"] == "POST":
            await self._post(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _frames(self, scope: Scope, receive: Receive) -> Receive:
        async def checked() -> Message:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive" or message.get("bytes") is not None \
                        or _is_packet(message.get("text") or ""):
                    return message
                self.notes.warn(client_address(scope), "dropped a websocket frame that is no engine.io packet")

        return checked

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks, message = [], {"more_body": True}
        while message.get("more_body", False):
            message = await receive()  # bounded by bot/limits.py's chat body limit
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
        try:
            records = body.decode().split("\x1e")
        except UnicodeDecodeError:
            records = [""]
        if not all(map(_is_packet, records)):
            self.notes.warn(client_address(scope), "refused a polling request that holds no engine.io packets")
            await JSONResponse({"detail": "The body is not an engine.io payload: packets of the types 0-6 or b, "
                                          "separated by \\x1e."}, 400)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _is_packet(text: str) -> bool:
    return text[:1] in _ENGINE_TYPES
