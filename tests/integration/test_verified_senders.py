"""Verified senders: a sender id alone reads back no stored personal data (issue 27, item 3), and once a sender
id has come with a token, a message without one under it is refused.

The probe sent to the REST channel as another customer's sender id and got "Your name is Ann.", their email and
their order number. Now a REST or socket.io caller without a valid token gets none of it, for any customer; a
token for that sender (a JWT, or the shared secret of a server-side caller) gets it; a wrong token is a 401 that
says why. The widget's random id keeps working. Both databases, real models.
"""

import asyncio
import re
import uuid

import jwt
import pytest
import socketio
from sqlalchemy import func, select

from bot.app import create_app
from bot.connectors.socketio import CLAIMED
from bot.services import build_services
from dialogue.records import ChannelIdentityRecord, ConversationRecord, CustomerRecord, TurnRecord
from tests.conftest import CHAT_JWT_SECRET, VERIFIED, chat
from tests.integration.test_privacy import SpyGenerator
from tests.integration.test_socketio import TIMEOUT, RasaClient
from tests.integration.test_streaming import sse_events
from tests.support.chat_tokens import bearer, customer_token
from tests.support.live_server import live_server

pytestmark = pytest.mark.integration

TOLD = ["my name is Ada Lovelace", "my email is ada.lovelace@example.org", "my phone number is +44 20 7946 0321",
        "my order number is NH-77123"]
ASKED = ["What's my name?", "What email do you have for me?", "What is my phone number?",
         "What is my order number?", "thanks, bye!", "who am i?"]
WITHHELD = "sign in"  # what every withheld profile answer asks the customer to do


def leaked(text: str) -> list[str]:
    digits = re.sub(r"\D", "", text)
    found = [value for value in ("Lovelace", "ada.lovelace@example.org", "NH-77123") if value in text]
    return found + (["phone"] if "2079460321" in digits else [])


def tell(client, sender: str, headers: dict | None) -> None:
    for text in TOLD:
        assert chat(client, sender, text, headers=headers)["custom"]["kind"] == "action"


def stored_turns(services, channel: str, sender: str) -> int:
    with services.sessions() as session:
        return session.scalar(
            select(func.count(TurnRecord.id))
            .join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == sender))


def stored_name(services, channel: str, sender: str) -> str | None:
    with services.sessions() as session:
        return session.scalar(
            select(CustomerRecord.name)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == CustomerRecord.id)
            .where(ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == sender))


# -- REST ---------------------------------------------------------------------------------------------------------


def test_a_sender_id_without_a_token_reads_back_nothing_stored(client, sender):
    tell(client, sender, headers=None)  # a customer who never signed in: their id is all anyone needs to type
    for question in ASKED:
        reply = chat(client, sender, question)  # the probe: another customer's sender id, no token
        assert leaked(reply["text"]) == [], (question, reply["text"])
        if question.startswith("What"):
            assert WITHHELD in reply["text"] and reply["custom"]["kind"] == "action"
    with_token = [chat(client, sender, question, headers=bearer(customer_token(sender)))["text"]
                  for question in ASKED[:4]]
    assert with_token == ["Your name is Ada Lovelace.", "The email I have for you is ada.lovelace@example.org.",
                          "The phone I have for you is +44 20 7946 0321.", "The order numbers you gave me: NH-77123."]


@pytest.mark.parametrize("stream", [False, True])
def test_a_signed_in_sender_id_is_refused_without_its_token(client, services, sender, stream):
    # The probe's second finding: a sender id alone still wrote into a signed-in customer's conversation.
    tell(client, sender, bearer(customer_token(sender)))
    before = stored_turns(services, "rest", sender)
    for question in ASKED:
        response = client.post("/webhooks/rest/webhook" + ("?stream=true" if stream else ""),
                               json={"sender": sender, "message": question})
        assert response.status_code == 403, response.text
        assert "signed in before" in response.json()["detail"] and leaked(response.text) == []
        assert response.headers["www-authenticate"] == "Bearer"
    assert stored_turns(services, "rest", sender) == before
    assert chat(client, sender, "What's my name?", headers=VERIFIED)["text"] == "Your name is Ada Lovelace."
    assert chat(client, sender + "-2", "hello")["custom"]["kind"]  # other ids are not affected


def test_without_a_token_the_bot_still_takes_what_the_customer_tells(client, sender):
    reply = chat(client, sender, "Hi, my name is Ann")
    assert "Ann" in reply["text"]  # its own words, acknowledged
    assert chat(client, sender, "what's my name?")["text"].count("Ann") == 0
    assert chat(client, sender, "what's my name?", headers=VERIFIED)["text"] == "Your name is Ann."


def test_the_shared_secret_verifies_any_sender_and_a_rasa_style_token_works(client, sender):
    tell(client, sender, VERIFIED)
    assert chat(client, sender, "What's my name?", headers=VERIFIED)["text"] == "Your name is Ada Lovelace."
    rasa_style = jwt.encode({"user": {"username": sender, "role": "user"}}, CHAT_JWT_SECRET, algorithm="HS256")
    assert chat(client, sender, "What's my name?", headers=bearer(rasa_style))["text"] == "Your name is Ada Lovelace."


@pytest.mark.parametrize("authorization, detail", [
    ("Bearer " + customer_token("someone", secret="another-secret-that-is-32-bytes-long!"), "signature"),
    ("Bearer " + customer_token("someone", lifetime=-3600), "expired at"),
    ("Bearer not-a-token", "not a JWT"),
    ("Basic c29tZW9uZTpwYXNz", "Authorization: Bearer"),
    ("Bearer " + jwt.encode({"sub": "someone"}, None, algorithm="none"), "HS256"),
    ("Bearer " + jwt.encode({"role": "user"}, CHAT_JWT_SECRET, algorithm="HS256"), "names no sender"),
])
def test_a_wrong_token_is_a_401_that_says_why_and_nothing_is_stored(client, services, authorization, detail):
    sender = "someone"  # what the tokens name; none of them may store anything for it
    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": "What's my name?"},
                           headers={"Authorization": authorization})
    assert response.status_code == 401
    assert detail in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"
    assert stored_turns(services, "rest", sender) == 0


def test_a_token_for_another_sender_is_a_403(client, services, sender):
    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": "What's my name?"},
                           headers=bearer(customer_token(sender + "-other")))
    assert response.status_code == 403 and "is for sender" in response.json()["detail"]
    assert stored_turns(services, "rest", sender) == 0


def test_the_openapi_description_says_how_to_send_the_token(client):
    webhook = client.get("/openapi.json").json()["paths"]["/webhooks/rest/webhook"]["post"]
    assert {"401", "403"} <= webhook["responses"].keys()
    header = next(parameter for parameter in webhook["parameters"] if parameter["name"] == "authorization")
    assert "HELPDESK_CHAT_JWT_SECRET" in header["description"]


# -- what the LM is given --------------------------------------------------------------------------------------


@pytest.fixture()
def spied(services):
    spy = SpyGenerator(services.generator)
    spying = build_services(services.settings, embedder=services.embedder, generator=spy)
    spying.start()
    yield spying, spy
    spying.engine.dispose()


def test_an_unverified_sender_s_prompt_has_no_profile_facts(spied, sender):
    from fastapi.testclient import TestClient

    services, spy = spied
    question = "Does Nimbus Plus extend the warranty on a thermostat I bought last year?"  # answered by the LM
    with TestClient(create_app(services.settings, services)) as client:
        tell(client, sender, headers=None)
        chat(client, sender, question)
        unverified = list(spy.prompts)
        chat(client, sender, question, headers=VERIFIED)
        verified = spy.prompts[len(unverified):]
    assert unverified and verified, "the question did not reach the LM: the prompt check checked nothing"
    assert all(leaked(prompt) == [] for prompt in unverified)
    assert any("Lovelace" in prompt for prompt in verified)


# -- socket.io -------------------------------------------------------------------------------------------------


@pytest.fixture()
def server_url(services):
    with live_server(create_app(services.settings, services)) as url:
        yield url


async def test_socketio_without_a_token_reads_back_nothing_with_one_it_does(server_url, services):
    victim = uuid.uuid4().hex
    async with RasaClient(server_url, auth={"token": customer_token(victim)}) as client:
        assert await client.session("someone-else") == victim  # the token names the session
        for text in TOLD:
            await client.say({"message": text, "session_id": "ignored: the token decides"})
        assert (await client.say({"message": "what's my name?"}))["text"] == "Your name is Ada Lovelace."
    turns = stored_turns(services, "socketio", victim)
    async with RasaClient(server_url) as stranger:  # the probe: the victim's session id, no token
        for question in ASKED:
            reply = await stranger.say({"message": question, "session_id": victim})
            assert reply == {"text": CLAIMED}, question
    assert stored_turns(services, "socketio", victim) == turns  # nothing written into the victim's conversation
    assert stored_name(services, "socketio", victim) == "Ada Lovelace"
    async with RasaClient(server_url, auth={"token": "Bearer " + customer_token(victim)}) as client:
        assert (await client.say({"message": "What is my order number?"}))["text"].endswith("NH-77123.")


async def test_socketio_refuses_a_wrong_token_when_connecting_and_says_why(server_url):
    refused: asyncio.Queue = asyncio.Queue()
    client = socketio.AsyncClient(reconnection=False)
    client.on("connect_error", refused.put_nowait)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server_url, socketio_path="/socket.io", transports=["websocket"],
                             auth={"token": customer_token("ada", lifetime=-3600)})
    assert "expired at" in (await asyncio.wait_for(refused.get(), TIMEOUT))["message"]


# -- the widget ----------------------------------------------------------------------------------------------------


def test_the_widget_id_still_reads_back_its_own_profile(client):
    sender = uuid.uuid4().hex  # what the widget makes: 128 random bits

    def say(text: str) -> str:
        response = client.post("/widget/messages", json={"sender": sender, "message": text})
        return next(data["text"] for name, data in sse_events(response.text) if name == "reply")

    say("my name is Ada Lovelace")
    assert say("what's my name?") == "Your name is Ada Lovelace."
