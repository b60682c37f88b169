"""The LM with many customers at once: the product against plain batched `generate` on the same weights.

For each architecture (SmolLM2-135M, Qwen2.5-0.5B, Qwen2.5-1.5B, built from their configs with random
weights: speed does not depend on the weights' values, and nothing is downloaded) and each number of
customers (1, 8, 32), one run prints side by side:

- the product: `TransformersGenerator` (dialogue/lm/transformers_generator.py), N threads asking for a reply
  at the same moment with streaming on, as N customers would: time until the last reply is done, tokens/s,
  first text p50 and p95 (from the moment they asked);
- the reference: the same N prompts left-padded into one `model.generate` on the same weights; for one
  customer also `generate(cache_implementation="static")` (compiled on CUDA after warm-up calls).

Plus, with --embedded, the embedded SmolLM2 itself (real weights; its replies end when the model ends them).

The prompts are the sample shop's reply prompts as dialogue/prompt.py builds them (bench/gpu_prompts.json,
~430 tokens; rewritten with --write-prompts), 60 new tokens, greedy. Random weights never end a reply and
write only tokens the tokenizer can show: the output rows of the end-of-text token and of ids beyond the
tokenizer's vocabulary are zeroed, so every reply is 60 tokens and streams like a real one.

This file imports only torch, transformers and dialogue.lm, which the GPU machine has (it lacks faiss,
SQLAlchemy and presidio). It needs a tokenizer folder (--tokenizer; the embedded SmolLM2's converted folder
has one, or copy its tokenizer.json, tokenizer_config.json and chat_template.jinja anywhere).

    python bench/gpu.py                                    # CUDA: the three architectures, 1, 8, 32 customers
    python bench/gpu.py --device cpu --customers 1,4,8 --archs smollm2-135m --embedded
"""

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogue.lm.transformers_generator import TransformersGenerator  # noqa: E402

PROMPTS = Path(__file__).with_name("gpu_prompts.json")
ARCHITECTURES = {  # the published configs' shapes
    "smollm2-135m": ("llama", dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
        vocab_size=49152, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=True)),
    "qwen2.5-0.5b": ("qwen2", dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
        vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=True)),
    "qwen2.5-1.5b": ("qwen2", dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
        vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=True)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA when PyTorch sees it), cuda or cpu")
    parser.add_argument("--customers", default="1,8,32")
    parser.add_argument("--archs", default=",".join(ARCHITECTURES))
    parser.add_argument("--embedded", action="store_true", help="also the embedded SmolLM2 itself, on the CPU")
    parser.add_argument("--max-new-tokens", type=int, default=60)
    parser.add_argument("--tokenizer", default=None, help="a tokenizer folder (default: the embedded SmolLM2's)")
    parser.add_argument("--models-dir", default=os.environ.get("HELPDESK_TEST_MODELS_DIR") or str(ROOT / "data/models"))
    parser.add_argument("--no-compile", action="store_true", help="the product without its compiled one-reply step")
    parser.add_argument("--write-prompts", action="store_true", help="rewrite bench/gpu_prompts.json and stop")
    args = parser.parse_args()
    if args.write_prompts:
        return write_prompts()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    customers = [int(n) for n in args.customers.split(",")]
    tokenizer_folder = args.tokenizer or str(Path(args.models_dir) / "SmolLM2-135M-Instruct")
    prompts = json.loads(PROMPTS.read_text())
    print(header(device, tokenizer_folder, prompts))
    rows = []
    for arch in [a for a in args.archs.split(",") if a]:
        with tempfile.TemporaryDirectory(prefix=f"bench-{arch}-") as folder:
            build_random(arch, tokenizer_folder, Path(folder), device)
            rows += measure(arch, folder, Path(args.models_dir), device, customers, prompts, args)
    if args.embedded:
        rows += measure("embedded SmolLM2-135M-Instruct", "default", Path(args.models_dir), "cpu", customers, prompts,
                        args)
    print_table(rows, args.max_new_tokens)


def write_prompts() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from lm_prompts import reply_prompts  # builds through dialogue/prompt.py, which needs the full install

    PROMPTS.write_text(json.dumps(reply_prompts(32, lambda text: len(text) // 4), indent=1, ensure_ascii=False))
    print(f"wrote {PROMPTS}")


def header(device: str, tokenizer_folder: str, prompts: list) -> str:
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    lengths = [len(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)
                   ["input_ids"]) for p in prompts]
    return (f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {device_name(device)}, torch {torch.__version__}, "
            f"{'bf16' if device == 'cuda' else 'fp32'}, prompts {min(lengths)}-{max(lengths)} tokens "
            f"(mean {sum(lengths) / len(lengths):.0f})\n")


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{model}, {len(os.sched_getaffinity(0))} cores, {torch.get_num_threads()} torch threads"


def build_random(arch: str, tokenizer_folder: str, folder: Path, device: str) -> None:
    """The architecture with random weights, saved with a real tokenizer so the product loads it like any model."""
    kind, shape = ARCHITECTURES[arch]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    eos = tokenizer.eos_token_id
    config = AutoConfig.for_model(kind, **shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=eos,
                                  pad_token_id=tokenizer.pad_token_id or eos)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    with torch.no_grad():  # replies of full length, in tokens the tokenizer can show
        output = model.get_output_embeddings().weight
        output[eos] = 0
        output[len(tokenizer):] = 0
    model.generation_config.eos_token_id = eos
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def measure(name: str, model: str, models_dir: Path, device: str, customers: list[int], prompts: list, args) -> list:
    started = time.perf_counter()
    generator = TransformersGenerator(model, models_dir, device=device, slots=max(customers), queue_limit=64,
                                      solo=False if args.no_compile else None)
    generator.warm_up()
    load = time.perf_counter() - started
    print(f"{name}: loaded in {load:.1f} s" + (f", one-reply step compiled in {generator.compile_seconds:.1f} s"
                                                if generator.compile_seconds else ""), flush=True)
    at_once(generator, prompts[:2], args.max_new_tokens)  # warm-up: kernels for one and two rows
    rows = []
    for n in customers:
        product = at_once(generator, [prompts[i % len(prompts)] for i in range(n)], args.max_new_tokens)
        reference = plain_generate(generator, [prompts[i % len(prompts)] for i in range(n)], args.max_new_tokens)
        rows.append({"name": name, "customers": n, **product, **reference})
        print(f"  {n} customers: product {product['wall']:.2f} s, generate {reference['reference']:.2f} s", flush=True)
    generator.close()
    return rows


def at_once(generator: TransformersGenerator, prompts: list, max_new_tokens: int) -> dict:
    """N customers asking at the same moment; the product streams each reply to its own reader."""
    first: list[float] = [float("nan")] * len(prompts)
    tokens = [0] * len(prompts)
    gate = threading.Barrier(len(prompts) + 1)

    def customer(index: int) -> None:
        gate.wait()
        asked = time.perf_counter()

        def shown(piece: str) -> None:
            if math.isnan(first[index]):  # the first piece of text
                first[index] = time.perf_counter() - asked

        tokens[index] = generator.generate(prompts[index], max_new_tokens=max_new_tokens, temperature=0,
                                           on_text=shown).new_tokens

    threads = [threading.Thread(target=customer, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    shown = sorted(value for value in first if not math.isnan(value))
    return {"wall": wall, "tokens": sum(tokens), "first_p50": percentile(shown, 0.5),
            "first_p95": percentile(shown, 0.95)}


def plain_generate(generator: TransformersGenerator, prompts: list, max_new_tokens: int) -> dict:
    """The same prompts left-padded into one `generate` on the same weights, every reply forced to full length."""
    model, tokenizer = generator.engine.model, generator._tokenizer
    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    run = {"max_new_tokens": max_new_tokens, "min_new_tokens": max_new_tokens, "do_sample": False,
           "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id}
    figures = {"reference": timed(model, batch, run)}
    if len(prompts) == 1 and model.device.type == "cuda":
        for _ in range(2):  # the static cache's decoding step compiles during the first calls
            timed(model, batch, run | {"cache_implementation": "static"})
        figures["static"] = timed(model, batch, run | {"cache_implementation": "static"})
    return figures


def timed(model, batch, run: dict) -> float:
    synchronize(model)
    started = time.perf_counter()
    with torch.inference_mode():
        model.generate(**batch, **run)
    synchronize(model)
    return time.perf_counter() - started


def synchronize(model) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def print_table(rows: list[dict], max_new_tokens: int) -> None:
    print(f"\n{max_new_tokens} new tokens a reply, greedy; times from the moment the customers asked\n")
    print("| model | customers | product: all replies s | product tok/s | first text p50 ms | first text p95 ms | "
          "batched generate s | generate tok/s | product / generate | static generate s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        reference_tps = r["customers"] * max_new_tokens / r["reference"]
        static = f"{r['static']:.2f}" if "static" in r else ""
        print(f"| {r['name']} | {r['customers']} | {r['wall']:.2f} | {r['tokens'] / r['wall']:.1f} | "
              f"{r['first_p50'] * 1000:.0f} | {r['first_p95'] * 1000:.0f} | {r['reference']:.2f} | "
              f"{reference_tps:.1f} | {r['wall'] / r['reference']:.2f} | {static} |")


if __name__ == "__main__":
    main()
