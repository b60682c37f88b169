"""Load and a crash: N customers × M messages on the REST channel, `kill -9` mid-load, restart, resend.

For each backend (SQLite, PostgreSQL) starts `helpdesk serve --sample-kb` over a fresh database, lets every
customer send M different sample FAQ questions in order (each waits for the previous answer; all customers
at once, at most `--concurrency` requests in flight), SIGKILLs the server once a seeded random share of the
messages has been answered, and starts it again on the same port, data folder and database. Clients act as
real ones: what got no answer (connection error, timeout, 5xx) is sent again with the same
`metadata.message_id` until it is answered. Afterwards the database itself is read and, per customer,
counted: lost (a message sent with no user turn), duplicated (a user turn stored twice, by id or text),
unanswered (a user turn with no bot turn before the next user turn), out of order (user turns not in the
order they were sent). The target is 0 / 0 / 0 / 0.

    .venv/bin/python bench/soak.py [--customers 200 --messages 20] [--quick] [--seed 12] [--backends sqlite,postgresql]
"""

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from sample_server import ROOT, SampleServer, percentile
from soak_audit import Audit, audit_database

from dialogue.policy import wants_person

sys.path.insert(0, str(ROOT))  # tests/support: the test suite's database helper
from tests.support.postgres import fresh_postgres_database  # noqa: E402

POSTGRES_URL = "postgresql+psycopg://helpdesk_ci:helpdesk_ci@127.0.0.1:5432/helpdesk_ci"


@dataclass
class Load:
    """What the clients saw during one run."""

    sent: dict[str, list[tuple[str, str]]]  # sender -> [(message id, text)] in send order
    answered: int = 0
    resends: int = 0  # requests sent again after a connection error, a timeout or a 5xx
    server_errors: int = 0  # 5xx answers among them
    empty_answers: int = 0  # 200 with no reply in it
    given_up: int = 0  # still unanswered at the deadline
    in_flight_at_kill: int = 0
    in_flight: int = 0
    attempted: dict[str, int] = field(default_factory=dict)  # sender -> messages sent at least once
    latencies: list[float] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class Result:
    backend: str
    load: Load
    audit: Audit
    kill_after: int
    timings: dict[str, float]
    wall_seconds: float


def questions(seed: int, customers: int, messages: int) -> dict[str, list[tuple[str, str]]]:
    """Each customer's M messages: distinct sample FAQ questions (and their alternatives), seeded."""
    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())
    pool = [text for faq in faqs for text in [faq["question"], *faq["alt_questions"]] if not wants_person(text)]
    if messages > len(pool):
        raise SystemExit(f"--messages is at most {len(pool)}: each customer's messages are distinct questions")
    rng = random.Random(seed)
    return {f"soak-{number:04d}": [(f"m{index:03d}", text) for index, text in enumerate(rng.sample(pool, messages))]
            for number in range(customers)}


async def customer(client: httpx.AsyncClient, sender: str, load: Load, gate: asyncio.Semaphore,
                   deadline: float, resend: bool) -> None:
    for index, (message_id, text) in enumerate(load.sent[sender]):
        load.attempted[sender] = index + 1
        body = {"sender": sender, "message": text, "metadata": {"message_id": message_id}}
        backoff = 0.2
        while True:
            async with gate:
                started = time.perf_counter()  # the request's time, not the wait for a free slot
                load.in_flight += 1
                try:
                    response = await client.post("/webhooks/rest/webhook", json=body)
                except httpx.TransportError:  # refused, reset, timed out: the server is down or was killed
                    response = None
                finally:
                    load.in_flight -= 1
            if response is not None and response.status_code == 200:
                break
            if response is not None and response.status_code < 500:
                raise SystemExit(f"{sender} {message_id}: {response.status_code} {response.text[:300]}")
            load.server_errors += response is not None
            if not resend:  # a careless client: shows what the counters catch when nobody resends
                load.given_up += 1
                break
            if time.monotonic() > deadline:
                load.given_up += 1
                return
            load.resends += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        if response is None or response.status_code != 200:
            continue
        replies = response.json()
        load.empty_answers += not replies
        for reply in replies:
            load.kinds[reply["custom"]["kind"]] = load.kinds.get(reply["custom"]["kind"], 0) + 1
        load.latencies.append(time.perf_counter() - started)
        load.answered += 1


async def crash_when(server: SampleServer, load: Load, kill_after: int, url: str, timings: dict,
                     finished: asyncio.Event) -> None:
    """SIGKILL once `kill_after` messages are answered, then start the server again over the same data."""
    while load.answered < kill_after:
        if finished.is_set():
            return
        await asyncio.sleep(0.01)
    load.in_flight_at_kill = load.in_flight
    killed = time.monotonic()
    server.kill()
    answered_before = load.answered
    # What the dead process left: customer turns stored without their answer (the resends must fix these).
    looked = time.monotonic()
    timings["stored_unanswered"] = (await asyncio.to_thread(audit_database, url, _attempted(load))).unanswered
    looked = time.monotonic() - looked
    timings["restart"] = await asyncio.to_thread(server.start)
    while load.answered == answered_before and not finished.is_set():
        await asyncio.sleep(0.01)
    timings["downtime"] = time.monotonic() - killed - looked if load.answered > answered_before else float("nan")


def _attempted(load: Load) -> dict[str, list[tuple[str, str]]]:
    return {sender: messages[:load.attempted.get(sender, 0)] for sender, messages in load.sent.items()}


async def run_load(server: SampleServer, load: Load, kill_after: int, url: str, args: argparse.Namespace
                   ) -> dict[str, float]:
    timings: dict[str, float] = {}
    gate = asyncio.Semaphore(args.concurrency)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(120.0, pool=None)
    deadline = time.monotonic() + args.give_up_seconds
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=timeout) as client:
        finished = asyncio.Event()
        crash = asyncio.create_task(crash_when(server, load, kill_after, url, timings, finished))
        await asyncio.gather(*(customer(client, sender, load, gate, deadline, not args.no_resend)
                               for sender in load.sent))
        finished.set()
        await crash
    if "restart" not in timings:  # every message was answered before the kill point: nothing was tested
        raise SystemExit(f"the load ended before the kill point ({kill_after} answers)")
    return timings


def run_backend(backend: str, args: argparse.Namespace, work: Path) -> Result:
    sent = questions(args.seed, args.customers, args.messages)
    total = args.customers * args.messages
    kill_after = random.Random(args.seed).randint(round(total * 0.2), round(total * 0.8))
    if backend == "sqlite":
        url, drop = f"sqlite:///{work / 'soak.db'}", None
    else:
        url, drop = fresh_postgres_database(args.postgres_url, prefix="helpdesk_soak")
    env = {"HELPDESK_DATABASE_URL": url, "HELPDESK_MAX_NEW_TOKENS": str(args.max_new_tokens),
           "HELPDESK_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}
    server = SampleServer(work / "data", args.models_dir, env, log=work / "serve.log")
    try:
        print(f"[{backend}] starting the server (log: {server.log})", flush=True)
        server.start()
        load = Load(sent)
        started = time.monotonic()
        timings = asyncio.run(run_load(server, load, kill_after, url, args))
        wall = time.monotonic() - started
        server.stop()
        audit = audit_database(url, _attempted(load))
    finally:
        server.stop()
        if drop:
            drop()
    print(f"[{backend}] done in {wall:.0f} s", flush=True)
    return Result(backend, load, audit, kill_after, timings, wall)


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    print(f"\nSoak: {args.customers} customers × {args.messages} messages, REST channel, concurrency "
          f"{args.concurrency}, seed {args.seed}, kill -9 once and restart\n")
    print("| | " + " | ".join(result.backend for result in results) + " |")
    print("|---" * (len(results) + 1) + "|")
    rows = {
        "**lost / duplicated / unanswered / out of order**": lambda r: "**{} / {} / {} / {}**".format(
            r.audit.lost, r.audit.duplicated, r.audit.unanswered, r.audit.out_of_order),
        "user turns / bot turns stored": lambda r: f"{r.audit.user_turns} / {r.audit.bot_turns}",
        "answered (client side) / sent": lambda r: f"{r.load.answered} / {sum(map(len, r.load.sent.values()))}",
        "given up / 200 without a reply": lambda r: f"{r.load.given_up} / {r.load.empty_answers}",
        "killed after answer no.": lambda r: str(r.kill_after),
        "requests in flight at the kill": lambda r: str(r.load.in_flight_at_kill),
        "customer turns stored unanswered at the kill": lambda r: str(r.timings["stored_unanswered"]),
        "resend attempts (of which after a 5xx)": lambda r: f"{r.load.resends} ({r.load.server_errors})",
        "restart: start → /health 200 s": lambda r: f"{r.timings['restart']:.1f}",
        "down: kill → next answer s": lambda r: f"{r.timings['downtime']:.1f}",
        "wall s (incl. restart)": lambda r: f"{r.wall_seconds:.0f}",
        "throughput msg/s (incl. restart)": lambda r: f"{r.load.answered / r.wall_seconds:.1f}",
        "request latency p50 / p95 s (answered)": lambda r: f"{percentile(r.load.latencies, 0.5):.2f} / "
                                         f"{percentile(r.load.latencies, 0.95):.2f}",
        "reply kinds": lambda r: ", ".join(f"{kind} {count}" for kind, count in sorted(r.load.kinds.items())),
    }
    for label, cell in rows.items():
        print(f"| {label} | " + " | ".join(cell(result) for result in results) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20, help="per customer")
    parser.add_argument("--quick", action="store_true", help="20 customers × 5 messages")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most")
    parser.add_argument("--seed", type=int, default=12, help="picks the questions and the kill point")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("HELPDESK_TEST_POSTGRES_URL", POSTGRES_URL),
                        help="a role that may create databases; each run gets a fresh one, dropped after")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="for the few questions the LM answers")
    parser.add_argument("--give-up-seconds", type=float, default=1800, help="clients stop resending after this")
    parser.add_argument("--no-resend", action="store_true",
                        help="clients drop what got no answer instead of sending it again (the counters then show it)")
    parser.add_argument("--models-dir", default=os.environ.get("HELPDESK_TEST_MODELS_DIR"))
    args = parser.parse_args()
    if args.quick:
        args.customers, args.messages = 20, 5
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))}: use sqlite and/or postgresql")
    args.models_dir = args.models_dir or str(ROOT / "data" / "models")
    results = []
    for backend in backends:
        work = Path(tempfile.mkdtemp(prefix=f"helpdesk-soak-{backend}-{uuid.uuid4().hex[:6]}-"))
        results.append(run_backend(backend, args, work))
    print_table(results, args)


if __name__ == "__main__":
    main()
