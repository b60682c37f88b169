"""What keeps one socket.io client from costing the server much: bounded packets, a message rate, quiet logs.

python-socketio parses every packet with `json.loads` and logs a traceback for each one that fails: a
10,000-deep packet raised a RecursionError per packet, so one client could flood the log. Here packets are
measured before they are parsed (size, then nesting depth, in linear time), a malformed or refused packet is
dropped with at most one log line per client per minute, and a client sending more events than the limit
per minute has the rest dropped before any work is started for them.
"""

import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import socketio
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("bot.connectors.socketio")

LOG_EVERY_SECONDS = 60.0
_MAX_REMEMBERED = 10_000  # clients a throttle keeps before it forgets those it last heard of a minute ago
_ENGINE_TYPES = frozenset("0123456b")  # engine.io packet types: open ... noop, and base64 binary
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')  # linear: escapes are gone, so a string ends at the next quote
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEPS = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})  # +1 / -1 as int8
_BINARY = ("5", "6")  # socket.io's binary event and ack: not part of Rasa's protocol


class PacketRefused(ValueError):
    """A packet this server does not parse or take; the message says why."""


def nesting_depth(text: str) -> int:
    """How deep the JSON in `text` nests arrays and objects, counted without parsing it: linear time (~5 ms
    for 64 KB of brackets)."""
    outside_strings = _STRING.sub("", _ESCAPE.sub("", text))
    steps = _NOT_BRACKET.sub("", outside_strings).translate(_STEPS).encode("latin-1")
    return max(0, int(np.frombuffer(steps, np.int8).cumsum().max())) if steps else 0


class BoundedJson:
    """The `json` python-socketio and python-engineio parse packets with, refusing what is too big or too deep
    before parsing it."""

    def __init__(self, max_bytes: int, max_depth: int):
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    def loads(self, text: str | bytes, **options: Any) -> Any:
        if len(text) > self.max_bytes:
            raise PacketRefused(f"the packet has {len(text)} bytes; at most {self.max_bytes} are taken")
        if isinstance(text, bytes):
            text = text.decode()
        if text.count("[") + text.count("{") > self.max_depth and nesting_depth(text) > self.max_depth:
            raise PacketRefused(f"the packet nests more than {self.max_depth} levels deep")
        return json.loads(text, **options)

    @staticmethod
    def dumps(value: Any, **options: Any) -> str:
        return json.dumps(value, **options)


class Throttle:
    """Says yes to a client at most once per `every` seconds, and how many times it said no in between."""

    def __init__(self, every: float = LOG_EVERY_SECONDS):
        self.every = every
        self._clients: dict[str, tuple[float, int]] = {}  # client -> (when it last said yes, noes since)

    def due(self, client: str) -> tuple[bool, int]:
        now = time.monotonic()
        if len(self._clients) > _MAX_REMEMBERED:
            self._clients = {key: seen for key, seen in self._clients.items() if now - seen[0] < self.every}
        last, skipped = self._clients.get(client, (None, 0))
        if last is not None and now - last < self.every:
            self._clients[client] = (last, skipped + 1)
            return False, skipped + 1
        self._clients[client] = (now, 0)
        return True, skipped

    def forget(self, client: str) -> None:
        self._clients.pop(client, None)


class OncePerMinute(Throttle):
    """Log at most one line per client per minute; the next line says how many were left out. A client is its
    network address (uvicorn's `--proxy-headers` makes that the customer's behind a proxy), so reconnecting
    does not buy a new line."""

    def warn(self, client: str, what: str) -> None:
        due, left_out = self.due(client)
        if due:
            more = f" ({left_out} more from this client left out of the log)" if left_out else ""
            log.warning("socket.io client %s: %s%s", client, what, more)


class RateLimit:
    """At most `per_minute` events per client in any 60 seconds (a sliding window); 0 means no limit."""

    def __init__(self, per_minute: int, window: float = 60.0):
        self.per_minute = per_minute
        self.window = window
        self._times: dict[str, deque[float]] = {}

    def allow(self, client: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic()
        times = self._times.setdefault(client, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        return True

    def forget(self, client: str) -> None:
        self._times.pop(client, None)


class GuardedServer(socketio.AsyncServer):
    """python-socketio's server with the packet checks, the rate limit and the quiet log of this module.

    It hooks the two steps where a client's packet is decoded and dispatched (`_handle_eio_message`,
    `_handle_event`): python-socketio offers no public hook there. tests/integration/test_socketio_limits.py
    fails if a new python-socketio changes them.
    """

    def __init__(self, *, max_packet_bytes: int, max_depth: int, events_per_minute: int,
                 on_limited: Callable[[str], Awaitable[None]], notes: OncePerMinute, **options: Any):
        # python-socketio hands `json` on to python-engineio; both set it on their packet classes, so it is
        # the parser of every socket.io server and client in this process.
        super().__init__(json=BoundedJson(max_packet_bytes, max_depth), max_http_buffer_size=max_packet_bytes,
                         **options)
        self.notes = notes
        self.rate = RateLimit(events_per_minute)
        self.on_limited = on_limited  # called with the client's sid, at most once a minute, when events are dropped
        self._told = Throttle()

    def warn(self, sid: str, what: str) -> None:
        """Log `what` about the client of socket `sid`, unless a line about it was logged in the last minute."""
        self.notes.warn(self._client(self.manager.eio_sid_from_sid(sid, "/") or sid), what)

    def _client(self, eio_sid: str) -> str:
        return client_address(self.environ.get(eio_sid, {}).get("asgi.scope", {}), eio_sid)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            if isinstance(data, bytes) or data[:1] in _BINARY:
                raise PacketRefused("binary packets are not part of this channel's protocol")
            await super()._handle_eio_message(eio_sid, data)
        except (ValueError, TypeError, LookupError, RecursionError) as error:
            if eio_sid not in self.environ:
                return  # a packet that arrived before its session was closed, below: nothing more to say
            client, what = self._client(eio_sid), f"dropped a malformed packet: {error or type(error).__name__}"
            if not self.rate.allow(eio_sid):  # measuring bad packets costs too: a client that keeps sending them goes
                what += "; closed its session, it keeps sending them"
                await self.eio.disconnect(eio_sid)
            self.notes.warn(client, what)

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            raise PacketRefused("an event is a list that starts with the event's name")
        if not self.rate.allow(eio_sid):
            self.notes.warn(self._client(eio_sid), f"dropped events over its limit of {self.rate.per_minute} a minute")
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
            if sid is not None and self._told.due(eio_sid)[0]:
                await self.on_limited(sid)
            return
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self.rate.forget(eio_sid)
        self._told.forget(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)


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


def client_address(scope: Scope, default: str = "unknown") -> str:
    client = scope.get("client")
    return str(client[0]) if client else default


def _is_packet(text: str) -> bool:
    return text[:1] in _ENGINE_TYPES
