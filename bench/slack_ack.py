"""Slack acknowledgement latency, idle and while the LM is busy generating for other customers.

Serves the real app (real models, SQLite, sample knowledge base) with uvicorn on loopback in its own
process, points its Slack API URL at a local Web API server in this one, and sends correctly signed
Events API requests at a steady pace.
Phase "idle": nothing else runs. Phase "busy": `--busy-customers` customers keep the LM generating through
the REST webhook the whole time. Prints ack latency (what Slack's 3 s limit applies to) and the time
until the answer reached the Slack API.

    python bench/slack_ack.py --events 100 --busy-customers 3
"""

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import quantiles

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.cli.serve import SAMPLE_FAQS  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.faq_files import read_faq_file  # noqa: E402
from tests.support.platform_servers import SlackApiServer  # noqa: E402

SECRET, TOKEN = "bench-signing-secret", "xoxb-bench"
FAQ_QUESTIONS = ["What is the return policy for devices?", "How much does shipping cost?",
                 "How do I reset my Nimbus app password?", "What payment methods do you accept?",
                 "How do I track my order?", "Do you sell gift cards?"]
# Questions between the thresholds: answered by the LM, several seconds each on this CPU.
GENERATED_QUESTIONS = ["Does Nimbus Plus extend the warranty on a thermostat I bought last year?",
                       "Does Nimbus Plus extend the warranty on a thermostat I bought last year?",
                       "Can the Nimbus Plug run a space heater and a kettle at the same time?"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100, help="Slack events per phase")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between Slack events")
    parser.add_argument("--busy-customers", "--busy-users", dest="busy_customers", type=int, default=3,
                        help="customers keeping the LM busy (--busy-users: the old name)")
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("HELPDESK_TEST_MODELS_DIR",
                                                                               "data/models")))
    parser.add_argument("--port", type=int, default=8765)
    return parser.parse_args()


def serve(settings: dict, port: int, timings: Path) -> None:
    """The bot, as an operator runs it: its own process, so this one's clients do not share its GIL."""
    services = build_services(Settings(**settings))
    services.start()
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    app = ServerTiming(create_app(services.settings, services), timings.open("a", buffering=1))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


class ServerTiming:
    """ASGI wrapper writing how long the app took for each Slack request, from its first byte in to the
    response's last byte out: the part of the ack the bot controls, without client and network time."""

    def __init__(self, app, out):
        self.app, self.out = app, out

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/webhooks/slack/webhook":
            return await self.app(scope, receive, send)
        started = time.monotonic()

        async def timed_send(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.out.write(f"{(time.monotonic() - started) * 1000:.3f}\n")

        return await self.app(scope, receive, timed_send)


def wait_until_healthy(base: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the bot did not start")


def signed_event(n: int, phase: str, text: str) -> tuple[bytes, dict[str, str], str]:
    channel = f"D{phase.upper()}{n:05d}"
    payload = {"type": "event_callback", "team_id": "TBENCH", "event_id": f"Ev{phase}{n}{time.time_ns()}",
               "event_time": int(time.time()),
               "authorizations": [{"team_id": "TBENCH", "user_id": "UBOT", "is_bot": True}],
               "event": {"type": "message", "channel_type": "im", "channel": channel, "user": f"U{n:05d}",
                         "text": text, "ts": f"{time.time():.6f}"}}
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    headers = {"content-type": "application/json", "X-Slack-Request-Timestamp": stamp,
               "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)}
    return body, headers, channel


def send_events(base: str, phase: str, count: int, interval: float) -> dict[str, tuple[float, float]]:
    """channel -> (sent at, ack seconds)"""
    sent: dict[str, tuple[float, float]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in range(count):
            body, headers, channel = signed_event(n, phase, FAQ_QUESTIONS[n % len(FAQ_QUESTIONS)])
            started = time.monotonic()
            response = client.post("/webhooks/slack/webhook", content=body, headers=headers)
            sent[channel] = (started, time.monotonic() - started)
            assert response.status_code == 200, response.text
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return sent


def keep_lm_busy(base: str, user: int, stop: threading.Event, done: list[float]) -> None:
    """Ask LM-answered questions back to back; `done` gets the duration of each generated answer."""
    with httpx.Client(base_url=base, timeout=300) as client:
        n = 0
        while not stop.is_set():
            started = time.monotonic()
            response = client.post("/webhooks/rest/webhook", json={
                "sender": f"bench-busy-{user}-{n}", "message": GENERATED_QUESTIONS[(user + n) % 3]})
            if response.json()[0]["custom"]["kind"] == "generated":
                done.append(time.monotonic() - started)
            n += 1


def reply_delays(api: SlackApiServer, sent: dict[str, tuple[float, float]],
                 timeout: float = 600) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrived = {call.body["channel"]: call.at for call in api.calls_to("chat.postMessage")}
        if all(channel in arrived for channel in sent):
            return [arrived[channel] - at for channel, (at, _) in sent.items()]
        time.sleep(0.2)
    raise SystemExit("not every Slack event was answered in time")


def read_timings(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def percentile(values: list[float], q: int) -> float:
    return quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    args = parse_args()
    api = SlackApiServer(TOKEN).start()
    data = Path(tempfile.mkdtemp(prefix="slack-ack-"))
    settings = dict(data_dir=data, models_dir=args.models_dir, device="cpu", company_name="Nimbus Home",
                    max_new_tokens=args.max_new_tokens, slack_signing_secret=SECRET, slack_bot_token=TOKEN,
                    slack_api_url=api.url)
    print("starting the bot (loads the models) ...", flush=True)
    timings = data / "server_ms.txt"
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(settings, args.port, timings),
                                                          daemon=True)
    server.start()
    base = f"http://127.0.0.1:{args.port}"
    wait_until_healthy(base)

    rows = []
    for phase in ("idle", "busy"):
        stop, generations = threading.Event(), []
        workers = [threading.Thread(target=keep_lm_busy, args=(base, user, stop, generations), daemon=True)
                   for user in range(args.busy_customers if phase == "busy" else 0)]
        for worker in workers:
            worker.start()
        time.sleep(3 if workers else 0)  # let the generations start
        print(f"phase {phase}: {args.events} events every {args.interval} s ...", flush=True)
        before = len(read_timings(timings))
        load_before = os.getloadavg()[0]
        sent = send_events(base, phase, args.events, args.interval)
        server_ms = read_timings(timings)[before:]
        stop.set()
        delays = reply_delays(api, sent)
        for worker in workers:
            worker.join()
        acks = [ack * 1000 for _, ack in sent.values()]
        rows.append((phase, len(workers), len(acks), percentile(acks, 50), percentile(acks, 99), max(acks),
                     percentile(server_ms, 50), percentile(server_ms, 99),
                     percentile(delays, 50), percentile(delays, 99), len(generations),
                     max(load_before, os.getloadavg()[0])))
    server.terminate()
    server.join()
    api.stop()

    print()
    print("| LM | busy customers | events | ack p50 ms | ack p99 ms | ack max ms | in-app p50 ms | in-app p99 ms "
          "| reply p50 s | reply p99 s | LM answers | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for phase, customers, count, p50, p99, top, s50, s99, r50, r99, generated, load in rows:
        print(f"| {phase} | {customers} | {count} | {p50:.1f} | {p99:.1f} | {top:.1f} | {s50:.1f} | {s99:.1f} "
              f"| {r50:.2f} | {r99:.2f} | {generated} | {load:.1f} |")


if __name__ == "__main__":
    main()
