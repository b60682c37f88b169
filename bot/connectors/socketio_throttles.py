"""Per-client throttles of the socket.io channel: a log line at most once a minute, an event rate."""

import logging
import time
from collections import deque

from starlette.types import Scope

log = logging.getLogger("bot.connectors.socketio")

LOG_EVERY_SECONDS = 60.0
_MAX_REMEMBERED = 10_000  # clients a throttle keeps before it forgets those it last heard of a minute ago


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


def client_address(scope: Scope, default: str = "unknown") -> str:
    client = scope.get("client")
    return str(client[0]) if client else default
