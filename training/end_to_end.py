"""Every question of an eval file answered through the real answering path, scored as the customer gets it.

Each question is asked by a sender of its own through `DialogueManager.respond` (the decision, the LM, its
reply check: whatever the configured model does), and the reply is scored on what it was built from
(`used_faqs`: the curated answer's FAQ, or the FAQ snippets of a generated reply):

- *right*: an answer (curated or generated) built from every FAQ the question needs;
- *wrong, sent*: an answer built from none of them, or any answer to a question the knowledge base cannot
  answer (a generated reply that only says it cannot help is not an answer). A partial question answered from
  some of its FAQs is neither;
- *latency*: the wall time of each `respond`, per answered question and per generated one;
- *fallback, right FAQ suggested*: in-scope questions that got the fallback with their FAQ among its suggestions
  (dialogue/suggested.py), which the customer can choose.

This is what the decision table's `wrong_per_100` estimates without the LM: here the reply check has had
its say, so a stopped reply is a fallback, not a wrong answer.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from dialogue.messages import InboundMessage, ReplyKind
from dialogue.suggested import suggested_faqs
from training.calibration import LabelledQuery
from training.conversation_eval import ANSWERS, verdict
from training.reply_scores import generation_scores


@dataclass
class AnswerScores:
    lm_model: str
    questions: int  # all asked: in scope, partial and out of scope
    in_scope: int
    answered_correctly: float  # of the in-scope questions
    wrong_per_100: float  # of all questions
    fallback_share: float  # of all questions
    kinds: dict
    p50_ms_answered: float | None  # wall time of `respond` for questions that got an answer
    p90_ms_answered: float | None
    p50_ms_generated: float | None  # ... that got a generated one
    generation: dict
    wrong: list[dict] = field(default_factory=list)
    suggested_right: float = 0.0  # of the in-scope questions


def answer_all(manager, queries: list[LabelledQuery], faq_of: dict[str, int], lm_model: str) -> AnswerScores:
    """`queries`: the eval file's questions (FAQs named by their question, `faq_of` maps them to ids)."""
    async def ask_all():
        answered = []
        for number, query in enumerate(queries):
            started = time.perf_counter()
            sent = await manager.respond(InboundMessage("eval", f"eval-all-{number}", query.query))
            answered.append((query, sent[-1] if sent else None, (time.perf_counter() - started) * 1000))
        return answered

    results = asyncio.run(ask_all())
    verdicts = [verdict(frozenset(faq_of[q] for q in query.expected), reply) for query, reply, _ in results]
    in_scope = [v for (query, _, _), v in zip(results, verdicts) if query.group == "in_scope"]
    suggested_right = sum(query.group == "in_scope" and reply is not None and reply.kind is ReplyKind.FALLBACK
                          and bool(suggested_faqs(reply) & {faq_of[q] for q in query.expected})
                          for query, reply, _ in results)
    answered_ms = [ms for (_, reply, ms) in results if reply is not None and reply.kind in ANSWERS]
    generated_ms = [ms for (_, reply, ms) in results if reply is not None and reply.kind is ReplyKind.GENERATED]
    return AnswerScores(
        lm_model=lm_model, questions=len(results), in_scope=len(in_scope),
        answered_correctly=round(in_scope.count("right") / max(len(in_scope), 1), 4),
        wrong_per_100=round(100 * verdicts.count("wrong") / max(len(results), 1), 2),
        fallback_share=round(sum(r is not None and r.kind is ReplyKind.FALLBACK for _, r, _ in results)
                             / max(len(results), 1), 4),
        kinds=dict(Counter(reply.kind.value if reply else "none" for _, reply, _ in results)),
        p50_ms_answered=_quantile(answered_ms, 0.5), p90_ms_answered=_quantile(answered_ms, 0.9),
        p50_ms_generated=_quantile(generated_ms, 0.5),
        generation=generation_scores([(query.query, reply) for query, reply, _ in results
                                      if reply is not None and (reply.kind is ReplyKind.GENERATED or reply.rejected)]),
        suggested_right=round(suggested_right / max(len(in_scope), 1), 4),
        wrong=[{"query": query.query, "group": query.group, "kind": reply.kind.value, "text": reply.text[:160]}
               for (query, reply, _), v in zip(results, verdicts) if v == "wrong"],
    )


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 1)
