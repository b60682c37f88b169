"""What outgoing webhooks cost a turn, and how fast the sender empties the outbox (docs/webhooks.md).

1. Recording a customer message and its reply (dialogue/store.py, the two writes of every turn) with 0, 1
   and 5 subscriptions that want every event: milliseconds per turn.
2. Sending: `--events` events emitted at once, sent to a local receiver that answers 200 at once, by one
   process's sender (`--concurrency` threads): deliveries per second, and the time from commit to arrival
   of single events sent one at a time.

No models are loaded. SQLite in a temporary folder by default; `--database-url` for PostgreSQL (a fresh,
empty database: the benchmark writes and deletes its rows).

    python bench/webhooks.py [--turns 300] [--events 1000] [--concurrency 8] [--database-url URL]
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete  # noqa: E402

from bot.migrate import upgrade_database  # noqa: E402
from bot.notify.queue import DeliveryQueue, RetryPolicy  # noqa: E402
from bot.notify.sender import SenderConfig, WebhookSender  # noqa: E402
from core.database import make_engine, make_session_factory  # noqa: E402
from core.outbox import (  # noqa: E402
    EventType, OutboxEventRecord, WebhookDeliveryRecord, WebhookSubscriptionRecord, emit,
)
from core.processes import ProcessTable  # noqa: E402
from dialogue.messages import InboundMessage, Reply, ReplyKind  # noqa: E402
from dialogue.store import ConversationStore  # noqa: E402


class _Receiver:
    def __init__(self) -> None:
        self.arrived: list[float] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.arrived.append(time.perf_counter())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _subscribe(sessions, url: str, count: int) -> None:
    with sessions() as session:
        for model in (WebhookDeliveryRecord, OutboxEventRecord, WebhookSubscriptionRecord):
            session.execute(delete(model))
        session.add_all(WebhookSubscriptionRecord(url=url, events=[t.value for t in EventType], secret="s" * 32,
                                                  created_by="bench") for _ in range(count))
        session.commit()


def turn_cost(sessions, turns: int, url: str) -> list[tuple[int, float, float]]:
    store = ConversationStore(sessions, timedelta(hours=1))
    rows = []
    for subscriptions in (0, 1, 5):
        _subscribe(sessions, url, subscriptions)
        took = []
        for n in range(turns):
            started = time.perf_counter()
            opened = store.record_user_message(InboundMessage("rest", f"bench-{subscriptions}-{n % 20}",
                                                              f"question {n}"), f"question {n}")
            store.record_reply(Reply(f"answer {n}", ReplyKind.FAQ, opened.conversation_id), 12.5, None)
            took.append((time.perf_counter() - started) * 1000)
        rows.append((subscriptions, statistics.median(took), statistics.quantiles(took, n=20)[18]))
    return rows


def _sender(sessions, concurrency: int) -> WebhookSender:
    registry = ProcessTable(sessions, timedelta(seconds=60))
    registry.register()
    policy = RetryPolicy(timedelta(seconds=60), timedelta(hours=1), 1.0, 1.0, timedelta(hours=1))
    return WebhookSender(DeliveryQueue(sessions, registry.id, registry.orphaned, policy),
                         SenderConfig(5.0, concurrency, 0.5, timedelta(days=1)), sessions)


def throughput(sessions, receiver: _Receiver, events: int, concurrency: int) -> tuple[float, float, float]:
    _subscribe(sessions, receiver.url, 1)
    with sessions() as session:
        for n in range(events):
            emit(session, EventType.MESSAGE_RECEIVED, {"n": n}, f"conversation:{n % 50}")
        session.commit()
    receiver.arrived.clear()
    sender = _sender(sessions, concurrency)
    started = time.perf_counter()
    sender.start()
    while len(receiver.arrived) < events:
        time.sleep(0.01)
    rate = events / (time.perf_counter() - started)
    latencies = []
    for n in range(50):  # one at a time: commit, then wait for it to arrive
        before = len(receiver.arrived)
        with sessions() as session:
            emit(session, EventType.MESSAGE_RECEIVED, {"n": n}, "conversation:single")
            committed = time.perf_counter()
            session.commit()
        while len(receiver.arrived) == before:
            time.sleep(0.0005)
        latencies.append((receiver.arrived[-1] - committed) * 1000)
    sender.stop()
    return rate, statistics.median(latencies), statistics.quantiles(latencies, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-webhooks-")
    url = args.database_url or f"sqlite:///{folder}/bench.db"
    engine = make_engine(url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    receiver = _Receiver()
    print(f"database: {engine.dialect.name}\n")
    print("| subscriptions | ms per turn (message + reply), median | p95 |\n|---|---|---|")
    for subscriptions, median, p95 in turn_cost(sessions, args.turns, receiver.url):
        print(f"| {subscriptions} | {median:.2f} | {p95:.2f} |")
    rate, median, p95 = throughput(sessions, receiver, args.events, args.concurrency)
    print(f"\n| sender ({args.concurrency} threads) | value |\n|---|---|")
    print(f"| {args.events} queued deliveries, 50 conversations | {rate:.0f} deliveries/s |")
    print(f"| commit to arrival, one event at a time: median | {median:.1f} ms |")
    print(f"| commit to arrival: p95 | {p95:.1f} ms |")
    _subscribe(sessions, receiver.url, 0)
    engine.dispose()


if __name__ == "__main__":
    main()
