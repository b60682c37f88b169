"""Enrichment: paraphrases the configured LM writes for FAQs with few alternative questions.

A knowledge base written as plain questions gives search one short text per FAQ, and the self-calibration
nothing to hold out (retrieval/self_calibration.py). For each FAQ with fewer than `min_alternatives`
alternatives (the admin's and earlier generated ones together), the LM is shown the question and its answer
and asked for `paraphrases` other ways a customer would ask it. What it writes is cleaned (one question
per line; numbering, quotes and preambles dropped; a line that repeats a text of the FAQ or is far from
both its question and its answer is dropped) and stored as the FAQ's *generated* alternatives
(`retrieval.generated_questions`): searched like the admin's, listed apart, removable one by one,
never replacing an admin's. Storing them re-indexes the FAQ and refits the classifier; the thresholds
recalibrate in the background, as after any edit.

Any backend behind `dialogue.lm.generator.Generator` writes them. An FAQ the LM fails on (an error, a
timeout, nothing usable) is reported by id with the reason, and the others are still enriched.
"""

import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import ModelUnavailable
from dialogue.lm.generator import ChatMessages, Generator
from retrieval.errors import KnowledgeError
from retrieval.faqs import Faq
from retrieval.generated_questions import set_generated_questions
from retrieval.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.):]|[qQ]\d*[.):])\s*")
_WORDS = re.compile(r"\w+")
# The LM talking about itself instead of writing a customer's message (SmolLM2-135M does, most of the time).
_ASSISTANT = re.compile(r"\b(?:i'?m sorry|i am sorry|as an? (?:[\w-]+ )?ai\b|language model"
                        r"|(?:i'?m|i am) (?:unable|not able) to (?:assist|provide|help|answer)"
                        r"|i (?:cannot|can't) (?:assist|provide|help you|answer))", re.IGNORECASE)
MIN_WORDS, MAX_WORDS = 2, 30
MIN_COSINE = 0.3  # a paraphrase this far from both the question and the answer is about something else
ANSWER_CHARS = 700  # of the answer shown to the LM: enough for its gist, short enough for a small context


class EnrichmentFailed(KnowledgeError):
    """The LM wrote nothing usable for an FAQ."""


@dataclass(frozen=True)
class EnrichmentConfig:
    min_alternatives: int = 3  # FAQs with fewer alternatives (admin's and generated) are enriched
    paraphrases: int = 5  # asked for per FAQ
    max_new_tokens: int = 160
    temperature: float = 0.0


@dataclass
class EnrichmentReport:
    enriched: dict[int, list[str]] = field(default_factory=dict)  # FAQ id -> the questions it now has from the LM
    skipped: int = 0  # FAQs with enough alternatives already
    failed: dict[int, str] = field(default_factory=dict)  # FAQ id -> why


def needs_enrichment(faq: Faq, config: EnrichmentConfig) -> bool:
    return len(faq.alt_questions) + len(faq.generated_questions) < config.min_alternatives


def paraphrase_prompt(faq: Faq, count: int, company: str) -> ChatMessages:
    answer = faq.answer if len(faq.answer) <= ANSWER_CHARS else faq.answer[:ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
    return [
        {"role": "system", "content": f"You help the support team of {company} list the different ways customers "
                                      "ask the same question."},
        {"role": "user", "content": f"Question: {faq.question}\nAnswer: {answer}\n\n"
                                    f"Write {count} different messages a customer could send that this answer "
                                    "replies to. Use other words for the key terms, a casual tone, or describe the "
                                    "problem instead of asking. One message per line, no numbering, nothing else."},
    ]


def parse_paraphrases(text: str, faq: Faq, count: int) -> list[str]:
    """The LM's lines as questions: bullets, numbering and quotes stripped; preambles, the LM speaking as an
    assistant, texts the FAQ already has and lines too short or too long dropped; at most `count`."""
    known = {t.casefold() for t in (faq.question, *faq.alt_questions, *faq.generated_questions)}
    found: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip().strip('"“”\'').strip()
        words = len(_WORDS.findall(line))
        if not (MIN_WORDS <= words <= MAX_WORDS) or line.endswith(":") or line.casefold() in known \
                or _ASSISTANT.search(line):
            continue
        known.add(line.casefold())
        found.append(line)
    return found[:count]


def on_topic(knowledge: KnowledgeBase, faq: Faq, questions: list[str]) -> list[str]:
    """`questions` whose cosine with the FAQ's question or answer reaches `MIN_COSINE`."""
    if not questions:
        return []
    vectors = knowledge.embedder.embed([faq.question, faq.answer, *questions])
    similarity = vectors[2:] @ vectors[:2].T
    return [q for q, best in zip(questions, np.max(similarity, axis=1)) if best >= MIN_COSINE]


def enrich_faq(knowledge: KnowledgeBase, generator: Generator, faq: Faq, config: EnrichmentConfig,
               company: str) -> list[str]:
    """Ask the LM for paraphrases of one FAQ and store the usable ones; returns its generated questions now."""
    generation = generator.generate(paraphrase_prompt(faq, config.paraphrases, company),
                                    max_new_tokens=config.max_new_tokens, temperature=config.temperature)
    questions = on_topic(knowledge, faq, parse_paraphrases(generation.text, faq, config.paraphrases))
    if not questions:
        raise EnrichmentFailed(f"the LM wrote no usable question: {generation.text[:120]!r}")
    return set_generated_questions(knowledge, faq.id, [*faq.generated_questions, *questions],
                                   actor="enrichment").generated_questions


def enrich(knowledge: KnowledgeBase, generator: Generator, faqs: list[Faq], config: EnrichmentConfig,
           company: str, progress: Callable[[Faq], None] | None = None) -> EnrichmentReport:
    """Enrich each of `faqs` that needs it; one that fails is reported and the others go on."""
    report = EnrichmentReport()
    for faq in faqs:
        if not needs_enrichment(faq, config):
            report.skipped += 1
        else:
            try:
                report.enriched[faq.id] = enrich_faq(knowledge, generator, faq, config, company)
            except (KnowledgeError, ModelUnavailable) as error:
                report.failed[faq.id] = str(error)
            except Exception as error:  # one FAQ must not end the run; the log has the traceback
                log.exception("Enriching FAQ %d failed", faq.id)
                report.failed[faq.id] = f"{type(error).__name__}: {error}"
        if progress is not None:
            progress(faq)
    return report


class BackgroundEnricher:
    """Enriches FAQs as they are written (HELPDESK_ENRICH_FAQS), one at a time on a thread of its own, so an
    admin's save never waits for the LM. An FAQ that is gone or has enough alternatives by then is skipped;
    one the LM fails on is logged with its id and left as it is."""

    def __init__(self, knowledge: KnowledgeBase, generator: Generator, config: EnrichmentConfig, company: str):
        self.knowledge, self.generator, self.config, self.company = knowledge, generator, config, company
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="faq-enrichment", daemon=True)
        self._thread.start()

    def submit(self, faq_ids: list[int]) -> None:
        for faq_id in faq_ids:
            self._queue.put(faq_id)

    def wait(self) -> None:
        """Until everything submitted so far is done (tests, `helpdesk` commands before they exit)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (faq_id := self._queue.get()) is not None:
            try:
                faq = self.knowledge.get(faq_id)
                if needs_enrichment(faq, self.config):
                    enrich_faq(self.knowledge, self.generator, faq, self.config, self.company)
            except (KnowledgeError, ModelUnavailable) as error:  # FaqNotFound: deleted meanwhile, nothing to do
                log.warning("Enriching FAQ %d: %s", faq_id, error)
            except Exception:  # the thread must outlive one bad FAQ
                log.exception("Enriching FAQ %d failed", faq_id)
            finally:
                self._queue.task_done()
        self._queue.task_done()
