"""Enrichment of FAQs as they are written (HELPDESK_ENRICH_FAQS, HELPDESK_ENRICH_LANGUAGES), on a thread of its
own."""

import logging
import queue
import threading

from core.errors import ModelUnavailable
from dialogue.lm.generator import Generator
from retrieval.errors import KnowledgeError
from retrieval.knowledge_base import KnowledgeBase
from training.enrichment import EnrichmentConfig, enrich_faq, needs_enrichment, needs_translation, translate_faq

log = logging.getLogger(__name__)


class BackgroundEnricher:
    """Enriches FAQs as they are written, one at a time on a thread of its own, so an admin's save never waits
    for the LM: paraphrases (HELPDESK_ENRICH_FAQS), then translations (HELPDESK_ENRICH_LANGUAGES). An FAQ that is
    gone or has enough alternatives and translations by then is skipped; one the LM fails on is logged with its
    id and left as it is."""

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
                for language in self.config.languages:
                    faq = self.knowledge.get(faq_id)
                    if needs_translation(faq, language):
                        translate_faq(self.knowledge, self.generator, faq, language, self.config, self.company)
            except (KnowledgeError, ModelUnavailable) as error:  # FaqNotFound: deleted meanwhile, nothing to do
                log.warning("Enriching FAQ %d: %s", faq_id, error)
            except Exception:  # the thread must outlive one bad FAQ
                log.exception("Enriching FAQ %d failed", faq_id)
            finally:
                self._queue.task_done()
        self._queue.task_done()
