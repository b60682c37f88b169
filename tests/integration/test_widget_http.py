"""The widget's plain HTTP side: its files, the demo page, public FAQ pages and CORS for other sites."""

import pytest

pytestmark = pytest.mark.integration


def test_one_script_tag_is_all_a_page_needs(client):
    script = client.get("/widget.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "widget/messages" in script.text and "attachShadow" in script.text
    assert client.get("/widget.css").headers["content-type"].startswith("text/css")
    demo = client.get("/")
    assert demo.status_code == 200
    assert '<script src="widget.js" data-title="Nimbus Home support" defer></script>' in demo.text


def test_faq_page_shows_the_answer_and_escapes_it(client, admin_headers):
    created = client.post("/admin/faqs", headers=admin_headers, json={
        "question": "Is <b>this</b> safe?",
        "answer": "First <script>alert(1)</script> part.\n\nSecond part.",
    })
    assert created.status_code == 201, created.text
    page = client.get(f"/widget/faqs/{created.json()['id']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Is &lt;b&gt;this&lt;/b&gt; safe?</h1>" in page.text
    assert "<p>First &lt;script&gt;alert(1)&lt;/script&gt; part.</p><p>Second part.</p>" in page.text
    client.delete(f"/admin/faqs/{created.json()['id']}", headers=admin_headers)
    gone = client.get(f"/widget/faqs/{created.json()['id']}")
    assert gone.status_code == 404 and "no longer exists" in gone.text


def test_other_sites_may_chat_but_not_send_admin_tokens(client):
    chat = client.options("/widget/messages", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert chat.status_code == 200 and chat.headers["access-control-allow-origin"] == "*"
    admin = client.options("/admin/faqs", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert admin.status_code == 400  # the browser will not send the Authorization header cross-origin


def test_a_signed_in_customer_s_page_may_send_its_chat_token(client):
    # The REST channel takes `Authorization: Bearer <JWT>` (bot/connectors/identity.py); a browser sends it
    # cross-origin only after a preflight that allows the header.
    preflight = client.options("/webhooks/rest/webhook", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert preflight.status_code == 200, preflight.text
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
