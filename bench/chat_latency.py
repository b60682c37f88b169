"""Chat latency over HTTP on the real server, and LM decoding speed.

Starts `helpdesk serve --sample-kb` on a free port with a fresh data folder, then sends, one at a time,
FAQ questions (strong matches, answered verbatim) and partial questions (answered by the LM), and prints
p50/p95 per kind plus the LM's tokens per second.

    .venv/bin/python bench/chat_latency.py [--rounds 3] [--max-new-tokens 64]
"""

import argparse
import os
import time
from pathlib import Path

import httpx
import yaml
from sample_server import ROOT, percentile, sample_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--models-dir", default=os.environ.get("HELPDESK_TEST_MODELS_DIR"))
    args = parser.parse_args()

    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text())
    evaluation = yaml.safe_load((ROOT / "bot/sample/eval.yaml").read_text())
    faq_queries = [alt for faq in faqs for alt in faq["alt_questions"][:1]]
    generated_queries = [item["query"] for item in evaluation["partial"]][:8]

    # One models folder for the server and the LM speed run, so the embedded GGUF is converted at most once.
    models_dir = args.models_dir or str(ROOT / "data" / "models")
    with (sample_server(args.max_new_tokens, models_dir) as base,
          httpx.Client(base_url=base, timeout=120) as client):
        results: dict[str, list[float]] = {"faq": [], "generated": [], "fallback": []}
        kinds_seen: dict[str, dict[str, int]] = {"faq": {}, "generated": {}}
        for round_number in range(args.rounds):
            for label, queries in (("faq", faq_queries), ("generated", generated_queries)):
                for index, query in enumerate(queries):
                    sender = f"bench-{label}-{round_number}-{index}"  # a fresh conversation each time
                    started = time.perf_counter()
                    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": query})
                    elapsed = (time.perf_counter() - started) * 1000
                    kind = response.json()[0]["custom"]["kind"]
                    kinds_seen[label][kind] = kinds_seen[label].get(kind, 0) + 1
                    results.setdefault(kind, []).append(elapsed)

    lm = lm_speed(models_dir, args.max_new_tokens)
    print(f"\nChat over HTTP ({args.rounds} rounds, sample KB, max_new_tokens={args.max_new_tokens})\n")
    print("| reply kind | n | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for kind, values in results.items():
        if values:
            print(f"| {kind} | {len(values)} | {percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} |")
    print(f"\nqueries sent as FAQ questions were answered as: {kinds_seen['faq']}")
    print(f"queries sent as partial questions were answered as: {kinds_seen['generated']}")
    print("\n| LM | prompt tokens | new tokens | decode tok/s | total s |")
    print("|---|---|---|---|---|")
    print(f"| {lm['model']} | {lm['prompt']} | {lm['new']} | {lm['tps']:.1f} | {lm['seconds']:.2f} |")


def lm_speed(models_dir: str, max_new_tokens: int) -> dict:
    from dialogue.generation import TransformersGenerator

    generator = TransformersGenerator("default", Path(models_dir), device="auto")
    generator.warm_up()
    messages = [{"role": "system", "content": "You are a helpful support assistant."},
                {"role": "user", "content": "Write a detailed paragraph on how to care for a smart thermostat."}]
    generator.generate(messages, max_new_tokens=8, temperature=0)  # warm-up
    runs = [generator.generate(messages, max_new_tokens=max_new_tokens, temperature=0) for _ in range(3)]
    best = min(runs, key=lambda run: run.seconds)
    return {"model": best.model_id, "prompt": best.prompt_tokens, "new": best.new_tokens,
            "tps": best.new_tokens / best.seconds, "seconds": best.seconds}


if __name__ == "__main__":
    main()
