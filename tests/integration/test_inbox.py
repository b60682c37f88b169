"""Agents take over handed-off conversations through the admin API, and hand them back."""

import pytest

from tests.conftest import chat

pytestmark = pytest.mark.integration


def test_agent_sees_the_handoff_answers_and_hands_back(client, admin_headers, sender):
    chat(client, sender, "My name is Omar")
    handoff = chat(client, sender, "Can I speak to someone? My hub keeps blinking red")
    conversation_id = handoff["custom"]["conversation_id"]

    waiting = client.get("/admin/conversations", params={"status": "handoff"}, headers=admin_headers).json()
    listed = next(c for c in waiting["data"] if c["id"] == conversation_id)
    assert listed["customer_name"] == "Omar" and listed["sender_ids"] == [sender]

    answer = "Hi Omar, a red blink means the hub lost Wi-Fi: hold the button 5 s to re-pair."
    posted = client.post(f"/admin/conversations/{conversation_id}/messages",
                         json={"text": answer, "agent": "maria"}, headers=admin_headers)
    assert posted.status_code == 201 and posted.json()["role"] == "agent"
    assert posted.json()["delivery"]["status"] == "stored"  # a REST client cannot be written to first
    assert chat(client, sender, "thanks, trying now")["custom"]["kind"] == "handoff"  # still with people

    back = client.put(f"/admin/conversations/{conversation_id}/status", json={"status": "bot"},
                      headers=admin_headers)
    assert back.status_code == 200 and back.json()["status"] == "bot"
    assert chat(client, sender, "What is the return policy for devices?")["custom"]["kind"] == "faq"

    transcript = client.get(f"/admin/conversations/{conversation_id}", headers=admin_headers).json()
    assert [t["role"] for t in transcript["turns"]] == ["user", "bot", "user", "bot", "agent", "user", "bot",
                                                        "user", "bot"]
    assert transcript["turns"][4]["text"] == answer


def test_inbox_errors_are_clear(client, admin_headers, sender):
    assert client.get("/admin/conversations/999999", headers=admin_headers).status_code == 404
    assert client.post("/admin/conversations/999999/messages", json={"text": "hi"},
                       headers=admin_headers).status_code == 404
    reply = chat(client, sender, "hello")
    conversation_id = reply["custom"]["conversation_id"]
    assert client.put(f"/admin/conversations/{conversation_id}/status", json={"status": "waiting"},
                      headers=admin_headers).status_code == 422
    assert client.post(f"/admin/conversations/{conversation_id}/messages", json={"text": ""},
                       headers=admin_headers).status_code == 422
    client.put(f"/admin/conversations/{conversation_id}/status", json={"status": "closed"}, headers=admin_headers)
    closed = client.post(f"/admin/conversations/{conversation_id}/messages", json={"text": "late answer"},
                         headers=admin_headers)
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]
    assert client.get("/admin/conversations", headers={}).status_code == 401
