"""Batched generation: 8 replies at once against one at a time, and FAQ answers while they are written.

1. In this process, the --backend (llamacpp or transformers) writes the same N reply prompts (greedy,
   --max-new-tokens) one after another (batch 1), then all at once from N threads (continuous batching):
   aggregate tokens/s.
2. Over HTTP against `helpdesk serve --sample-kb` with that backend: N customers whose questions reach the LM
   (the sample shop's questions its FAQs answer only partly) ask one after another, then N fresh customers
   ask the same at once: the time until the last is answered, each way (the target of issue 25: at once
   takes at most a third of one after another).
3. Over HTTP (llamacpp only): while N customers wait for generated replies, another customer asks FAQ
   questions one after another; prints the FAQ latency then, and idle for comparison.

    .venv/bin/python bench/lm_concurrency.py [--backend transformers] [--customers 8] [--max-new-tokens 64]
        [--dtypes float32,bfloat16]   (transformers: one row per precision, in one run)

The in-process run reads HELPDESK_LM_THREADS, HELPDESK_LM_PROMPT_THREADS and HELPDESK_LM_WEIGHTS as the server does.
"""

import argparse
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml
from lm_prompts import reply_prompts
from sample_server import ROOT, SampleServer, percentile, sample_server

TARGET = 1 / 3  # issue 25: N customers at once in at most a third of the time of one after another


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["llamacpp", "transformers"], default="llamacpp")
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--no-http", action="store_true", help="only the in-process batching run")
    parser.add_argument("--no-in-process", action="store_true", help="only the runs over HTTP")
    parser.add_argument("--workers", type=int, default=None, help="server processes (default: the server's, one "
                                                                  "per core)")
    parser.add_argument("--models-dir", default=os.environ.get("HELPDESK_TEST_MODELS_DIR"))
    parser.add_argument("--dtypes", default="auto", help="transformers: HELPDESK_LM_DTYPE values to compare, "
                                                         "comma-separated (auto, float32, bfloat16)")
    args = parser.parse_args()
    models_dir = args.models_dir or str(ROOT / "data" / "models")
    dtypes = [d.strip() for d in args.dtypes.split(",")] if args.backend == "transformers" else ["auto"]
    if not args.no_in_process:
        for dtype in dtypes:
            print_in_process(args, dtype, in_process(args.backend, args.customers, args.max_new_tokens,
                                                     Path(models_dir), dtype))
    if args.no_http:
        return
    runs = {dtype: customers_over_http(args.backend, args.customers, args.max_new_tokens, models_dir, args.workers,
                                       dtype) for dtype in dtypes}
    print_customers(args, runs)
    if args.backend != "llamacpp":
        return
    faq = over_http(args.customers, args.max_new_tokens, models_dir)
    print(f"\nFAQ answers over HTTP (sample KB; {args.customers} customers waiting for generated replies)\n")
    print("| while | n | p50 ms | max ms |")
    print("|---|---|---|---|")
    for name, values in faq.items():
        print(f"| {name} | {len(values)} | {percentile(values, 0.5):.0f} | {max(values):.0f} |")
    busy = faq["generations in flight"]
    print(f"\nFAQ p50 while they wait < 100 ms: {'PASS' if percentile(busy, 0.5) < 100 else 'FAIL'}")


def print_in_process(args, dtype: str, batch: dict[str, tuple[float, int]]) -> None:
    print(f"\n{args.backend} (HELPDESK_LM_DTYPE={dtype}), {args.customers} reply prompts, greedy, max "
          f"{args.max_new_tokens} new tokens, {os.cpu_count()} cores\n")
    print("| run | wall s | new tokens | aggregate tok/s |")
    print("|---|---|---|---|")
    for name, (wall, tokens) in batch.items():
        print(f"| {name} | {wall:.2f} | {tokens} | {tokens / wall:.1f} |")
    gain = (batch["batched"][1] / batch["batched"][0]) / (batch["one at a time"][1] / batch["one at a time"][0])
    print(f"\nbatched / one at a time: {gain:.2f}x {'PASS' if gain >= 2 else 'FAIL'} (target >= 2x)")


def in_process(backend: str, customers: int, max_new_tokens: int, models_dir: Path,
               dtype: str = "auto") -> dict[str, tuple[float, int]]:
    from dialogue.lm.backends import LMConfig, build_generator, choose_backend, default_prompt_threads, default_threads

    threads = int(os.environ.get("HELPDESK_LM_THREADS") or 0) or default_threads()
    prompt_threads = int(os.environ.get("HELPDESK_LM_PROMPT_THREADS") or 0) or default_prompt_threads()
    config = LMConfig(backend, "default", models_dir, device="cpu", slots=customers, threads=threads,
                      prompt_threads=prompt_threads, weights=os.environ.get("HELPDESK_LM_WEIGHTS") or "auto",
                      dtype=dtype)
    generator = build_generator(config, choose_backend(config))
    generator.warm_up()
    prompts = reply_prompts(customers, generator.count_tokens)
    generator.generate(prompts[0], max_new_tokens=4, temperature=0)  # warm-up

    def write(prompt):
        return generator.generate(prompt, max_new_tokens=max_new_tokens, temperature=0).new_tokens

    stats = getattr(generator, "fast", generator).engine.stats
    stats.decode_seconds, stats.decode_tokens = 0.0, 0
    started = time.perf_counter()
    alone = sum(write(prompt) for prompt in prompts)
    alone_wall = time.perf_counter() - started
    alone_decode = stats.decode_tokens / stats.decode_seconds
    stats.decode_seconds, stats.decode_tokens = 0.0, 0
    with ThreadPoolExecutor(customers) as pool:
        started = time.perf_counter()
        together = sum(pool.map(write, prompts))
        together_wall = time.perf_counter() - started
    together_decode = stats.decode_tokens / stats.decode_seconds
    generator.close()
    print(f"(most replies decoded in one step: {stats.busiest_step}; decoding steps alone, without prompt "
          f"work: {alone_decode:.1f} tok/s one at a time, {together_decode:.1f} tok/s batched, "
          f"{together_decode / alone_decode:.2f}x)")
    return {"one at a time": (alone_wall, alone), "batched": (together_wall, together)}


def customers_over_http(backend: str, customers: int, max_new_tokens: int, models_dir: str,
                        workers: int | None, dtype: str = "auto") -> dict:
    """N customers whose questions reach the LM: one after another, then N fresh ones at the same moment."""
    partial = [item["query"] for item in yaml.safe_load((ROOT / "bot/sample/eval.yaml").read_text())["partial"]]
    questions = [partial[i % len(partial)] for i in range(customers)]
    server = SampleServer(Path(tempfile.mkdtemp(prefix="helpdesk-bench-")), models_dir,
                          {"HELPDESK_MAX_NEW_TOKENS": str(max_new_tokens), "HELPDESK_LM_BACKEND": backend,
                           "HELPDESK_LM_DTYPE": dtype}, log=None,
                          args=["--workers", str(workers)] if workers else None)
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=600) as client:
            def ask(sender: str, text: str) -> tuple[float, str]:
                started = time.perf_counter()
                reply = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text}).json()[0]
                return time.perf_counter() - started, reply["custom"]["kind"]

            ask("warm-up", questions[0])
            started = time.perf_counter()
            alone = [ask(f"alone-{i}", question) for i, question in enumerate(questions)]
            alone_wall = time.perf_counter() - started
            with ThreadPoolExecutor(customers) as pool:
                started = time.perf_counter()
                together = list(pool.map(lambda item: ask(f"together-{item[0]}", item[1]), enumerate(questions)))
                together_wall = time.perf_counter() - started
    finally:
        server.stop()
    return {"one after another": (alone_wall, alone), "at once": (together_wall, together)}


def print_customers(args, runs: dict[str, dict]) -> None:
    print(f"\n{args.customers} customers whose questions reach the LM, over HTTP, backend {args.backend}, "
          f"max {args.max_new_tokens} new tokens, {args.workers or 'default'} server workers\n")
    print("| HELPDESK_LM_DTYPE | customers ask | all answered s | reply p50 s | reply max s | reply kinds |")
    print("|---|---|---|---|---|---|")
    for dtype, run in runs.items():
        for name, (wall, replies) in run.items():
            seconds = [s for s, _ in replies]
            kinds = ", ".join(f"{kind} {sum(k == kind for _, k in replies)}"
                              for kind in sorted({k for _, k in replies}))
            print(f"| {dtype} | {name} | {wall:.2f} | {percentile(seconds, 0.5):.2f} | {max(seconds):.2f} | {kinds} |")
    print()
    for dtype, run in runs.items():
        ratio = run["at once"][0] / run["one after another"][0]
        print(f"{dtype}: at once / one after another: {ratio:.2f} {'PASS' if ratio <= TARGET else 'FAIL'} "
              "(target <= 0.33)")


def over_http(customers: int, max_new_tokens: int, models_dir: str) -> dict[str, list[float]]:
    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())
    partial = [item["query"] for item in yaml.safe_load((ROOT / "bot/sample/eval.yaml").read_text())["partial"]]
    faq_queries = [faq["question"] for faq in faqs]
    with sample_server(max_new_tokens, models_dir) as base, httpx.Client(base_url=base, timeout=300) as client:
        def ask(sender, text):
            return client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})

        idle = [_timed(ask, f"idle-{i}", query) for i, query in enumerate(faq_queries)]
        in_flight = threading.Event()
        kinds = []

        def customer(index: int) -> None:
            in_flight.set()
            kinds.append(ask(f"waiting-{index}", partial[index % len(partial)]).json()[0]["custom"]["kind"])

        with ThreadPoolExecutor(customers) as pool:
            futures = [pool.submit(customer, i) for i in range(customers)]
            in_flight.wait()
            time.sleep(0.5)  # let their prompts reach the LM
            busy = []
            while not all(f.done() for f in futures):
                busy.append(_timed(ask, f"busy-{len(busy)}", faq_queries[len(busy) % len(faq_queries)]))
        print(f"(the {customers} waiting customers were answered as: {sorted(kinds)})")
    return {"idle": idle, "generations in flight": busy}


def _timed(ask, sender: str, text: str) -> float:
    started = time.perf_counter()
    reply = ask(sender, text).json()[0]
    elapsed = (time.perf_counter() - started) * 1000
    if reply["custom"]["kind"] != "faq":
        print(f"(note: {text!r} was answered as {reply['custom']['kind']})")
    return elapsed


if __name__ == "__main__":
    main()
