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

**In the customers' languages** (`languages`, HELPDESK_ENRICH_LANGUAGES, `helpdesk faq enrich --language de`): a
knowledge base written in English is asked in German and Chinese too. For each such language in which an FAQ has
fewer than `min_alternatives` texts, the LM is asked for paraphrases written in it; a line the language detector
does not read as that language is dropped. Such a paraphrase cannot be held against the FAQ by its cosine (across
languages MiniLM gives the right FAQ ~0.1, e5-small gives any FAQ ~0.8), so with an embedder that compares
across languages the knowledge base is searched with it and it is kept only when the FAQ is among the best
`RANKED_WITHIN`; with one that does not (MiniLM), only the language is checked. A German question then meets
German texts of the English FAQ, in BM25 (stemmed as German, retrieval/lexical.py) and in the embedder, and the
reply is what any question across languages gets (docs/languages.md).

The prompt and the reading of the LM's lines are training/paraphrases.py; enrichment of FAQs as they are
written, on a thread of its own, is training/background_enrichment.py.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import ModelUnavailable
from core.language_detection import LANGUAGE_NAMES, family, shared_detector
from dialogue.lm.generator import Generator
from retrieval.entries import faq_entry
from retrieval.errors import KnowledgeError
from retrieval.faqs import Faq
from retrieval.generated_questions import set_generated_questions
from retrieval.knowledge_base import KnowledgeBase
from training.paraphrases import paraphrase_prompt, parse_paraphrases, translation_prompt

log = logging.getLogger(__name__)

MIN_COSINE = 0.3  # a paraphrase this far from both the question and the answer is about something else
RANKED_WITHIN = 3  # a paraphrase in another language is kept when its FAQ is among this many best hits


class EnrichmentFailed(KnowledgeError):
    """The LM wrote nothing usable for an FAQ (in one of the languages asked: `stored` says what the FAQ has now)."""

    def __init__(self, message: str, stored: list[str] | None = None):
        super().__init__(message)
        self.stored = stored


@dataclass(frozen=True)
class EnrichmentConfig:
    min_alternatives: int = 3  # FAQs with fewer alternatives (admin's and generated) are enriched
    paraphrases: int = 5  # asked for per FAQ
    max_new_tokens: int = 160
    temperature: float = 0.0
    languages: tuple[str, ...] = ()  # ISO codes of the customers' languages besides the FAQs' own ("de", "zh")


@dataclass
class EnrichmentReport:
    enriched: dict[int, list[str]] = field(default_factory=dict)  # FAQ id -> the questions it now has from the LM
    skipped: int = 0  # FAQs with enough alternatives already
    failed: dict[int, str] = field(default_factory=dict)  # FAQ id -> why


def language_of(text: str) -> str | None:
    """The language family a text is read as (None: no letters)."""
    found = shared_detector().detect(text)
    return family(found.code) if found is not None else None


def missing(faq: Faq, config: EnrichmentConfig) -> list[str | None]:
    """What the FAQ needs paraphrases in: None for its own language, then each of `config.languages` the FAQ is
    not written in. A language counts the alternatives (the admin's and generated ones) read as it; the FAQ's own
    language counts the others."""
    texts = [*faq.alt_questions, *faq.generated_questions]
    own = language_of(f"{faq.question} {faq.answer}")
    wanted = [code for code in config.languages if family(code) != own]
    read = [language_of(text) for text in texts] if wanted else []
    needed: list[str | None] = []
    if len(texts) - sum(language in {family(code) for code in wanted} for language in read) < config.min_alternatives:
        needed.append(None)
    needed += [code for code in wanted if read.count(family(code)) < config.min_alternatives]
    return needed


def needs_enrichment(faq: Faq, config: EnrichmentConfig) -> bool:
    return bool(missing(faq, config))


def on_topic(knowledge: KnowledgeBase, faq: Faq, questions: list[str]) -> list[str]:
    """`questions` whose cosine with the FAQ's question or answer reaches `MIN_COSINE`."""
    if not questions:
        return []
    vectors = knowledge.embedder.embed([faq.question, faq.answer, *questions])
    similarity = vectors[2:] @ vectors[:2].T
    return [q for q, best in zip(questions, np.max(similarity, axis=1)) if best >= MIN_COSINE]


def in_language(knowledge: KnowledgeBase, faq: Faq, questions: list[str], language: str) -> list[str]:
    """`questions` read as `language`, and, where the embedder compares across languages, closest to this FAQ's
    question or answer among the `RANKED_WITHIN` closest FAQs. Only the FAQs' questions and answers are compared,
    which are in their own language: texts in `language` that enrichment wrote for other FAQs would draw the
    question to them (e5 ranks a text in the question's language above a better one in another), and drop every
    paraphrase of FAQs enriched after the first few."""
    questions = [q for q in questions if language_of(q) == family(language)]
    if not knowledge.across_languages or not questions:
        return questions
    vectors, labels = knowledge.index.faq_vectors()
    first = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # each FAQ's rows in order: its question first
    entries, own = labels[first], vectors[first]
    answers, answered = knowledge.index.answers.vectors_of(entries.tolist())
    if faq_entry(faq.id) not in set(entries.tolist()) or len(answered) != len(entries):
        return questions  # the index is behind the FAQ (another process's edit): nothing to rank against
    lines = knowledge.embedder.embed(questions)
    closeness = np.maximum(lines @ own.T, lines @ answers.T)  # (lines, FAQs), both in the order of `entries`
    column = int(np.flatnonzero(entries == faq_entry(faq.id))[0])
    rank = (closeness > closeness[:, [column]]).sum(axis=1)
    return [q for q, r in zip(questions, rank) if r < RANKED_WITHIN]


def enrich_faq(knowledge: KnowledgeBase, generator: Generator, faq: Faq, config: EnrichmentConfig,
               company: str, languages: list[str | None] | None = None) -> list[str]:
    """Ask the LM for paraphrases of one FAQ, in `languages` (None in it: the FAQ's own; by default its own and
    each customer language it lacks, `missing`), and store the usable ones; returns its generated questions now.
    One language the LM writes nothing usable in fails the FAQ after the others are stored."""
    found, failures = [], []
    for language in missing(faq, config) if languages is None else languages:
        prompt = paraphrase_prompt(faq, config.paraphrases, company, LANGUAGE_NAMES[language] if language else None)
        generation = generator.generate(prompt, max_new_tokens=config.max_new_tokens,
                                        temperature=config.temperature)
        lines = parse_paraphrases(generation.text, faq, config.paraphrases)
        questions = on_topic(knowledge, faq, lines) if language is None else in_language(knowledge, faq, lines,
                                                                                          language)
        if language is not None and not questions:
            # An FAQ left without a text in the language loses the questions in it to FAQs that have one.
            translation = generator.generate(translation_prompt(faq, LANGUAGE_NAMES[language]),
                                             max_new_tokens=config.max_new_tokens, temperature=config.temperature)
            questions = in_language(knowledge, faq, parse_paraphrases(translation.text, faq, 1), language)
        log.info("FAQ %d, %s: %d of %d lines kept", faq.id, LANGUAGE_NAMES[language] if language else "own language",
                 len(questions), len(lines))
        if questions:
            found += questions
        else:
            failures.append(f"the LM wrote no usable question{f' in {LANGUAGE_NAMES[language]}' if language else ''}"
                            f": {generation.text[:120]!r}")
    stored = faq.generated_questions
    if found:
        stored = set_generated_questions(knowledge, faq.id, [*faq.generated_questions, *found],
                                         actor="enrichment").generated_questions
    if failures:
        raise EnrichmentFailed("; ".join(failures), stored)
    return stored


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
                if getattr(error, "stored", None) not in (None, faq.generated_questions):
                    report.enriched[faq.id] = error.stored  # usable in another language
            except Exception as error:  # one FAQ must not end the run; the log has the traceback
                log.exception("Enriching FAQ %d failed", faq.id)
                report.failed[faq.id] = f"{type(error).__name__}: {error}"
        if progress is not None:
            progress(faq)
    return report
