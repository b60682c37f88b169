"""Hostile and unlucky input, on SQLite and PostgreSQL: bounded bodies, values no database stores alike
refused with one 422 shape before any write, safe resends, and profile facts that are the customer's own."""

import json
import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import create_app
from bot.services import build_services
from dialogue.records import ChannelIdentityRecord, ConversationRecord, CustomerRecord, TurnRecord
from retrieval.faqs import FaqRecord
from tests.conftest import VERIFIED, chat

pytestmark = pytest.mark.integration

WEBHOOK = "/webhooks/rest/webhook"
BIG = 2**63
JUST_OVER_INT32 = 2**31


def count(services, model) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def turns_of(services, channel: str, sender: str) -> list[tuple[str, str]]:
    with services.sessions() as session:
        return [(turn.role, turn.text) for turn in session.scalars(
            select(TurnRecord).join(ConversationRecord, ConversationRecord.id == TurnRecord.conversation_id)
            .join(ChannelIdentityRecord, ChannelIdentityRecord.customer_id == ConversationRecord.customer_id)
            .where(ChannelIdentityRecord.channel == channel, ChannelIdentityRecord.external_id == sender)
            .order_by(TurnRecord.id))]


def raw_json(client: TestClient, path: str, text: str, **kwargs):
    """Post JSON text as written (json= would refuse lone surrogates and NaN before sending)."""
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return client.post(path, content=text.encode("utf-8", "surrogatepass"), headers=headers, **kwargs)


def assert_one_422_shape(response) -> list[dict]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for error in detail:
        assert isinstance(error["msg"], str) and isinstance(error["type"], str) and isinstance(error["loc"], list)
    return detail


# -- body limits -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [WEBHOOK, "/widget/messages", "/feedback"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_a_413_before_it_is_read_whole(client, services, path, declared):
    before = count(services, TurnRecord)
    body = json.dumps({"sender": "a" * 20, "message": "hi", "metadata": {"blob": "x" * 300_000}}).encode()

    def chunks():  # no Content-Length: the server has to count
        for start in range(0, len(body), 16_384):
            yield body[start:start + 16_384]

    response = client.post(path, content=body if declared else chunks(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert "65536 bytes" in response.json()["detail"] and "HELPDESK_MAX_BODY_BYTES" in response.json()["detail"]
    assert count(services, TurnRecord) == before


def test_a_body_just_under_the_limit_is_read(client, sender):
    padding = "x" * 6000  # metadata itself is bounded lower (HELPDESK_MAX_METADATA_BYTES)
    assert chat(client, sender, "Hello", metadata={"note": padding})["custom"]["kind"] == "action"


@pytest.mark.parametrize(
    ("metadata", "needle"),
    [
        ({"blob": "x" * 9000}, "HELPDESK_MAX_METADATA_BYTES"),
        ({f"k{number}": number for number in range(101)}, "keys"),
        ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "nested"),
    ],
    ids=["size", "keys", "depth"],
)
def test_metadata_is_bounded_in_size_keys_and_depth(client, services, sender, metadata, needle):
    before = count(services, TurnRecord)
    response = client.post(WEBHOOK, json={"sender": sender, "message": "hi", "metadata": metadata})
    detail = assert_one_422_shape(response)
    assert needle in detail[0]["msg"] and detail[0]["loc"][:2] == ["body", "metadata"]
    assert count(services, TurnRecord) == before


# -- what no database stores alike ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text", "loc"),
    [
        (WEBHOOK, '{"sender": "s1", "message": "hi\\u0000there"}', ["body", "message"]),
        (WEBHOOK, '{"sender": "s1", "message": "\\ud800"}', ["body", "message"]),
        (WEBHOOK, '{"sender": "\\udfff", "message": "hello"}', ["body", "sender"]),
        (WEBHOOK, '{"sender": "s1", "message": "hi", "metadata": {"x": NaN}}', ["body"]),
        (WEBHOOK, '{"sender": "s1", "message": "hi", "metadata": {"x": Infinity}}', ["body"]),
        (WEBHOOK, '{"sender": "s1", "message": "hi", "metadata": {"x": 1e400}}', ["body", "metadata", "x"]),
        (WEBHOOK, '{"sender": "s1", "message": "hi", "metadata": {"x": 9223372036854775808}}',
         ["body", "metadata", "x"]),
        (WEBHOOK, '{"sender": "s1", "message": "hi", "metadata": {"\\u0000": 1}}', ["body", "metadata", "\x00"]),
        (WEBHOOK, '{"sender": "s1", "message": "hi", "metadata": ' + "[" * 40 + "]" * 40 + "}", ["body"]),
        (WEBHOOK, '{"sender": "s1", "message": "hi", "metadata": ' + "[" * 5000 + "]" * 5000 + "}", ["body"]),
        ("/widget/messages", '{"sender": "abcdefghijklmnop", "message": "\\ud83d"}', ["body", "message"]),
        ("/feedback", '{"sender": "s1", "turn_id": 9223372036854775808, "rating": "up"}', ["body", "turn_id"]),
        ("/feedback", '{"sender": "s1", "turn_id": 2147483648, "rating": "up"}', ["body", "turn_id"]),
        ("/feedback", '{"sender": "s1\\u0000", "turn_id": 1, "rating": "up"}', ["body", "sender"]),
    ],
    ids=["nul", "lone-surrogate", "surrogate-sender", "nan", "infinity", "1e400", "int-2^63", "nul-key",
         "depth-40", "depth-5000", "widget-surrogate", "feedback-2^63", "feedback-2^31", "feedback-nul"],
)
def test_values_no_database_stores_alike_are_a_422_before_any_write(client, services, path, text, loc):
    before = count(services, TurnRecord), count(services, CustomerRecord)
    detail = assert_one_422_shape(raw_json(client, path, text))
    assert detail[0]["loc"][:len(loc)] == loc
    assert (count(services, TurnRecord), count(services, CustomerRecord)) == before


@pytest.mark.parametrize(
    "path",
    [f"/admin/faqs/{BIG}", f"/admin/faqs/{JUST_OVER_INT32}", f"/admin/conversations/{BIG}",
     f"/admin/documents/{JUST_OVER_INT32}", f"/admin/jobs/{BIG}", f"/admin/faqs?offset={BIG}",
     f"/admin/conversations?offset={JUST_OVER_INT32}", "/admin/audit?actor=a%00b", f"/admin/faqs/-{BIG}"],
)
def test_ids_and_offsets_out_of_range_are_a_422(client, admin_headers, path):
    detail = assert_one_422_shape(client.get(path, headers=admin_headers))
    assert detail[0]["loc"][0] in ("path", "query")


def test_the_largest_id_is_a_plain_404(client, admin_headers):
    assert client.get(f"/admin/faqs/{JUST_OVER_INT32 - 1}", headers=admin_headers).status_code == 404


def test_an_faq_with_a_nul_is_refused_and_not_stored(client, services, admin_headers):
    before = count(services, FaqRecord)
    response = raw_json(client, "/admin/faqs", '{"question": "Why\\u0000?", "answer": "Because."}',
                        headers=admin_headers)
    assert_one_422_shape(response)
    assert count(services, FaqRecord) == before


def test_every_422_has_the_same_shape(client, admin_headers):
    # FastAPI's own validation, our domain errors (empty message) and an HTTPException with a text detail.
    for response in (client.post(WEBHOOK, json={"sender": "s1"}), client.post(WEBHOOK, json={"sender": "s1",
                     "message": " "}), client.post("/admin/documents/fetch", json={}, headers=admin_headers)):
        assert_one_422_shape(response)


def test_a_deeply_nested_telegram_update_is_a_422_not_a_crash(services):
    settings = services.settings.model_copy(update=dict(
        telegram_bot_token=SecretStr("1:T"), telegram_secret_token=SecretStr("s"),
        telegram_api_url="http://127.0.0.1:9"))
    body = '{"update_id": 1, "message": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with TestClient(create_app(settings, services)) as client:
        response = raw_json(client, "/webhooks/telegram/webhook", body,
                            headers={"X-Telegram-Bot-Api-Secret-Token": "s"})
        assert_one_422_shape(response)
        unsigned = raw_json(client, "/webhooks/telegram/webhook", body)
        assert unsigned.status_code == 401  # the secret is checked before the body is read


# -- resends ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["header", "metadata"])
def test_a_resend_with_the_same_message_id_gets_the_stored_reply_and_is_stored_once(client, services, sender,
                                                                                     how):
    message_id = uuid.uuid4().hex
    extra = ({"headers": {"Idempotency-Key": message_id}} if how == "header"
             else {"json_extra": {"metadata": {"message_id": message_id}}})

    def send(text: str):
        body = {"sender": sender, "message": text, **extra.get("json_extra", {})}
        return client.post(WEBHOOK, json=body, headers=extra.get("headers", {}))

    first, again = send("What is the return policy for devices?"), send("What is the return policy for devices?")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert [role for role, _ in turns_of(services, "rest", sender)] == ["user", "bot"]
    conflict = send("Something else entirely")
    assert conflict.status_code == 409 and "different message" in conflict.json()["detail"]
    assert [role for role, _ in turns_of(services, "rest", sender)] == ["user", "bot"]


def test_message_ids_are_per_sender(client, services, sender):
    headers = {"Idempotency-Key": "message-1"}
    for who in (sender, sender + "-b"):
        assert client.post(WEBHOOK, json={"sender": who, "message": "Hello"}, headers=headers).status_code == 200
        assert [role for role, _ in turns_of(services, "rest", who)] == ["user", "bot"]


def test_a_widget_resend_with_its_client_message_id_is_stored_once(client, services):
    sender = uuid.uuid4().hex
    body = {"sender": sender, "message": "What is the return policy for devices?", "client_message_id": "m-1"}
    replies = []
    for _ in range(2):
        with client.stream("POST", "/widget/messages", json=body) as response:
            assert response.status_code == 200
            replies.append([line for line in response.iter_lines() if line.startswith("data:")])
    assert replies[0] == replies[1]
    assert [role for role, _ in turns_of(services, "widget", sender)] == ["user", "bot"]


class _CrashingGenerator:
    def __init__(self, real):
        self.model_id, self._real = real.model_id, real

    def count_tokens(self, text: str) -> int:
        return self._real.count_tokens(text)

    def generate(self, messages, *, max_new_tokens, temperature):
        raise RuntimeError("CUDA out of memory (simulated)")


def test_an_identical_resend_without_an_id_after_a_500_is_answered_as_that_message(services, client, sender):
    question = "If I return my Nimbus Cam, how long until the money is back on my card?"
    crashing = build_services(services.settings, embedder=services.embedder,
                              generator=_CrashingGenerator(services.generator))
    crashing.start()
    try:
        with TestClient(create_app(crashing.settings, crashing), raise_server_exceptions=False) as broken:
            failed = broken.post(WEBHOOK, json={"sender": sender, "message": question})
        assert failed.status_code == 500 and "not stored twice" in failed.json()["detail"]
    finally:
        crashing.engine.dispose()
    assert turns_of(services, "rest", sender) == [("user", question)]
    reply = chat(client, sender, question)
    assert turns_of(services, "rest", sender) == [("user", question), ("bot", reply["text"])]
    chat(client, sender, question)  # answered now: the same text again is a new message
    assert [role for role, _ in turns_of(services, "rest", sender)] == ["user", "bot", "user", "bot"]


# -- profile facts are the customer's own ------------------------------------------------------------------------


def test_a_card_number_never_becomes_the_phone_and_a_boss_email_not_the_customers(client, sender):
    chat(client, sender, "My email is ann@example.org")
    chat(client, sender, "My Amex card is 3782 822463 10005")
    chat(client, sender, "Please forward this to my boss at boss@corp.example")
    assert "ann@example.org" in chat(client, sender, "What email do you have for me?", headers=VERIFIED)["text"]
    phone = chat(client, sender, "what is my phone number", headers=VERIFIED)["text"]
    assert "3782" not in phone and "don't have your phone" in phone
