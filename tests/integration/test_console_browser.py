"""The support console in a real headless Chromium against a real server, next to the real widget.

Screenshots of every view at desktop and 375 px width land in /tmp/console-shots/ (or
HELPDESK_CONSOLE_SHOTS) for a person to look at.
"""

import os
import uuid
from pathlib import Path

import pytest

from retrieval.faqs import FaqPatch
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_widget_browser import (  # noqa: F401 (fixtures)
    FAQ_QUESTION, bot_url, browser, wait_for_answer, widget,
)

pytestmark = pytest.mark.integration

SHOTS = Path(os.environ.get("HELPDESK_CONSOLE_SHOTS", "/tmp/console-shots"))
UNANSWERABLE = "Do you repair old rotary telephones?"


@pytest.fixture()
def console(browser, bot_url):
    """A signed-in console page; every request it made is checked to stay on the bot's server."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    sign_in(page, bot_url)
    yield page
    outside = [url for url in requests if not url.startswith(bot_url) and not url.startswith("data:")]
    assert outside == [], f"the console reached outside its server: {outside}"
    assert not any(ADMIN_TOKEN in url for url in requests)  # the key never travels in a URL
    context.close()


def sign_in(page, bot_url: str, key: str = ADMIN_TOKEN) -> None:
    page.goto(bot_url + "/console")
    page.get_by_label("API key").fill(key)
    page.keyboard.press("Enter")
    page.locator("#app").wait_for()
    assert page.evaluate("sessionStorage.getItem('helpdesk-console:key')") == key
    assert key not in page.url


def widget_page(browser, bot_url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.route(bot_url + "/shop", lambda route: route.fulfill(content_type="text/html", body=(
        f'<!doctype html><html><body><script src="{bot_url}/widget.js" data-poll-seconds="1"></script>'
        '</body></html>')))
    page.goto(bot_url + "/shop")
    page.wait_for_selector("#helpdesk-widget[data-ready='true']", state="attached")
    widget(page).locator(".hd-launcher").click()
    return context, page


def say(page, text: str, answers: int) -> None:
    widget(page).locator("textarea").fill(text)
    page.keyboard.press("Enter")
    wait_for_answer(page, answers)


def test_sign_in_is_required_and_a_wrong_key_is_refused(browser, bot_url):
    context = browser.new_context()
    page = context.new_page()
    assert page.request.get(bot_url + "/admin/me").status == 401
    page.goto(bot_url + "/console")
    assert page.locator("#app").is_hidden()
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    assert "not valid" in page.get_by_role("alert").first.inner_text()
    assert page.evaluate("sessionStorage.length") == 0
    context.close()


def test_agent_answers_a_widget_handoff_with_a_suggestion(browser, bot_url, console, services):
    console.locator("#inbox-status").wait_for()
    badge_before = int(console.locator("#unread").inner_text() or 0)
    shop_context, shop = widget_page(browser, bot_url)
    say(shop, FAQ_QUESTION, 1)
    say(shop, "I want to talk to a human", 2)
    sender = shop.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)"
                           ".find(key => key.startsWith('helpdesk-widget:')))).sender")
    conversation_id = shop.request.get(f"{bot_url}/widget/history?sender={sender}").json()["conversation_id"]

    # The handoff arrives in the open console by itself: a list entry, a toast and a higher unread badge.
    entry = console.locator(f".conversation[data-id='{conversation_id}']")
    entry.wait_for(timeout=15_000)
    console.locator(".toast", has_text="New handoff").first.wait_for(timeout=5_000)
    assert int(console.locator("#unread").inner_text()) > badge_before
    assert console.title().startswith("(")

    entry.focus()
    console.keyboard.press("Enter")
    console.locator("#transcript .turn-user", has_text=FAQ_QUESTION).wait_for()
    insert = console.get_by_role("button", name="Insert the drafted answer")
    insert.wait_for(timeout=60_000)
    faq = next(f for f in services.knowledge.page(0, 100)[0] if f.question == "How do I return a device?")
    insert.click()
    reply = console.get_by_label("Reply to the customer")
    assert reply.input_value() == faq.answer
    reply.press("Control+Home")
    reply.type("Hi, Maya here. ")
    console.locator("#agent-name").fill("Maya")
    reply.press("Control+Enter")
    console.locator("#transcript .turn-agent", has_text="Hi, Maya here.").wait_for(timeout=10_000)
    assert reply.input_value() == ""

    agent_message = widget(shop).locator(".hd-agent", has_text="Hi, Maya here.")
    agent_message.wait_for(timeout=15_000)
    assert faq.answer.split(".")[0] in agent_message.inner_text()

    console.get_by_role("button", name="Hand back to the bot").click()
    widget(shop).locator(".hd-notice", has_text="answering again").wait_for(timeout=15_000)
    entry.wait_for(state="detached", timeout=10_000)  # no longer waiting for a person
    shop_context.close()


def chat_reply(page, bot_url: str, sender: str, text: str) -> dict:
    response = page.request.post(bot_url + "/webhooks/rest/webhook", data={"sender": sender, "message": text})
    assert response.ok
    return response.json()[0]


def test_an_faq_edited_in_the_console_changes_the_next_chat_answer(console, bot_url):
    question = f"Do you ship to Antarctica research station {uuid.uuid4().hex[:4]}?"
    sender = f"console-{uuid.uuid4().hex[:8]}"
    inbox_tab = console.get_by_role("tab", name="Inbox")
    inbox_tab.focus()
    console.keyboard.press("ArrowRight")  # the tabs follow the ARIA tabs pattern
    assert console.get_by_role("tab", name="Knowledge").get_attribute("aria-selected") == "true"
    console.get_by_role("button", name="New FAQ").click()
    console.get_by_label("Question", exact=True).fill(question)
    console.get_by_label("Answer", exact=True).fill("Not yet: we ship within Europe only.")
    console.get_by_role("button", name="Save").click()
    console.locator(".toast", has_text="Saved FAQ").first.wait_for()
    first = chat_reply(console, bot_url, sender, question)
    assert (first["custom"]["kind"], first["text"]) == ("faq", "Not yet: we ship within Europe only.")

    console.get_by_label("Search FAQs").fill("Antarctica research")
    console.get_by_role("button", name=f"Edit FAQ: {question}").click()
    console.get_by_label("Answer", exact=True).fill("Yes: research stations get one delivery a year, in January.")
    with console.expect_request(lambda request: "/admin/faqs/" in request.url and request.method != "GET") as edit:
        console.get_by_role("button", name="Save").click()
    # A partial edit: only the answer, and the version it was made to (PUT would drop what it left out).
    assert edit.value.method == "PATCH"
    assert edit.value.post_data_json == {"answer": "Yes: research stations get one delivery a year, in January.",
                                         "version": 1}
    console.locator(".toast", has_text="version 2").first.wait_for()
    second = chat_reply(console, bot_url, sender, question)
    assert second["text"] == "Yes: research stations get one delivery a year, in January."

    console.get_by_label("A customer question").fill(question)
    console.get_by_role("button", name="Test").click()
    console.locator("#hit-results .decision", has_text="Decision: faq").wait_for()

    console.get_by_role("button", name=f"Edit FAQ: {question}").click()
    console.once("dialog", lambda dialog: dialog.accept())
    console.get_by_role("button", name="Delete").click()
    console.locator(".toast", has_text="Deleted FAQ").first.wait_for()
    assert chat_reply(console, bot_url, sender, question)["custom"]["kind"] != "faq"


def test_analytics_and_gaps_pages(console, bot_url):
    sender = f"console-{uuid.uuid4().hex[:8]}"
    assert chat_reply(console, bot_url, sender, UNANSWERABLE)["custom"]["kind"] == "fallback"
    console.get_by_role("tab", name="Analytics").click()
    expected = console.request.get(bot_url + "/admin/analytics",
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    kpi = console.locator(".kpi[data-field='conversations'] .kpi-value")
    kpi.wait_for()
    assert int(kpi.inner_text()) == expected["conversations"] > 0
    assert console.locator("#chart-volume svg[role='img']").get_attribute("aria-label").startswith("Conversations")
    assert console.locator("#chart-volume rect").count() == len(expected["days"]) == 30

    console.get_by_role("tab", name="Gaps").click()
    gap = console.locator(".gap", has=console.locator("li", has_text=UNANSWERABLE))
    gap.wait_for(timeout=30_000)
    gap.get_by_role("button", name="Create FAQ").click()
    assert console.get_by_role("tab", name="Knowledge").get_attribute("aria-selected") == "true"
    first_question = gap.locator(".questions li").first.inner_text()
    assert console.get_by_label("Question", exact=True).input_value() == first_question
    assert console.get_by_label("Answer", exact=True).evaluate("node => node === document.activeElement")


def test_a_gap_adds_the_questions_of_customers_who_chose_a_suggestion_to_that_faq(console, bot_url, services):
    question = "Can I give my cleaner limited access to the app?"  # the sample shop's eval: a fallback, FAQ suggested
    sender = f"console-{uuid.uuid4().hex[:8]}"
    reply = chat_reply(console, bot_url, sender, question)
    sharing = next(b for b in reply["buttons"] if b["title"] == "How do I share access to my home with family members?")
    faq_id = int(sharing["payload"].split(":")[1].strip(" }"))
    before = services.knowledge.get(faq_id)
    assert chat_reply(console, bot_url, sender, sharing["payload"])["custom"]["kind"] == "faq"
    try:
        console.get_by_role("tab", name="Gaps").click()
        gap = console.locator(".gap", has=console.locator("li", has_text=question))
        gap.wait_for(timeout=30_000)
        assert f"Customers chose “{before.question}” (FAQ #{faq_id}) from the suggestions (1 question)." \
            in gap.inner_text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        gap.screenshot(path=str(SHOTS / "gap-chosen-suggestion.png"))
        gap.get_by_role("button", name=f"Add 1 question to FAQ #{faq_id} as alternative questions").click()
        console.locator(".toast", has_text=f"Added to FAQ #{faq_id}").wait_for()
        assert services.knowledge.get(faq_id).alt_questions == [*before.alt_questions, question]
    finally:  # the shared knowledge base as it was, calibrated again before the next test
        services.knowledge.patch(faq_id, FaqPatch(alt_questions=before.alt_questions))
        services.knowledge.calibrator.train_now()


def test_a_viewer_key_reads_knowledge_and_figures_but_not_what_customers_wrote(browser, bot_url, services):
    from bot.api_keys import create_key, revoke_key

    name = f"viewer-{uuid.uuid4().hex[:8]}"
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, bot_url, create_key(services.sessions, name, "viewer"))
        assert page.locator("#inbox-forbidden").is_visible()
        page.get_by_role("tab", name="Gaps").click()
        assert "need an admin key" in page.locator("#gaps-forbidden").inner_text()
        assert page.locator("#gaps").is_hidden()
        page.get_by_role("tab", name="Analytics").click()
        page.locator(".kpi").first.wait_for()
    finally:
        context.close()
        revoke_key(services.sessions, name)


@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_every_view(browser, bot_url, width):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 900 if width > 400 else 740},
                                  is_mobile=width < 400, has_touch=width < 400)
    page = context.new_page()
    sender = f"shots-{uuid.uuid4().hex[:8]}"
    chat_reply(page, bot_url, sender, "My name is Lena")
    chat_reply(page, bot_url, sender, "How do I factory reset a Nimbus device?")
    chat_reply(page, bot_url, sender, "Can I speak to someone? My hub keeps blinking red after the reset")
    sign_in(page, bot_url)
    page.locator(".conversation").first.wait_for(timeout=15_000)
    page.locator(".conversation").first.click()
    page.locator("#assist .snippet, #assist p").first.wait_for(timeout=60_000)
    for view in ("inbox", "knowledge", "analytics", "gaps"):
        page.get_by_role("tab", name=view.capitalize()).click()
        ready = {"inbox": "#transcript .turn", "knowledge": ".faq", "analytics": ".kpi", "gaps": ".gap, #gaps li"}
        page.locator(ready[view]).first.wait_for(timeout=30_000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{view}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{view} scrolls sideways"
    context.close()
