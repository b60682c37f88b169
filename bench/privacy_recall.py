"""What the masking catches: recall per kind on the seeded personal-data set, the known misses, the cost.

Runs dialogue/privacy.py's `Masker` (the one used before storage) over tests/support/privacy_seeds.py: SEEDS (the
formats it claims, 212 values in 68 support messages) and HARD (formats it is known to miss or cut), and
over the sample knowledge base's questions for false positives. Prints one table; ~20 s, mostly imports.

    .venv/bin/python bench/privacy_recall.py
"""

import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogue.privacy import Masker  # noqa: E402
from tests.support.privacy_seeds import HARD, messages  # noqa: E402


def main() -> None:
    masker = Masker()
    masker.mask("warm up: 4111 1111 1111 1111 ann@example.com")
    caught, named, total, timings = Counter(), Counter(), Counter(), []
    for text, seeds in messages():
        started = time.thread_time()  # CPU time: a busy machine does not inflate it
        masked = masker.mask(text)
        timings.append((time.thread_time() - started) * 1000)
        for seed in seeds:
            total[seed.kind] += 1
            caught[seed.kind] += seed.value not in masked.text
            named[seed.kind] += any(f.entity.value == seed.kind and f.value == seed.value for f in masked.findings)
    print(f"{'kind':<10}{'values':>8}{'masked':>8}{'recall':>8}{'named':>8}")
    for kind in sorted(total):
        print(f"{kind:<10}{total[kind]:>8}{caught[kind]:>8}{caught[kind] / total[kind]:>8.2f}{named[kind]:>8}")
    print(f"{'all':<10}{sum(total.values()):>8}{sum(caught.values()):>8}"
          f"{sum(caught.values()) / sum(total.values()):>8.2f}{sum(named.values()):>8}")
    print(f"\nmasking CPU time per message ({len(timings)} messages): p50 {statistics.median(timings):.1f} ms, "
          f"p95 {sorted(timings)[int(0.95 * len(timings))]:.1f} ms, max {max(timings):.1f} ms")
    print("\nknown misses and partial catches (HARD):")
    for seed in HARD:
        masked = masker.mask(seed.text).text
        verdict = "masked" if seed.value not in masked and not _partly(seed.value, masked) else (
            "partly" if seed.value not in masked else "missed")
        print(f"  {seed.kind:<8} {verdict:<7} {seed.text!r} -> {masked!r}")
    faqs = yaml.safe_load((ROOT / "bot/sample/faqs.yaml").read_text(encoding="utf-8"))
    questions = [faq["question"] for faq in faqs] + [q for faq in faqs for q in faq.get("alt_questions", [])]
    touched = [q for q in questions if masker.mask(q).findings]
    print(f"\nfalse positives: {len(touched)} of {len(questions)} sample-KB questions changed {touched[:3]}")


def _partly(value: str, masked: str) -> bool:
    return any(part in masked for part in value.replace(",", " ").split() if len(part) > 3)


if __name__ == "__main__":
    main()
