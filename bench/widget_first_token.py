"""Widget time to first streamed token, on the real server, over HTTP and in a real Chromium.

Starts `helpdesk serve --sample-kb` on a free port with a fresh data folder, then, one question at a time
and each from a fresh visitor:
  - sse:     POST /widget/messages read as Server-Sent Events: time to the first `token` event and to
             the final `reply` (questions that the LM answers; FAQ questions have no tokens, only a reply);
  - rest:    the same questions through the non-streaming REST webhook, for comparison;
  - busy:    the widget's first token while the LM is already answering another customer (one
             generation at a time, so the wait includes the rest of that answer);
  - browser: Debian's Chromium (Playwright) on the demo page: from pressing Enter in the widget to the
             first words shown in the bubble, and to the finished answer.
Prints p50 / p90 / max per row.

    .venv/bin/python bench/widget_first_token.py [--rounds 2] [--max-new-tokens 80] [--no-browser]
"""

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path

import httpx
import yaml
from sample_server import ROOT, percentile, sample_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def visitor() -> str:
    return uuid.uuid4().hex  # the widget's sender ids are 32 hex characters


def widget_message(client: httpx.Client, text: str, sender: str | None = None) -> dict:
    """Send one widget message; returns seconds to the first token and to the reply, and the reply kind."""
    started = time.perf_counter()
    first_token = None
    body = {"sender": sender or visitor(), "message": text}
    with client.stream("POST", "/widget/messages", json=body) as response:
        response.raise_for_status()
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
                if event == "token" and first_token is None:
                    first_token = time.perf_counter() - started
            elif line.startswith("data: ") and event == "reply":
                reply = json.loads(line[len("data: "):])
                return {"first_token": first_token, "reply": time.perf_counter() - started,
                        "kind": reply["custom"]["kind"]}
    raise RuntimeError("the stream ended without a reply")


def rest_message(client: httpx.Client, text: str) -> dict:
    started = time.perf_counter()
    response = client.post("/webhooks/rest/webhook", json={"sender": visitor(), "message": text})
    response.raise_for_status()
    return {"reply": time.perf_counter() - started, "kind": response.json()[0]["custom"]["kind"]}


def busy_widget_message(client: httpx.Client, base: str, text: str, other: str) -> dict:
    """The widget's message arrives while the LM is generating another customer's answer."""
    def other_customer() -> None:
        with httpx.Client(base_url=base, timeout=300) as second:
            rest_message(second, other)

    thread = threading.Thread(target=other_customer)
    thread.start()
    time.sleep(1.0)  # the other answer is past retrieval and into generation
    result = widget_message(client, text)
    thread.join()
    return result


# Installed in the page: times, from the Enter key, the first text in a bot message being written and
# the finished answer.
BROWSER_PROBE = """() => {
  const root = document.querySelector('#helpdesk-widget').shadowRoot;
  window.probe = {};
  root.querySelector('textarea').addEventListener('keydown', event => {
    if (event.key === 'Enter') window.probe = {sent: performance.now()};
  }, true);
  new MutationObserver(() => {
    const probe = window.probe;
    if (!probe.sent) return;
    const writing = root.querySelector('.hd-bot[aria-busy="true"] .hd-text');
    if (!probe.firstText && writing && writing.textContent) probe.firstText = performance.now() - probe.sent;
    const done = root.querySelectorAll('.hd-bot[aria-busy="false"]').length;
    if (!probe.reply && done > (probe.before ?? 0)) probe.reply = performance.now() - probe.sent;
  }).observe(root.querySelector('.hd-log'),
             {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def browser_rounds(base: str, queries: list[str]) -> list[dict]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        for query in queries:
            context = browser.new_context()  # a fresh visitor: empty localStorage
            page = context.new_page()
            page.goto(base + "/")
            page.wait_for_selector("#helpdesk-widget[data-ready='true']", state="attached")
            page.locator("#helpdesk-widget .hd-launcher").click()
            page.evaluate(BROWSER_PROBE)
            page.locator("#helpdesk-widget textarea").fill(query)
            page.keyboard.press("Enter")
            page.wait_for_function("window.probe.reply", timeout=300_000)
            probe = page.evaluate("window.probe")
            kind = page.locator("#helpdesk-widget .hd-bot").last.get_attribute("data-kind")
            first_text = probe.get("firstText")  # none for answers shown whole
            results.append({"first_token": first_text / 1000 if first_text else None,
                            "reply": probe["reply"] / 1000, "kind": kind})
            context.close()
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=80, help="the product default is 80")
    parser.add_argument("--models-dir", default=os.environ.get("HELPDESK_TEST_MODELS_DIR"))
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium rows")
    args = parser.parse_args()

    evaluation = yaml.safe_load((ROOT / "bot/sample/eval.yaml").read_text())
    generated_queries = [item["query"] for item in evaluation["partial"]][:5]  # the LM answers these
    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())
    faq_queries = [faq["alt_questions"][0] for faq in faqs[:5]]  # strong matches: answered verbatim

    rows: dict[str, list[dict]] = {}
    with (sample_server(args.max_new_tokens, args.models_dir) as base,
          httpx.Client(base_url=base, timeout=300) as client):
        widget_message(client, faq_queries[0])  # warm-up: first request, first generation
        widget_message(client, generated_queries[0])

        def add(name: str, results) -> None:
            rows.setdefault(name, []).extend(results)

        for _ in range(args.rounds):
            add("sse, partial-match question", (widget_message(client, q) for q in generated_queries))
            add("sse, FAQ question", (widget_message(client, q) for q in faq_queries))
            add("rest (no streaming), partial-match question",
                (rest_message(client, q) for q in generated_queries))
            other = generated_queries[-1]
            add("sse, partial-match question, LM busy with another customer",
                (busy_widget_message(client, base, q, other) for q in generated_queries[:2]))
        if not args.no_browser and CHROMIUM.exists():
            for _ in range(args.rounds):
                add("browser widget, partial-match question", browser_rounds(base, generated_queries))
                add("browser widget, FAQ question", browser_rounds(base, faq_queries[:3]))
    report(rows, args)


def report(rows: dict[str, list[dict]], args) -> None:
    print(f"\nWidget latency ({args.rounds} rounds, sample KB, max_new_tokens={args.max_new_tokens}; "
          "seconds)\n")
    print("| path | n | reply kinds | first token p50 | p90 | max | full reply p50 | p90 | max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, results in rows.items():
        kinds = {}
        for result in results:
            kinds[result["kind"]] = kinds.get(result["kind"], 0) + 1
        firsts = [r["first_token"] for r in results if r.get("first_token")]
        replies = [r["reply"] for r in results]
        first = (f"{percentile(firsts, .5):.2f} | {percentile(firsts, .9):.2f} | {max(firsts):.2f}"
                 if firsts else "– | – | –")
        print(f"| {name} | {len(results)} | {kinds} | {first} | {percentile(replies, .5):.2f} | "
              f"{percentile(replies, .9):.2f} | {max(replies):.2f} |")
    generated = [r for r in rows.get("sse, partial-match question", []) if r.get("first_token")]
    if generated:
        share = statistics.median(r["first_token"] / r["reply"] for r in generated)
        print(f"\nOver SSE the first words of an LM answer arrive after {share:.0%} (median) of its "
              "full time.")


if __name__ == "__main__":
    main()
