"""Good answers passed and wrong answers stopped by the reply check, per failure class, and what it costs.

Runs dialogue/grounding.py `check_reply`, on each answer as chat would send it (`tidied`), over the pairs of
training/eval_sets/reply_checks.yaml (good and wrong answers over the sample shop and the mobile operator,
training/reply_check_eval.py) and prints one table, the pairs it got wrong, and the check's time per answer.
`--against REV` also runs the check as it was in git revision REV (the whole project of that revision, in a process
of its own), for a before/after table in one command:

    .venv/bin/python bench/reply_checks.py --against 26daafb
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from at_revision import tree_at  # noqa: E402
from training.reply_check_eval import current_check, evaluate, load_pairs  # noqa: E402


# The revision's check as chat applied it then: its `current_check` (the reply tidied first) where it has one, else
# `check_reply` alone (before 2026-12-07 nothing was tidied).
_VERDICTS = """
import json, sys
try:
    from training.reply_check_eval import current_check
except ImportError:
    from dialogue.grounding import check_reply
    def current_check(reply, snippets, question):
        return check_reply(reply, snippets, question).reasons
answers = json.load(sys.stdin)
json.dump([current_check(reply, snippets, question) for reply, snippets, question in answers], sys.stdout)
"""


def check_at(revision: str, pairs: list):
    """`check_reply` as the whole project had it at `revision` (dialogue/ and all it imports, in a process of its
    own), over every answer of `pairs`, looked up by the returned check."""
    answers = [(answer, pair.snippets, pair.question) for pair in pairs for answer in (pair.good, pair.wrong)]
    tree = tree_at(revision)
    done = subprocess.run([sys.executable, "-c", _VERDICTS], cwd=tree, input=json.dumps(answers), text=True,
                          capture_output=True, check=True, env={**os.environ, "PYTHONPATH": str(tree)})
    verdicts = {(reply, tuple(snippets), question): reasons
                for (reply, snippets, question), reasons in zip(answers, json.loads(done.stdout))}
    return lambda reply, snippets, question: verdicts[(reply, tuple(snippets), question)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="also run the check of this git revision (before/after)")
    parser.add_argument("--misses", action="store_true", help="list every pair the check got wrong")
    args = parser.parse_args()
    sections = {"development pairs": load_pairs(), "held-out pairs": load_pairs(section="held_out"),
                "blind held-out pairs": load_pairs(section="held_out_blind"),
                "second blind batch": load_pairs(section="held_out_blind_2"),
                "third blind batch": load_pairs(section="held_out_blind_3"),
                "fourth blind batch": load_pairs(section="held_out_blind_4"),
                "fifth blind batch": load_pairs(section="held_out_blind_5"),
                "sixth blind batch": load_pairs(section="held_out_blind_6"),
                "seventh blind batch": load_pairs(section="held_out_blind_7"),
                "eighth blind batch": load_pairs(section="held_out_blind_8"),
                "German and Chinese pairs": load_pairs(section="languages")}
    every_pair = [pair for section in sections.values() for pair in section]
    checks = [(f"at {args.against}", check_at(args.against, every_pair))] if args.against else []
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
