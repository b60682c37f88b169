"""Query embeddings under concurrency: `BatchingEmbedder` now, beside itself at an earlier git revision.

Closed-loop clients (threads) each embed one new text at a time, as customers' messages arrive, through one
`BatchingEmbedder` over the real embedder (the configured one, MiniLM by default); every text is new (a
numbered reference is appended), so no kept vector answers it. Prints queries per second and p50/p95 latency
per client count, for the class at `--against REV` (retrieval/batching.py as git had it) and now, on the same
embedder and torch threads, alternated per client count.

    .venv/bin/python bench/embedding_batches.py --against 5cd214a [--threads 1] [--clients 1,4,8,16]
"""

import argparse
import itertools
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import yaml  # noqa: E402

from at_revision import module_at  # noqa: E402
from retrieval.batching import BatchingEmbedder  # noqa: E402
from retrieval.embedder import SentenceTransformerEmbedder  # noqa: E402


def measure(batching, clients: int, seconds: float, new_text) -> tuple[float, float, float]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            batching.embed([new_text()])
            latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    batching.close()
    latencies.sort()
    return len(latencies) / elapsed, statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="git revision whose BatchingEmbedder is compared")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a 2-worker server on 2 cores: 1)")
    parser.add_argument("--clients", default="1,4,8,16")
    parser.add_argument("--seconds", type=float, default=4.0, help="per client count and variant")
    parser.add_argument("--window-ms", type=float, default=3.0, help="HELPDESK_EMBED_BATCH_MS")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())
    texts = [text for faq in faqs for text in (faq["question"], *faq["alt_questions"])]
    numbers = itertools.count()

    def new_text() -> str:
        number = next(numbers)
        return f"{texts[number % len(texts)]} (ref {number})"

    embedder = SentenceTransformerEmbedder("default")
    embedder.embed(["warm up"])
    variants = [(f"at {args.against}", module_at(args.against, "retrieval/batching.py").BatchingEmbedder),
                ("now", BatchingEmbedder)]
    print(f"\nQuery embeddings, {embedder.model_id}, torch threads {args.threads}, window {args.window_ms} ms, "
          f"{args.seconds:g} s per cell\n")
    print("| clients | " + " | ".join(f"{name}: queries/s | p50 ms | p95 ms" for name, _ in variants) + " |")
    print("|---:|" + "---:|---:|---:|" * len(variants))
    for clients in (int(count) for count in args.clients.split(",")):
        cells = [measure(batching(embedder, args.window_ms / 1000), clients, args.seconds, new_text)
                 for _, batching in variants]
        print(f"| {clients} | " + " | ".join(f"{rate:.0f} | {p50:.1f} | {p95:.1f}" for rate, p50, p95 in cells)
              + " |", flush=True)


if __name__ == "__main__":
    main()
