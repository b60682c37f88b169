"""Good answers passed and wrong answers stopped by the reply check, per failure class, and what it costs.

Runs dialogue/grounding.py `check_reply` over the pairs of training/eval_sets/reply_checks.yaml (good and wrong
answers over the sample shop and the mobile operator, training/reply_check_eval.py) and prints one table, the
pairs it got wrong, and the check's time per answer. `--against REV` also runs the check as it was in git
revision REV (its dialogue/grounding.py alone), for a before/after table in one command:

    .venv/bin/python bench/reply_checks.py --against 26daafb
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from at_revision import module_at  # noqa: E402
from training.reply_check_eval import current_check, evaluate, load_pairs  # noqa: E402


def check_at(revision: str):
    """`check_reply` as dialogue/grounding.py had it at `revision`."""
    module = module_at(revision, "dialogue/grounding.py")
    return lambda reply, snippets, question: module.check_reply(reply, snippets, question).reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="also run the check of this git revision (before/after)")
    parser.add_argument("--misses", action="store_true", help="list every pair the check got wrong")
    args = parser.parse_args()
    sections = {"development pairs": load_pairs(), "held-out pairs": load_pairs(section="held_out"),
                "blind held-out pairs": load_pairs(section="held_out_blind"),
                "German and Chinese pairs": load_pairs(section="languages")}
    checks = [(f"at {args.against}", check_at(args.against))] if args.against else []
    checks.append(("now", current_check))
    for section, pairs in sections.items():
        for name, check in checks:
            report = evaluate(check, pairs)
            print(f"\n## Reply check {name}, {section}: {len(pairs)}\n\n{report.table()}")
            if args.misses:
                print("\n" + "\n".join(f"- {miss}" for miss in report.misses))
    pairs = [pair for section in sections.values() for pair in section]
    timings = []
    for pair in pairs:
        for answer in (pair.good, pair.wrong):
            started = time.perf_counter()
            current_check(answer, pair.snippets, pair.question)
            timings.append((time.perf_counter() - started) * 1000)
    print(f"\ncheck time per answer (now, {len(timings)} answers): p50 {statistics.median(timings):.2f} ms, "
          f"max {max(timings):.2f} ms")


if __name__ == "__main__":
    main()
