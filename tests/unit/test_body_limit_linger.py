"""bot/limits.py's lingering on a refused body: it drains, within its bounds, and never waits for a body that
will not come."""

import asyncio
import time

import pytest

from bot.limits import BodyLimit, linger

pytestmark = pytest.mark.unit

CHUNK = b"x" * 65_536


class Client:
    """An ASGI receive that hands out `chunks` body messages (endless when None) and records what it did."""

    def __init__(self, chunks: int | None, stall: bool = False):
        self.chunks, self.stall, self.reads = chunks, stall, 0

    async def receive(self) -> dict:
        self.reads += 1
        if self.stall:
            await asyncio.sleep(3600)
        more = self.chunks is None or self.reads < self.chunks
        return {"type": "http.request", "body": CHUNK, "more_body": more}


def scope(length: int, *extra: tuple[bytes, bytes]) -> dict:
    return {"type": "http", "path": "/webhooks/rest/webhook", "method": "POST",
            "headers": [(b"content-length", str(length).encode()), *extra]}


async def refuse(client: Client, request_scope: dict) -> list[dict]:
    sent = []

    async def never_called(*_):
        raise AssertionError("a declared-too-large body must not reach the app")

    async def send(message):
        sent.append(message)

    await BodyLimit(never_called, (1024, "HELPDESK_MAX_BODY_BYTES"), {})(request_scope, client.receive, send)
    return sent


async def test_a_declared_too_large_body_is_answered_first_then_drained():
    client = Client(chunks=100)
    sent = await refuse(client, scope(100 * len(CHUNK)))
    start, first, last = sent
    assert start["status"] == 413 and (b"connection", b"close") in start["headers"]
    assert b"HELPDESK_MAX_BODY_BYTES" in first["body"] and first["more_body"] is True
    assert last == {"type": "http.response.body", "body": b"", "more_body": False}
    assert client.reads == 100  # all of it, so closing leaves nothing unread to reset the connection with


async def test_a_client_waiting_for_100_continue_is_not_waited_for():
    client = Client(chunks=100)
    sent = await refuse(client, scope(100 * len(CHUNK), (b"expect", b"100-continue")))
    assert client.reads == 0
    assert [message.get("more_body", False) for message in sent] == [False, False]


async def test_draining_stops_at_the_byte_bound():
    client = Client(chunks=None)
    await linger(client.receive, max_bytes=10 * len(CHUNK))
    assert client.reads == 11


async def test_draining_stops_at_the_time_bound():
    client = Client(chunks=None, stall=True)
    started = time.monotonic()
    await linger(client.receive, seconds=0.2)
    assert time.monotonic() - started < 1


async def test_a_gone_client_ends_the_draining():
    async def gone() -> dict:
        return {"type": "http.disconnect"}

    await asyncio.wait_for(linger(gone), timeout=1)
