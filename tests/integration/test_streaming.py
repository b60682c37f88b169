"""Token streaming through the dialogue manager, the widget's SSE endpoint and REST `?stream=true`."""

import json
import re
import uuid

import pytest
from sqlalchemy import select

from dialogue.errors import EmptyMessage
from dialogue.lm.generator import Generation
from dialogue.manager import ReplyFailed, TextDelta
from dialogue.messages import InboundMessage, Reply, ReplyKind
from dialogue.records import TurnRecord

pytestmark = pytest.mark.integration

GENERATED_QUESTION = "Does Nimbus Plus extend the warranty on a thermostat I bought last year?"
FAQ_QUESTION = "What is the return policy for devices?"


@pytest.fixture()
def widget_sender() -> str:
    return uuid.uuid4().hex


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for frame in body.strip().split("\n\n"):
        lines = frame.splitlines()
        name = next(line[len("event: "):] for line in lines if line.startswith("event: "))
        data = "\n".join(line[len("data: "):] for line in lines if line.startswith("data: "))
        events.append((name, json.loads(data)))
    return events


def bot_turns(services, conversation_id: int) -> list[TurnRecord]:
    with services.sessions() as session:
        return list(session.scalars(select(TurnRecord).where(
            TurnRecord.conversation_id == conversation_id, TurnRecord.role == "bot").order_by(TurnRecord.id)))


async def collect(manager, message: InboundMessage) -> list:
    return [event async for event in await manager.respond_stream(message)]


# A reply the snippets support, word by word: streaming is tested apart from what the 135M LM happens to
# write (the reply check may stop that; tests/integration/test_answer_quality.py covers the check on the real LM).
SUPPORTED = ("Every Nimbus device has a 2-year limited warranty from the delivery date. "
             "Accessories are covered for 1 year. ")


@pytest.fixture()
def scripted_lm(services, monkeypatch):
    generator = services.manager.generator

    def generate(messages, *, max_new_tokens, temperature, on_text=None):
        generator.calls += 1
        for word in SUPPORTED.split(" "):
            if on_text:
                on_text(word + " ")
        return Generation(SUPPORTED.strip(), generator.model_id, 100, 30, 0.1)

    monkeypatch.setattr(generator, "generate", generate)
    return generator


async def test_generated_answer_streams_deltas_then_the_recorded_reply(services, sender, scripted_lm):
    calls_before = services.generator.calls
    events = await collect(services.manager, InboundMessage("test", sender, GENERATED_QUESTION))
    deltas, final = events[:-1], events[-1]
    # Sentence by sentence, each shown once the reply check passed it (the last one comes with the reply).
    assert len(deltas) >= 1 and all(isinstance(event, TextDelta) for event in deltas)
    assert isinstance(final, Reply) and final.kind is ReplyKind.GENERATED
    assert services.generator.calls == calls_before + 1
    streamed = "".join(delta.text for delta in deltas)
    # The final text is the streamed text, tidied (an unfinished last sentence may be cut).
    final_text = re.sub(r" \[\d+\]", "", final.text)  # citation marks are added after generation
    assert streamed.startswith(final_text) or final_text.startswith(streamed.strip())
    [turn] = bot_turns(services, final.conversation_id)
    assert (turn.id, turn.text, turn.kind, turn.model_id) == (final.turn_id, final.text, "generated",
                                                            services.generator.model_id)
    assert turn.latency_ms > 0 and [(s["id"], s["title"]) for s in turn.sources] == [
        (s.id, s.title) for s in final.sources]


async def test_faq_answer_is_one_final_event_without_the_lm(services, sender):
    calls_before = services.generator.calls
    events = await collect(services.manager, InboundMessage("test", sender, FAQ_QUESTION))
    assert [type(event) for event in events] == [Reply]
    assert events[0].kind is ReplyKind.FAQ and events[0].turn_id is not None
    assert services.generator.calls == calls_before


async def test_respond_and_respond_stream_record_the_same_way(services, sender):
    [reply] = await services.manager.respond(InboundMessage("test", sender, FAQ_QUESTION))
    [streamed] = await collect(services.manager, InboundMessage("test", sender, FAQ_QUESTION))
    assert (reply.text, reply.kind, reply.sources) == (streamed.text, streamed.kind, streamed.sources)
    turns = bot_turns(services, reply.conversation_id)
    assert [turn.id for turn in turns] == [reply.turn_id, streamed.turn_id]


async def test_an_abandoned_stream_is_still_answered_and_recorded_in_order(services, sender, scripted_lm):
    manager = services.manager
    stream = await manager.respond_stream(InboundMessage("test", sender, GENERATED_QUESTION))
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()  # the browser went away mid-answer
    # The next message of the same customer waits for the abandoned answer to be recorded first.
    [later] = await manager.respond(InboundMessage("test", sender, FAQ_QUESTION))
    assert [turn.kind for turn in bot_turns(services, later.conversation_id)] == ["generated", "faq"]


async def test_a_failure_after_acceptance_reaches_the_reader(services, sender, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the LM fell over")

    monkeypatch.setattr(services.manager.generator, "generate", broken)
    with pytest.raises(ReplyFailed):
        await collect(services.manager, InboundMessage("test", sender, GENERATED_QUESTION))


async def test_bad_messages_are_refused_before_streaming(services, sender):
    with pytest.raises(EmptyMessage):
        await services.manager.respond_stream(InboundMessage("test", sender, "   "))


def test_widget_endpoint_streams_tokens_then_the_reply(client, services, widget_sender, scripted_lm):
    with client.stream("POST", "/widget/messages",
                       json={"sender": widget_sender, "message": GENERATED_QUESTION}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.read().decode())
    names = [name for name, _ in events]
    assert names[-1] == "reply" and names.count("token") >= 1 and set(names[:-1]) == {"token"}
    reply = events[-1][1]
    assert reply["recipient_id"] == widget_sender
    assert reply["custom"]["kind"] == "generated" and reply["custom"]["sources"]
    with services.sessions() as session:
        turn = session.get(TurnRecord, reply["custom"]["turn_id"])
        assert (turn.role, turn.text) == ("bot", reply["text"])


def test_widget_faq_answer_comes_as_one_reply_event(client, widget_sender):
    response = client.post("/widget/messages", json={"sender": widget_sender, "message": FAQ_QUESTION})
    [(name, reply)] = sse_events(response.text)
    assert name == "reply" and reply["custom"]["kind"] == "faq"
    assert reply["custom"]["sources"][0]["title"] == "How do I return a device?"


@pytest.mark.parametrize(("body", "status"), [
    ({"sender": "short", "message": "hello"}, 422),  # guessable ids are refused
    ({"sender": "a" * 32, "message": ""}, 422),
    ({"sender": "a" * 32, "message": "x" * 5000}, 413),
])
def test_widget_refuses_bad_messages_with_a_clear_status(client, body, status):
    response = client.post("/widget/messages", json=body)
    assert response.status_code == status
    assert response.json()["detail"]


def test_widget_stream_ends_with_an_error_event_on_failure(client, services, widget_sender, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the LM fell over")

    monkeypatch.setattr(services.manager.generator, "generate", broken)
    response = client.post("/widget/messages", json={"sender": widget_sender, "message": GENERATED_QUESTION})
    [(name, data)] = sse_events(response.text)
    assert name == "error" and "server log" in data["detail"]
    assert "fell over" not in response.text  # no internals in what the visitor sees


def test_history_shows_the_open_conversation_after_a_reload(client, widget_sender):
    assert client.get("/widget/history", params={"sender": widget_sender}).json() == {
        "conversation_id": None, "status": "none", "turns": []}
    client.post("/widget/messages", json={"sender": widget_sender, "message": FAQ_QUESTION})
    client.post("/widget/messages", json={"sender": widget_sender, "message": "I want to talk to a human"})
    history = client.get("/widget/history", params={"sender": widget_sender}).json()
    assert history["status"] == "handoff"
    assert [(turn["role"], turn["kind"]) for turn in history["turns"]] == [
        ("user", "message"), ("bot", "faq"), ("user", "message"), ("bot", "handoff")]
    assert history["turns"][1]["sources"][0]["title"] == "How do I return a device?"
    # Only the widget's own senders: the same id on another channel is another customer.
    assert client.get("/widget/history", params={"sender": "x"}).status_code == 422


def test_rest_stream_sends_rasa_style_json_lines(client, sender, scripted_lm):
    with client.stream("POST", "/webhooks/rest/webhook", params={"stream": "true"},
                       json={"sender": sender, "message": GENERATED_QUESTION}) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    [message] = lines  # whole messages only, as Rasa front ends expect
    assert message["recipient_id"] == sender
    assert message["custom"]["kind"] == "generated" and message["text"]
    assert client.post("/webhooks/rest/webhook?stream=true",
                       json={"sender": sender, "message": "x" * 5000}).status_code == 413
