"""The judgement's LM calls alone, per llama.cpp weight type: how long a rewrite and a checked answer take.

The judge (dialogue/judgement.py) calls the LM twice at most per message: it rewrites a follow-up or an
uncertain message into a standalone question (~150 prompt tokens, ~20 written), and it answers from numbered
snippets in JSON (~600 prompt tokens, ~60 written). A model's GGUF is served re-written as HELPDESK_LM_WEIGHTS
says (f16 by default, chosen on the 135M SmolLM2); this bench times both calls with each weight type given, on
the follow-up turns of an eval file's conversations (the earlier turns and their FAQs' answers as history) and
on its partial questions, so the weight type of a capable model is chosen on a measurement.

    HELPDESK_LM_MODEL=qwen2.5-coder-1.5b .venv/bin/python bench/rewrite_latency.py --weights original,q8_0,f16
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.settings import get_settings  # noqa: E402
from dialogue.answering import Question  # noqa: E402
from dialogue.judgement import Judge, JudgementConfig  # noqa: E402
from dialogue.lm.backends import default_prompt_threads, default_threads  # noqa: E402
from dialogue.lm.llamacpp_generator import LlamaCppGenerator  # noqa: E402
from dialogue.messages import TurnRole  # noqa: E402
from dialogue.context import SearchQuery  # noqa: E402
from retrieval.faq_files import read_faq_file  # noqa: E402
from training.calibration import load_eval_set  # noqa: E402
from training.conversation_eval import load_conversations  # noqa: E402


def samples(faqs: Path, eval_file: Path, count: int) -> list[tuple[Question, list[str]]]:
    """Follow-up turns with their history, then partial questions; each with the snippets of its FAQs and the
    next two FAQs (what an answer prompt holds)."""
    drafts = read_faq_file(faqs).drafts
    answer_of = {d.question: d.answer for d in drafts}
    texts = [f"{d.question}\n{d.answer}" for d in drafts]
    index_of = {d.question: i for i, d in enumerate(drafts)}

    def snippets(expected) -> list[str]:
        first = index_of[sorted(expected)[0]] if expected else 0
        return [texts[(first + k) % len(texts)] for k in range(3)]

    found = []
    for turns in load_conversations(eval_file):
        history = []
        for turn in turns:
            if history:
                found.append((Question(turn.query, SearchQuery(turn.query), list(history)), snippets(turn.expected)))
            history += [(TurnRole.USER, turn.query),
                        (TurnRole.BOT, answer_of[sorted(turn.expected)[0]] if turn.expected else "Sorry.")]
    partial = [q for q in load_eval_set(eval_file) if q.group == "partial"]
    found += [(Question(q.query, SearchQuery(q.query)), snippets(q.expected)) for q in partial]
    return found[:count]


def measure(weights: str, model: str, models_dir: Path, chosen: list[tuple[Question, list[str]]]) -> dict:
    generator = LlamaCppGenerator(model, models_dir, threads=int(os.environ.get("HELPDESK_LM_THREADS") or 0)
                                  or default_threads(), prompt_threads=default_prompt_threads(), weights=weights)
    started = time.perf_counter()
    generator.warm_up()
    load = time.perf_counter() - started
    judge = Judge(generator, JudgementConfig(mode="on"), "Nimbus Home")
    judge.rewrite(chosen[0][0])  # warm-up
    rewrites, answers, examples = [], [], []
    for question, snippets in chosen:
        started = time.perf_counter()
        rewritten = judge.rewrite(question)
        rewrites.append(time.perf_counter() - started)
        started = time.perf_counter()
        judge.ask(judge.answer_prompt(question, snippets), judge.config.answer_tokens)
        answers.append(time.perf_counter() - started)
        examples.append((question.text, rewritten))
    generator.close()
    return {"load": load, "rewrite": rewrites, "answer": answers, "examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="original,q8_0,f16", help="comma-separated HELPDESK_LM_WEIGHTS values")
    parser.add_argument("--kb", nargs=2, type=Path, metavar=("FAQS", "EVAL_FILE"),
                        default=(ROOT / "training/eval_sets/mobile_operator/faqs.yaml",
                                 ROOT / "training/eval_sets/mobile_operator/eval.yaml"))
    parser.add_argument("--count", type=int, default=10, help="messages timed per weight type")
    args = parser.parse_args()
    settings = get_settings()
    chosen = samples(*args.kb, args.count)
    rows = {weights: measure(weights, settings.lm_model, settings.resolved_models_dir, chosen)
            for weights in args.weights.split(",")}
    print(f"\n{settings.lm_model}, llama.cpp, {len(chosen)} messages of {args.kb[1].parent.name}/{args.kb[1].name}, "
          f"{os.cpu_count()} cores\n")
    print("| HELPDESK_LM_WEIGHTS | load s | rewrite p50 s | rewrite p90 s | answer step p50 s | answer step p90 s |")
    print("|---|---:|---:|---:|---:|---:|")
    for weights, row in rows.items():
        print(f"| {weights} | {row['load']:.1f} | {statistics.median(row['rewrite']):.2f} | {_p90(row['rewrite']):.2f} "
              f"| {statistics.median(row['answer']):.2f} | {_p90(row['answer']):.2f} |")
    print("\nRewrites (first weight type):")
    for text, rewritten in next(iter(rows.values()))["examples"]:
        print(f"- {text!r} -> {rewritten!r}")


def _p90(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.9 * len(values)))]


if __name__ == "__main__":
    main()
