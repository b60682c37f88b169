"""socket.io under hostile clients, on a real server: bounded packets, quiet logs, a per-connection rate.

The probe of 2026-12-04 sent 10,000-deep packets (a RecursionError traceback logged per packet) and 500
`user_uttered` from one client (140 s of answering, +27 MB). Raw engine.io frames come from a plain websocket
(a socket.io client cannot send malformed packets); the rest from python-socketio's client.
"""

import asyncio
import json
import logging
import uuid

import httpx
import pytest
import socketio
import websockets

from bot.app import create_app
from bot.connectors.socketio import SLOW_DOWN
from tests.integration.test_socketio import RasaClient, user_turns_of
from tests.support.live_server import live_server

pytestmark = pytest.mark.integration

DEEP = '42["user_uttered",' + "[" * 10_000 + "]" * 10_000 + "]"
MALFORMED = ["x", "", "4", "42", "42{}", "42[1]", '42"user_uttered"', '5-0["user_uttered",{"_placeholder":true}]',
             '42["user_uttered",{"message":"extra args"},1,2]', "4" + "[" * 5_000, '42["user_uttered",{"message":']


@pytest.fixture()
def server_url(services):
    # One app per test: each has its own log throttle, keyed by the client's address (127.0.0.1 for all).
    with live_server(create_app(services.settings, services)) as url:
        yield url


async def engine_socket(url: str):
    connection = await websockets.connect(url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket")
    assert (await connection.recv()).startswith("0")  # engine.io open
    await connection.send("40")  # socket.io connect
    assert (await connection.recv()).startswith("40")
    return connection


async def next_bot_message(connection) -> dict:
    while True:
        frame = await asyncio.wait_for(connection.recv(), 60)
        if isinstance(frame, str) and frame.startswith('42["bot_uttered"'):
            return json.loads(frame[2:])[1]


async def test_deep_and_malformed_packets_are_dropped_with_one_log_line_and_no_traceback(server_url, services, caplog):
    session_id = uuid.uuid4().hex
    caplog.set_level(logging.WARNING)
    connection = await engine_socket(server_url)
    try:
        for _ in range(20):
            await connection.send(DEEP)
        for frame in MALFORMED:
            await connection.send(frame)
        await connection.send(b"\x00\x01binary")
        await connection.send(json.dumps(["user_uttered", {"message": "hello", "session_id": session_id}])
                              .join(["42", ""]))
        reply = await next_bot_message(connection)  # the socket survived all of it
    finally:
        await connection.close()
    assert reply["text"].startswith("Hello")
    assert [turn.text for turn in user_turns_of(services, session_id)] == ["hello"]
    assert [record for record in caplog.records if record.exc_info] == []
    ours = [record.getMessage() for record in caplog.records if record.name == "bot.connectors.socketio"]
    assert len(ours) == 1 and ours[0].startswith("socket.io client 127.0.0.1: dropped a malformed packet")


async def test_a_malformed_polling_request_is_a_400_not_a_traceback(server_url, caplog):
    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient(base_url=server_url) as client:
        opened = await client.get("/socket.io/", params={"EIO": 4, "transport": "polling"})
        sid = json.loads(opened.text[1:])["sid"]
        polling = {"EIO": 4, "transport": "polling", "sid": sid}
        for body in (b"x", b"\xff\xfe", b"40\x1e", "42[" + "[" * 10_000):
            answer = await client.post("/socket.io/", params=polling, content=body)
            assert answer.status_code in (200, 400)
            if answer.status_code == 400:
                assert "engine.io" in answer.json()["detail"]
    assert [record for record in caplog.records if record.exc_info] == []
    assert len([record for record in caplog.records if record.name == "bot.connectors.socketio"]) == 1


async def test_a_client_over_its_rate_is_told_once_and_the_rest_is_dropped(services):
    settings = services.settings.model_copy(update={"socketio_events_per_minute": 5})
    session_id = uuid.uuid4().hex
    with live_server(create_app(settings, services)) as url:
        texts = []
        client = socketio.AsyncClient(reconnection=False)
        client.on("bot_uttered", lambda data: texts.append(data["text"]))
        await client.connect(url, socketio_path="/socket.io", transports=["websocket"])
        try:
            for number in range(12):
                await client.emit("user_uttered", {"message": f"hello number {number}", "session_id": session_id})
            for _ in range(120):  # the five answers and the notice, then nothing more
                await asyncio.sleep(0.5)
                if len(texts) >= 6:
                    break
            await asyncio.sleep(2)
        finally:
            await client.disconnect()
        assert texts.count(SLOW_DOWN) == 1
        assert len(texts) == 6
        assert len(user_turns_of(services, session_id)) == 5  # dropped messages are neither stored nor answered
        async with RasaClient(url) as other:  # the limit is per connection
            assert (await other.say({"message": "hello", "session_id": uuid.uuid4().hex}))["text"].startswith("Hello")


async def test_a_client_that_keeps_sending_malformed_packets_has_its_session_closed(services, caplog):
    caplog.set_level(logging.WARNING)
    settings = services.settings.model_copy(update={"socketio_events_per_minute": 5})
    with live_server(create_app(settings, services)) as url:
        connection = await engine_socket(url)
        try:
            for _ in range(20):
                await connection.send(DEEP)
            frames = []
            while "1" not in frames:  # engine.io's close packet: the server ended the session
                frames.append(await asyncio.wait_for(connection.recv(), 30))
        finally:
            await connection.close()
    assert [record for record in caplog.records if record.exc_info] == []
    assert len([record for record in caplog.records if record.name == "bot.connectors.socketio"]) == 1
