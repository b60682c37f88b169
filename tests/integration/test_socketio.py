"""Rasa's socket.io protocol at /socket.io, spoken by a real python-socketio client over a real server."""

import asyncio
import uuid

import pytest
import socketio
from sqlalchemy import select

from bot.app import create_app
from dialogue.records import ChannelIdentityRecord, ConversationRecord, TurnRecord
from tests.support.chat_tokens import customer_token
from tests.support.live_server import live_server

pytestmark = pytest.mark.integration

FAQ_QUESTION = "What is the return policy for devices?"
TIMEOUT = 60  # a generated answer on a busy 2-core machine


@pytest.fixture(scope="module")
def server_url(services):
    with live_server(create_app(services.settings, services)) as url:
        yield url


class RasaClient:
    """What a Rasa socket.io front end does: request a session, utter, collect `bot_uttered`."""

    def __init__(self, url: str, auth: dict | None = None):
        self.url = url
        self.auth = auth  # {"token": ...}: a verified customer (docs/channels.md)
        self.sio = socketio.AsyncClient(reconnection=False)
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.uttered: asyncio.Queue = asyncio.Queue()
        self.sio.on("session_confirm", self.confirmed.put_nowait)
        self.sio.on("bot_uttered", self.uttered.put_nowait)

    async def __aenter__(self) -> "RasaClient":
        await self.sio.connect(self.url, socketio_path="/socket.io", transports=["websocket"], auth=self.auth)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.sio.disconnect()

    async def session(self, session_id: str | None = None):
        await self.sio.emit("session_request", {"session_id": session_id} if session_id else None)
        return await asyncio.wait_for(self.confirmed.get(), TIMEOUT)

    async def say(self, data) -> dict:
        await self.sio.emit("user_uttered", data)
        return await asyncio.wait_for(self.uttered.get(), TIMEOUT)


def user_turns_of(services, session_id: str) -> list[TurnRecord]:
    with services.sessions() as session:
        return list(session.scalars(
            select(TurnRecord)
            .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == "socketio",
                   ChannelIdentityRecord.external_id == session_id, TurnRecord.role == "user")
            .order_by(TurnRecord.id)))


async def test_session_request_is_confirmed_with_a_bare_session_id(server_url):
    async with RasaClient(server_url) as client:
        fresh = await client.session()
        assert isinstance(fresh, str) and len(fresh) == 32
        assert await client.session("my-session-1") == "my-session-1"


async def test_user_uttered_gets_bot_uttered_with_text_only(server_url, services):
    faq = next(f for f in services.knowledge.page(0, 100)[0] if f.question == "How do I return a device?")
    session_id = uuid.uuid4().hex
    async with RasaClient(server_url) as client:
        await client.session(session_id)
        reply = await client.say({"message": FAQ_QUESTION, "session_id": session_id,
                                  "customData": {"language": "en", "page": "/returns"}})
    assert reply == {"text": faq.answer}  # rasa-webchat shows a message as text only if `text` is its one key
    [turn] = user_turns_of(services, session_id)
    assert turn.text == FAQ_QUESTION
    assert turn.metadata_ == {"language": "en", "page": "/returns"}


async def test_the_session_id_keeps_the_conversation_across_connections(server_url):
    session_id = uuid.uuid4().hex
    async with RasaClient(server_url) as client:
        await client.session(session_id)
        await client.say({"message": "my name is Zoe", "session_id": session_id})
    # A page reload: new socket, same stored session id. The profile is read back to a verified customer only.
    async with RasaClient(server_url, auth={"token": customer_token(session_id)}) as client:
        await client.session(session_id)
        reply = await client.say({"message": "what's my name?", "session_id": session_id})
    assert reply == {"text": "Your name is Zoe."}


async def test_metadata_as_a_json_string_is_accepted_like_rasa_does(server_url, services):
    session_id = uuid.uuid4().hex
    async with RasaClient(server_url) as client:
        await client.say({"message": "hello", "session_id": session_id, "customData": '{"plan": "pro"}'})
    assert user_turns_of(services, session_id)[0].metadata_ == {"plan": "pro"}


async def test_malformed_events_are_ignored_and_the_socket_keeps_working(server_url, services):
    session_id = uuid.uuid4().hex
    async with RasaClient(server_url) as client:
        malformed = ("a string", {"session_id": session_id}, {"message": 42, "session_id": session_id}, None)
        for bad in malformed:
            await client.sio.emit("user_uttered", bad)
        await client.sio.emit("session_request", "not an object")
        assert isinstance(await asyncio.wait_for(client.confirmed.get(), TIMEOUT), str)
        reply = await client.say({"message": "hello", "session_id": session_id})
        assert reply["text"].startswith("Hello")
        assert client.uttered.empty()  # nothing was answered for the malformed events
    assert [turn.text for turn in user_turns_of(services, session_id)] == ["hello"]


async def test_a_too_long_message_is_answered_with_what_to_do(server_url, services):
    session_id = uuid.uuid4().hex
    async with RasaClient(server_url) as client:
        reply = await client.say({"message": "x" * 5000, "session_id": session_id})
    assert "limit is 4000" in reply["text"]
    assert user_turns_of(services, session_id) == []


async def test_without_a_session_id_the_socket_is_the_customer(server_url, services):
    async with RasaClient(server_url) as client:
        reply = await client.say({"message": "hello"})
        sid = client.sio.get_sid()
    assert reply["text"].startswith("Hello")
    assert [turn.text for turn in user_turns_of(services, sid)] == ["hello"]
