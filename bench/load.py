"""FAQ answers under load: 1, 8 and 32 customers at once against the real server, every turn checked in the database.

Starts `helpdesk serve --sample-kb --workers N` on a free loopback port over a fresh data folder (and a fresh
database), sends each sample question once to learn which ones the bot answers verbatim (`kind` faq; this also
warms every worker), then, for each client count, runs that many closed-loop clients for `--seconds` (or until
`--max-requests`): each client is a customer who asks `--per-customer` different FAQ questions in one
conversation, each waiting for the previous answer, then makes way for a new customer. Every message carries an
id (`metadata.message_id`), as the widget sends. Afterwards the database is read back and every customer's
turns are counted (bench/soak_audit.py): lost, duplicated, unanswered and out-of-order must all be 0.

    .venv/bin/python bench/load.py [--workers 2] [--clients 1,8,32] [--seconds 10] [--backend sqlite|postgresql]

`--workers 1,2` runs the whole table once per worker count, each on a fresh server. `--variant` (repeatable)
runs it once more per variant, the server started with those settings, for a side-by-side comparison in one
run, e.g. `--variant HELPDESK_SQLITE_WRITE_LOCK=false --variant HELPDESK_SQLITE_WRITE_LOCK=true`. On SQLite each
server's log says every 1000 write transactions how long its writers waited to start writing and how long
they then held the write lock (core/sqlite_writes.py); the table shows the worst of those 95th percentiles.
Loopback only: the server is started here on 127.0.0.1 and nothing else is contacted. Bounded: at most
`--seconds` and `--max-requests` per client count, plus the start (~30-60 s per worker count and variant here).
"""

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import yaml
from sample_server import ROOT, SampleServer, percentile
from soak_audit import Audit, audit_database

from dialogue.context import is_follow_up
from dialogue.policy import wants_person

sys.path.insert(0, str(ROOT))  # tests/support: the test suite's database helper
from tests.support.postgres import fresh_postgres_database  # noqa: E402

POSTGRES_URL = "postgresql+psycopg://helpdesk_ci:helpdesk_ci@127.0.0.1:5432/helpdesk_ci"
TIMEOUT_SECONDS = 60.0


@dataclass
class Level:
    """What the clients of one client count saw."""

    clients: int
    sent: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # sender -> [(message id, text)]
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests
    kinds: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)  # "status: detail (the message)" of each refused request
    seconds: float = 0.0
    server_cpu_seconds: float = 0.0  # user + system time of every server process during the level
    client_cpu_seconds: float = 0.0  # the same for this load generator, which shares the cores

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def cpu_ms_per_answer(self) -> float:
        return self.server_cpu_seconds * 1000 / self.answered if self.answered else float("nan")

    @property
    def faq_per_second(self) -> float:
        return self.kinds.get("faq", 0) / self.seconds if self.seconds else 0.0


def candidate_questions() -> list[str]:
    """Sample questions that stand on their own (no follow-up, no request for a person)."""
    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())
    texts = [text for faq in faqs for text in [faq["question"], *faq["alt_questions"]]]
    return list(dict.fromkeys(text for text in texts if not wants_person(text) and not is_follow_up(text)))


async def answered_verbatim(client: httpx.AsyncClient, texts: list[str]) -> list[str]:
    """The texts the server answers with a curated FAQ answer, each asked by a new customer."""
    kept = []
    run = uuid.uuid4().hex[:6]
    for batch_start in range(0, len(texts), 8):
        batch = texts[batch_start : batch_start + 8]
        responses = await asyncio.gather(*(
            client.post("/webhooks/rest/webhook", json={"sender": f"probe-{run}-{batch_start + i}", "message": text})
            for i, text in enumerate(batch)))
        for text, response in zip(batch, responses):
            response.raise_for_status()
            if all(reply["custom"]["kind"] == "faq" for reply in response.json()):
                kept.append(text)
    return kept


async def client_loop(client: httpx.AsyncClient, number: int, level: Level, pool: list[str], per_customer: int,
                      stop_at: float, budget: list[int]) -> None:
    customer = 0
    while time.monotonic() < stop_at and budget[0] > 0:
        sender = f"load-{level.clients}-{number:03d}-{customer:04d}"
        messages = level.sent.setdefault(sender, [])
        for index in range(per_customer):
            if time.monotonic() >= stop_at or budget[0] <= 0:
                return
            budget[0] -= 1
            text = pool[(number * 7 + customer * per_customer + index) % len(pool)]
            message_id = f"m{index}"
            messages.append((message_id, text))
            body = {"sender": sender, "message": text, "metadata": {"message_id": message_id}}
            started = time.perf_counter()
            try:
                response = await client.post("/webhooks/rest/webhook", json=body)
            except httpx.TransportError as error:
                level.errors[type(error).__name__] = level.errors.get(type(error).__name__, 0) + 1
                continue
            if response.status_code != 200:
                level.errors[str(response.status_code)] = level.errors.get(str(response.status_code), 0) + 1
                level.refusals.append(f"{response.status_code}: {_detail(response)} (message {text!r})")
                continue
            level.latencies.append(time.perf_counter() - started)
            for reply in response.json():
                level.kinds[reply["custom"]["kind"]] = level.kinds.get(reply["custom"]["kind"], 0) + 1
        customer += 1


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:200]


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by the server: its supervisor and every worker."""
    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def run_levels(base: str, counts: list[int], args: argparse.Namespace, pid: int | None = None) -> list[Level]:
    limits = httpx.Limits(max_connections=max(counts) + 8, max_keepalive_connections=max(counts) + 8)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=TIMEOUT_SECONDS) as client:
        pool = await answered_verbatim(client, candidate_questions())
        if len(pool) < args.per_customer:
            raise SystemExit(f"only {len(pool)} sample questions are answered verbatim; is this the sample KB?")
        levels = []
        for count in counts:
            level = Level(count)
            cpu_before = cpu_seconds(pid) if pid else 0.0
            client_before = sum(psutil.Process().cpu_times()[:2])
            started = time.monotonic()
            budget = [args.max_requests]
            await asyncio.gather(*(client_loop(client, number, level, pool, args.per_customer,
                                               started + args.seconds, budget) for number in range(count)))
            level.seconds = time.monotonic() - started
            level.server_cpu_seconds = cpu_seconds(pid) - cpu_before if pid else float("nan")
            level.client_cpu_seconds = sum(psutil.Process().cpu_times()[:2]) - client_before
            levels.append(level)
            print(f"  {count:>3} clients: {level.answered} answers in {level.seconds:.1f} s", flush=True)
        return levels


@dataclass
class Run:
    """One server: its variant's settings, worker count, levels, the database audit and what its log said."""

    variant: str
    workers: int
    levels: list[Level]
    audit: Audit
    startup: float
    write_p95_ms: float  # the worst logged 95th percentile of first write statements (core/sqlite_writes.py)
    held_p95_ms: float  # the same for the time from a transaction's first write to its commit


_WRITE_P95 = re.compile(r"first write statement .*? p95 ([0-9.]+) ms.*first write to commit .*? p95 ([0-9.]+) ms")


def run_server(workers: int, variant: str, args: argparse.Namespace, work: Path) -> Run:
    if args.backend == "sqlite":
        url, drop = f"sqlite:///{work / 'load.db'}", None
    else:
        url, drop = fresh_postgres_database(args.postgres_url, prefix="helpdesk_soak")
    env = {"HELPDESK_DATABASE_URL": url, "HELPDESK_DEVICE": "cpu", "HF_HUB_OFFLINE": "1",
           "HELPDESK_MAX_NEW_TOKENS": "32", **dict(pair.split("=", 1) for pair in variant.split())}
    server = SampleServer(work / "data", args.models_dir, env, log=work / "serve.log",
                          args=["--workers", str(workers)])
    try:
        print(f"[{workers} worker(s), {args.backend}, {variant or 'defaults'}] starting the server "
              f"(log: {server.log})", flush=True)
        startup = server.start()
        levels = asyncio.run(run_levels(server.base, args.counts, args, server.process.pid))
        server.stop()  # drained: every answer given is committed before the count
        sent = {sender: messages for level in levels for sender, messages in level.sent.items()}
        waits = [(float(wait), float(held)) for wait, held in _WRITE_P95.findall(server.log.read_text())]
        return Run(variant, workers, levels, audit_database(url, sent), startup,
                   max((wait for wait, _ in waits), default=float("nan")),
                   max((held for _, held in waits), default=float("nan")))
    finally:
        server.stop()
        if drop:
            drop()


def print_table(runs: list[Run], args: argparse.Namespace) -> None:
    print(f"\nFAQ answers under load: sample KB, REST channel, {args.backend}, {args.seconds:g} s per level "
          f"(at most {args.max_requests} requests), {args.per_customer} questions per customer, "
          f"{os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.1f}\n")
    print("Server CPU ms/answer is the CPU time all server processes used during the level per answer: "
          "what the throughput on an otherwise idle machine is bounded by (cores × 1000 / it). Client CPU ms/answer: "
          "the same for this load generator, which competes for the same cores.\n")
    print("| variant | workers | clients | answers | FAQ answers/s | p50 ms | p95 ms | p99 ms | server CPU ms/answer | "
          "client CPU ms/answer | other kinds | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        for level in run.levels:
            lat = level.latencies or [float("nan")]
            others = ", ".join(f"{kind} {n}" for kind, n in sorted(level.kinds.items()) if kind != "faq") or "-"
            errors = ", ".join(f"{kind} {n}" for kind, n in sorted(level.errors.items())) or "0"
            client_ms = level.client_cpu_seconds * 1000 / level.answered if level.answered else float("nan")
            print(f"| {run.variant or 'defaults'} | {run.workers} | {level.clients} | {level.answered} | "
                  f"{level.faq_per_second:.1f} | {percentile(lat, 0.5) * 1000:.0f} | "
                  f"{percentile(lat, 0.95) * 1000:.0f} | {percentile(lat, 0.99) * 1000:.0f} | "
                  f"{level.cpu_ms_per_answer:.1f} | {client_ms:.1f} | {others} | {errors} |")
    refused = [(run, level, refusal) for run in runs for level in run.levels for refusal in level.refusals]
    if refused:
        print("\nRefused requests (status: detail):\n")
        for run, level, refusal in refused[:20]:
            print(f"- {run.variant or 'defaults'}, {level.clients} clients: {refusal}")
        if len(refused) > 20:
            print(f"- ... and {len(refused) - 20} more")
    print("\n| variant | workers | start s | messages sent | user turns / bot turns stored | lost / duplicated / "
          "unanswered / out of order | first write p95 ms | first write to commit p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        sent = sum(len(messages) for level in run.levels for messages in level.sent.values())
        audit = run.audit
        print(f"| {run.variant or 'defaults'} | {run.workers} | {run.startup:.1f} | {sent} | "
              f"{audit.user_turns} / {audit.bot_turns} | "
              f"{audit.lost} / {audit.duplicated} / {audit.unanswered} / {audit.out_of_order} | "
              f"{run.write_p95_ms:.1f} | {run.held_p95_ms:.1f} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default=str(len(os.sched_getaffinity(0))),
                        help="server processes; a list (1,2) runs the table once per count (default: the cores)")
    parser.add_argument("--clients", default="1,8,32", help="client counts, run in this order")
    parser.add_argument("--seconds", type=float, default=10.0, help="per client count")
    parser.add_argument("--max-requests", type=int, default=5000, help="per client count")
    parser.add_argument("--per-customer", type=int, default=5, help="questions each customer asks")
    parser.add_argument("--variant", action="append", default=[],
                        help="settings for one more run of the table, e.g. 'HELPDESK_SQLITE_WRITE_LOCK=false' "
                             "(space-separated NAME=VALUE pairs; repeat for several variants)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("HELPDESK_TEST_POSTGRES_URL", POSTGRES_URL),
                        help="a role that may create databases; the run gets a fresh one, dropped after")
    parser.add_argument("--models-dir", default=os.environ.get("HELPDESK_TEST_MODELS_DIR"))
    args = parser.parse_args()
    args.counts = [int(count) for count in args.clients.split(",") if count.strip()]
    args.worker_counts = [int(count) for count in args.workers.split(",") if count.strip()]
    if min(args.counts + args.worker_counts) < 1 or args.seconds <= 0 or args.max_requests < 1:
        parser.error("client and worker counts, --seconds and --max-requests must be positive")
    if any("=" not in pair for variant in args.variant for pair in variant.split()):
        parser.error("--variant takes NAME=VALUE pairs, e.g. --variant HELPDESK_SQLITE_WRITE_LOCK=false")
    args.models_dir = args.models_dir or str(ROOT / "data" / "models")
    return args


def main() -> None:
    args = parse_args()
    runs = []
    for variant in args.variant or [""]:
        for workers in args.worker_counts:
            work = Path(tempfile.mkdtemp(prefix=f"helpdesk-load-{workers}w-"))
            runs.append(run_server(workers, variant, args, work))
    print_table(runs, args)


if __name__ == "__main__":
    main()
