"""Calibrating the thresholds on a held-out split of the knowledge base's own questions.

No labelled file is needed: the knowledge base labels itself.
- A seeded `holdout` share of FAQs is left out entirely; their questions become **out-of-scope** queries
  (the knowledge base no longer holds their answer, yet they read like real customer questions, which
  makes them harder negatives than off-topic text).
- Every kept FAQ with at least one alternative question loses one, chosen by the same seed; it becomes an
  **in-scope** query whose right answer is that FAQ.
- The kept FAQs, without their held-out alternatives, are loaded into a throwaway knowledge base that
  searches exactly like the bot, and `training.calibration.calibrate` picks the thresholds from the
  scores (see its docstring for the precision and Youden rules).
"""

import random
from dataclasses import dataclass

from retrieval.faqs import Faq, FaqDraft, make_draft
from training.calibration import LabelledQuery


@dataclass(frozen=True)
class HoldoutSplit:
    kept: list[FaqDraft]  # what the throwaway knowledge base holds
    queries: list[LabelledQuery]


def holdout_split(faqs: list[Faq], holdout: float = 0.2, seed: int = 0) -> HoldoutSplit:
    if not 0 < holdout < 1:
        raise ValueError("holdout must be between 0 and 1")
    rng = random.Random(seed)
    order = sorted(faqs, key=lambda faq: faq.id)
    rng.shuffle(order)
    cut = max(1, round(len(order) * holdout))
    held_out, kept = order[:cut], order[cut:]
    queries = [LabelledQuery(faq.question, frozenset(), "out_of_scope") for faq in held_out]
    drafts = []
    for faq in kept:
        alternatives = list(faq.alt_questions)
        if alternatives:
            query = alternatives.pop(rng.randrange(len(alternatives)))
            queries.append(LabelledQuery(query, frozenset([faq.question]), "in_scope"))
        drafts.append(make_draft(faq.question, faq.answer, alternatives, faq.tags))
    return HoldoutSplit(drafts, queries)
