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

The prompt and the reading of the LM's lines are training/paraphrases.py; enrichment of FAQs as they are
written, on a thread of its own, is training/background_enrichment.py.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import ModelUnavailable
from core.language_detection import shared_detector
from dialogue.judgement import is_capable
from dialogue.lm.generator import Generator
from dialogue.verdicts import CannotAnswer
from retrieval.errors import KnowledgeError
from retrieval.faqs import Faq
from retrieval.generated_questions import set_generated_questions
from retrieval.knowledge_base import KnowledgeBase
from training.paraphrases import paraphrase_prompt, parse_paraphrases
from training.translations import in_language, parse_translations, source_texts, translation_prompt, translation_schema

log = logging.getLogger(__name__)

MIN_COSINE = 0.3  # a paraphrase this far from both the question and the answer is about something else


class EnrichmentFailed(KnowledgeError):
    """The LM wrote nothing usable for an FAQ."""


@dataclass(frozen=True)
class EnrichmentConfig:
    min_alternatives: int = 3  # FAQs with fewer alternatives (admin's and generated) are enriched
    paraphrases: int = 5  # asked for per FAQ
    max_new_tokens: int = 160
    temperature: float = 0.0
    languages: tuple[str, ...] = ()  # each FAQ's texts are also translated into these (training/translations.py)
    translation_tokens: int = 60  # per text translated


@dataclass
class EnrichmentReport:
    enriched: dict[int, list[str]] = field(default_factory=dict)  # FAQ id -> the questions it now has from the LM
    skipped: int = 0  # FAQs with enough alternatives already
    failed: dict[int, str] = field(default_factory=dict)  # FAQ id -> why
    translated: dict[str, dict[int, list[str]]] = field(default_factory=dict)  # language -> FAQ id -> its texts in it
    translation_failed: dict[str, dict[int, str]] = field(default_factory=dict)  # language -> FAQ id -> why


def needs_enrichment(faq: Faq, config: EnrichmentConfig) -> bool:
    """Paraphrases are wanted: fewer alternatives than `min_alternatives`, translations not counted."""
    if config.paraphrases <= 0:
        return False
    translated = sum(len(in_language(faq, shared_detector(), code)) for code in config.languages)
    return len(faq.alt_questions) + len(faq.generated_questions) - translated < config.min_alternatives


def needs_translation(faq: Faq, language: str) -> bool:
    """Its texts are not in `language` yet, or an admin has since added more than as many as were translated."""
    detector = shared_detector()
    sources = source_texts(faq, detector, language)
    return bool(sources) and 2 * len(in_language(faq, detector, language)) < len(sources)


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
    lines = parse_paraphrases(generation.text, faq, config.paraphrases)
    questions = on_topic(knowledge, faq, lines)
    log.info("FAQ %d: %d of %d lines kept", faq.id, len(questions), len(lines))
    if not questions:
        raise EnrichmentFailed(f"the LM wrote no usable question: {generation.text[:120]!r}")
    return set_generated_questions(knowledge, faq.id, [*faq.generated_questions, *questions],
                                   actor="enrichment").generated_questions


class CannotTranslate(ModelUnavailable):
    """The configured LM is the embedded 135M model, which writes no usable translation."""


def require_translator(generator: Generator) -> None:
    if not is_capable(generator):
        raise CannotTranslate(f"translating needs a capable LM; {generator.model_id} (the embedded default) cannot "
                              "translate. Set HELPDESK_LM_MODEL, e.g. qwen2.5-coder-1.5b (docs/languages.md).")


def translate_faq(knowledge: KnowledgeBase, generator: Generator, faq: Faq, language: str, config: EnrichmentConfig,
                  company: str) -> list[str]:
    """Translate the FAQ's texts into `language` (training/translations.py) and store them as its generated
    questions in that language, replacing the earlier ones; returns them."""
    require_translator(generator)
    detector = shared_detector()
    texts = source_texts(faq, detector, language)
    generation = generator.generate(translation_prompt(texts, language, company),
                                    max_new_tokens=config.translation_tokens * len(texts),
                                    temperature=config.temperature, json_schema=translation_schema(len(texts)))
    try:
        lines = parse_translations(generation.text, texts, faq, language, detector)
    except CannotAnswer as error:
        raise EnrichmentFailed(f"{error.args[0]}: {generation.text[:120]!r}") from None
    log.info("FAQ %d: %d of %d texts translated into %s", faq.id, len(lines), len(texts), language)
    if not lines:
        raise EnrichmentFailed(f"the LM wrote no usable {language} text: {generation.text[:120]!r}")
    earlier = set(in_language(faq, detector, language))
    kept = [text for text in faq.generated_questions if text not in earlier]
    stored = set_generated_questions(knowledge, faq.id, [*kept, *lines], actor="enrichment")
    return in_language(stored, detector, language)


def enrich(knowledge: KnowledgeBase, generator: Generator, faqs: list[Faq], config: EnrichmentConfig,
           company: str, progress: Callable[[Faq], None] | None = None) -> EnrichmentReport:
    """Enrich each of `faqs` that needs it: paraphrases, then its texts translated into `config.languages`. One
    that fails is reported and the others go on."""
    report = EnrichmentReport()
    for faq in faqs:
        if not needs_enrichment(faq, config):
            report.skipped += 1
        else:
            _try(report.failed, faq.id, lambda: report.enriched.__setitem__(
                faq.id, enrich_faq(knowledge, generator, faq, config, company)))
        for language in config.languages:  # the FAQ as it is now: paraphrases may have just been added
            _try(report.translation_failed.setdefault(language, {}), faq.id, lambda: _translate_if_needed(
                knowledge, generator, faq.id, language, config, company, report))
        if progress is not None:
            progress(faq)
    return report


def _translate_if_needed(knowledge: KnowledgeBase, generator: Generator, faq_id: int, language: str,
                         config: EnrichmentConfig, company: str, report: EnrichmentReport) -> None:
    current = knowledge.get(faq_id)  # FaqNotFound (deleted meanwhile) is reported like any failure
    if needs_translation(current, language):
        report.translated.setdefault(language, {})[faq_id] = translate_faq(knowledge, generator, current, language,
                                                                          config, company)


def _try(failed: dict[int, str], faq_id: int, step: Callable[[], None]) -> None:
    try:
        step()
    except (KnowledgeError, ModelUnavailable) as error:
        failed[faq_id] = str(error)
    except Exception as error:  # one FAQ must not end the run; the log has the traceback
        log.exception("Enriching FAQ %d failed", faq_id)
        failed[faq_id] = f"{type(error).__name__}: {error}"
