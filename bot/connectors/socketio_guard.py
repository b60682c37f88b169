"""What keeps one socket.io client from costing the server much: bounded packets, a message rate, quiet logs.

python-socketio parses every packet with `json.loads` and logs a traceback for each one that fails: a
10,000-deep packet raised a RecursionError per packet, so one client could flood the log. Here packets are
measured before they are parsed (size, then nesting depth, in linear time), a malformed or refused packet is
dropped with at most one log line per client per minute, and a client sending more events than the limit
per minute has the rest dropped before any work is started for them.

The parser is in socketio_json.py, the throttles in socketio_throttles.py, the filter of frames that are no
engine.io packets in engineio_packets.py; `GuardedServer` here hooks them into python-socketio.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from bot.connectors.socketio_json import BoundedJson, PacketRefused
from bot.connectors.socketio_throttles import OncePerMinute, RateLimit, Throttle, client_address

_BINARY = ("5", "6")  # socket.io's binary event and ack: not part of Rasa's protocol


class GuardedServer(socketio.AsyncServer):
    """python-socketio's server with the packet checks, the rate limit and the quiet log above.

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
