"""Chat latency over HTTP on the real server, and the LM backends side by side in one run.

Starts `helpdesk serve --sample-kb` on a free port with a fresh data folder (its LM backend is
HELPDESK_LM_BACKEND, llamacpp by default), then sends, one at a time, FAQ questions (strong matches,
answered verbatim) and partial questions (answered by the LM), and prints p50/p95 per kind. Then it loads
each backend of --backends in this process and times, on the same reply prompts (the sample eval set's
partial questions with their FAQ snippets, ~400 tokens) and the same greedy decoding: the first streamed
text, the whole reply, and a 60-token reply; and checks the targets of issue 10.

    .venv/bin/python bench/chat_latency.py [--rounds 3] [--backends transformers,llamacpp]
"""

import argparse
import dataclasses
import os
import time
from pathlib import Path

import httpx
import yaml
from lm_prompts import LONG_REPLY, reply_prompts
from sample_server import ROOT, percentile, sample_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--backends", default="transformers,llamacpp", help="LM backends to time, in this order")
    parser.add_argument("--prompts", type=int, default=8, help="reply prompts timed per backend")
    parser.add_argument("--long-runs", type=int, default=3, help="60-token replies per backend (the best counts)")
    parser.add_argument("--no-http", action="store_true", help="only the LM backends side by side")
    parser.add_argument("--variant", action="append", default=[],
                        help="llamacpp: also time it with these LMConfig fields, side by side with the settings' "
                             "values, e.g. --variant prompt_threads=2 --variant weights=q8_0 (repeatable; "
                             "space-separated NAME=VALUE pairs)")
    parser.add_argument("--models-dir", default=os.environ.get("HELPDESK_TEST_MODELS_DIR"))
    args = parser.parse_args()

    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())
    evaluation = yaml.safe_load((ROOT / "bot/sample/eval.yaml").read_text())
    # Each round asks other texts: a text asked before is answered from its kept vector (retrieval/batching.py
    # `RecentVectors`), which a customer's new message never is.
    faq_queries = [[faq["alt_questions"][round_number % len(faq["alt_questions"])] for faq in faqs]
                   for round_number in range(args.rounds)]
    generated_queries = [item["query"] for item in evaluation["partial"]][:8]

    # One models folder for the server and the LM speed run, so the embedded GGUF is converted at most once.
    models_dir = args.models_dir or str(ROOT / "data" / "models")
    if not args.no_http:
        chat_over_http(args, models_dir, faq_queries, generated_queries)
    figures = {}
    for backend in args.backends.split(","):
        figures[backend] = lm_speed(backend, Path(models_dir), args.prompts, args.long_runs)
        for variant in args.variant if backend == "llamacpp" else ():
            figures[f"llamacpp, {variant}"] = lm_speed(backend, Path(models_dir), args.prompts, args.long_runs,
                                                       variant)
    print_side_by_side(figures)


def chat_over_http(args, models_dir: str, faq_queries: list[list[str]], generated_queries: list[str]) -> None:
    with (sample_server(args.max_new_tokens, models_dir) as base,
          httpx.Client(base_url=base, timeout=120) as client):
        results: dict[str, list[float]] = {"faq": [], "generated": [], "fallback": []}
        kinds_seen: dict[str, dict[str, int]] = {"faq": {}, "generated": {}}
        for round_number in range(args.rounds):
            for label, queries in (("faq", faq_queries[round_number]), ("generated", generated_queries)):
                for index, query in enumerate(queries):
                    sender = f"bench-{label}-{round_number}-{index}"  # a fresh conversation each time
                    started = time.perf_counter()
                    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": query})
                    elapsed = (time.perf_counter() - started) * 1000
                    kind = response.json()[0]["custom"]["kind"]
                    kinds_seen[label][kind] = kinds_seen[label].get(kind, 0) + 1
                    results.setdefault(kind, []).append(elapsed)

    print(f"\nChat over HTTP ({args.rounds} rounds, sample KB, max_new_tokens={args.max_new_tokens}, "
          f"backend {os.environ.get('HELPDESK_LM_BACKEND', 'llamacpp')})\n")
    print("| reply kind | n | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for kind, values in results.items():
        if values:
            print(f"| {kind} | {len(values)} | {percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} |")
    print(f"\nqueries sent as FAQ questions were answered as: {kinds_seen['faq']}")
    print(f"queries sent as partial questions were answered as: {kinds_seen['generated']}")


def lm_speed(backend: str, models_dir: Path, prompts: int, long_runs: int, variant: str = "") -> dict:
    from dialogue.lm.backends import LMConfig, build_generator, default_prompt_threads, default_threads

    threads = int(os.environ.get("HELPDESK_LM_THREADS") or 0) or default_threads()
    prompt_threads = int(os.environ.get("HELPDESK_LM_PROMPT_THREADS") or 0) or default_prompt_threads()
    config = LMConfig(backend, "default", models_dir, device="cpu", slots=1, threads=threads,
                      prompt_threads=prompt_threads, weights=os.environ.get("HELPDESK_LM_WEIGHTS") or "auto")
    changes = dict(pair.split("=", 1) for pair in variant.split())
    config = dataclasses.replace(config, **{name: value if name == "weights" else int(value)
                                            for name, value in changes.items()})
    generator = build_generator(config)
    started = time.perf_counter()
    generator.warm_up()
    load = time.perf_counter() - started
    messages = reply_prompts(prompts, generator.count_tokens)
    generator.generate(messages[0], max_new_tokens=8, temperature=0)  # warm-up
    first, whole, tokens, prompt_tokens = [], [], [], []
    for prompt in messages:
        started, seen = time.perf_counter(), []
        run = generator.generate(prompt, max_new_tokens=60, temperature=0,
                                 on_text=lambda _: seen or seen.append(time.perf_counter()))
        first.append((seen[0] - started) * 1000 if seen else float("nan"))
        whole.append(run.seconds)
        tokens.append(run.new_tokens)
        prompt_tokens.append(run.prompt_tokens)
    long = [generator.generate(LONG_REPLY, max_new_tokens=60, temperature=0) for _ in range(long_runs)]
    best = min(long, key=lambda run: run.seconds)
    engine = getattr(getattr(generator, "fast", None), "engine", None)
    reused = engine.stats.reused_tokens / engine.stats.prompt_tokens if engine else 0.0
    if hasattr(generator, "close"):
        generator.close()
    return {"model": best.model_id, "load": load, "first": percentile(first, 0.5), "whole": percentile(whole, 0.5),
            "tokens": sum(tokens) / len(tokens), "prompt": sum(prompt_tokens) / len(prompt_tokens),
            "long": best.seconds, "long_tokens": best.new_tokens, "tps": best.new_tokens / best.seconds,
            "reused": reused, "n": len(messages)}


def print_side_by_side(figures: dict[str, dict]) -> None:
    print("\nLM backends side by side (same prompts, greedy, max 60 new tokens, this process, "
          f"{os.cpu_count()} cores)\n")
    print("| backend | load s | prompts | prompt tok | first text p50 ms | reply p50 s | reply tok (mean) | "
          "60-token reply s | decode tok/s | prompt tokens reused |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backend, f in figures.items():
        print(f"| {backend} | {f['load']:.1f} | {f['n']} | {f['prompt']:.0f} | {f['first']:.0f} | {f['whole']:.2f} | "
              f"{f['tokens']:.0f} | {f['long']:.2f} ({f['long_tokens']} tok) | {f['tps']:.1f} | {f['reused']:.0%} |")
    fast, slow = figures.get("llamacpp"), figures.get("transformers")
    if not fast:
        return
    print("\nTargets (issue 10):")
    print(f"- first text <= 400 ms: {fast['first']:.0f} ms {'PASS' if fast['first'] <= 400 else 'FAIL'}")
    print(f"- 60-token reply <= 1.5 s: {fast['long']:.2f} s {'PASS' if fast['long'] <= 1.5 else 'FAIL'}")
    if slow:
        ratio, long_ratio = slow["whole"] / fast["whole"], slow["long"] / fast["long"]
        print(f"- >= 3x transformers for the whole reply: {ratio:.1f}x on the reply prompts, {long_ratio:.1f}x on "
              f"the 60-token reply {'PASS' if min(ratio, long_ratio) >= 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
