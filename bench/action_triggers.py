"""What declaring the sample shop's actions does to its FAQ answers, and how well the actions are found.

    python bench/action_triggers.py          # ~1-2 min on 2 cores: embedder only, a throwaway SQLite database

On the sample shop (bot/sample/faqs.yaml) with and without bot/sample/actions.yaml declared:
- FAQ top-1 on eval.yaml's in-scope questions (search never mixes actions into FAQ results, so it must not
  move), and which of those questions the dialogue would now hand to an action instead (by its FAQ);
- out-of-scope questions that would start an action (false triggers);
- held-out paraphrases of the two actions (written here, not in actions.yaml): how many trigger the right one;
- the cost of the trigger check per message, on this machine: for a message not seen before (one query
  embedding + two searches; the FAQ search that follows reuses the embedding), and for one whose vector is
  already known (the two searches only: what the check adds to a message's answer).
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli.actions import SAMPLE_ACTIONS  # noqa: E402
from bot.cli.serve import SAMPLE_EVAL, SAMPLE_FAQS  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.declared_actions.files import read_action_file  # noqa: E402
from retrieval.faq_files import read_faq_file  # noqa: E402

PARAPHRASES = {
    "action_order_status": ["has my parcel left the warehouse yet", "any news on my delivery?",
                            "I'm still waiting for my package", "track order NH-10234 please",
                            "when is my stuff coming", "did you send my order already?"],
    "action_cancel_order": ["I don't want my order any more", "please stop my order from shipping",
                            "how do I cancel NH-10277", "cancel the purchase I made today",
                            "I'd like to call off my order", "revoke my order please"],
}


def top1(services, queries: list[dict]) -> float:
    hits = [services.knowledge.search(item["query"], top_k=1) for item in queries]
    return sum(bool(h) and h[0].faq is not None and h[0].faq.question == item["faq"]
               for h, item in zip(hits, queries)) / len(queries)


def main() -> None:
    evaluation = yaml.safe_load(SAMPLE_EVAL.read_text())
    in_scope, out_of_scope = evaluation["in_scope"], evaluation["out_of_scope"]
    with tempfile.TemporaryDirectory(prefix="bench-actions-") as scratch:
        services = build_services(Settings(data_dir=Path(scratch), database_url="", device="cpu"))
        services.start(with_lm=False)
        services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
        before = top1(services, in_scope)
        for draft in read_action_file(SAMPLE_ACTIONS).drafts:
            services.knowledge.actions.create(draft)
        after = top1(services, in_scope)
        runner, timings = services.manager.actions, {"new": [], "known": []}

        def trigger(text: str, seen: str = "new"):
            started = time.perf_counter()
            chosen = runner.trigger_for(text)
            timings[seen].append((time.perf_counter() - started) * 1000)
            return chosen.name if chosen else None

        # The in-scope questions were embedded by top1() above; the out-of-scope ones never were.
        diverted = [(item["faq"], item["query"], name) for item in in_scope
                    if (name := trigger(item["query"], "known"))]
        false_triggers = [(query, name) for query in out_of_scope if (name := trigger(query))]
        found = {action: sum(trigger(text) == action for text in texts) for action, texts in PARAPHRASES.items()}
        services.knowledge.close()
        services.engine.dispose()
    print("| measure | value |\n| --- | --- |")
    print(f"| FAQ top-1, in-scope eval.yaml ({len(in_scope)}), no actions | {before:.3f} |")
    print(f"| FAQ top-1, same, sample actions declared | {after:.3f} |")
    print(f"| in-scope questions the dialogue hands to an action | {len(diverted)} of {len(in_scope)} |")
    print(f"| out-of-scope questions that start an action | {len(false_triggers)} of {len(out_of_scope)} |")
    for action, count in found.items():
        print(f"| held-out paraphrases of {action} that trigger it | {count} of {len(PARAPHRASES[action])} |")
    for seen, label in (("new", "a new message (embedding + searches)"), ("known", "a known vector (searches)")):
        values = sorted(timings[seen])
        print(f"| trigger check, {label}, median / p95 ms | {statistics.median(values):.1f} / "
              f"{values[int(len(values) * 0.95)]:.1f} |")
    print("\nHanded to an action (the FAQ eval.yaml expects -> the action):")
    for faq, query, name in diverted:
        print(f"- {query!r}: {faq!r} -> {name}")
    for query, name in false_triggers:
        print(f"- out of scope {query!r} -> {name}")


if __name__ == "__main__":
    main()
