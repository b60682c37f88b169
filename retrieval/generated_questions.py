"""Writing an FAQ's generated alternative questions (retrieval/faqs.py; written by training/enrichment.py).

Each change goes through `KnowledgeBase.update` (embedded, logged for other processes, audited, classifier
refitted) with the admin's texts as they are stored: an admin's edit that lands in between is kept, and the
change is made again on top of it.
"""

from collections.abc import Callable

from core.audit import SYSTEM
from retrieval.errors import FaqChanged, GeneratedQuestionNotFound
from retrieval.faqs import Faq, make_draft
from retrieval.knowledge_base import KnowledgeBase

_TRIES = 3


def set_generated_questions(knowledge: KnowledgeBase, faq_id: int, questions: list[str], actor: str = SYSTEM) -> Faq:
    """Make `questions` the FAQ's generated alternatives (those its admin's texts already have are dropped)."""
    return _rewrite(knowledge, faq_id, lambda faq: questions, actor, "faq.generated")


def remove_generated_question(knowledge: KnowledgeBase, faq_id: int, question: str, actor: str = SYSTEM) -> Faq:
    def without(faq: Faq) -> list[str]:
        if question not in faq.generated_questions:
            raise GeneratedQuestionNotFound(faq_id, question)
        return [text for text in faq.generated_questions if text != question]

    return _rewrite(knowledge, faq_id, without, actor, "faq.generated.remove")


def _rewrite(knowledge: KnowledgeBase, faq_id: int, change: Callable[[Faq], list[str]], actor: str,
             action: str) -> Faq:
    attempts = 0
    while True:
        faq = knowledge.get(faq_id)
        draft = make_draft(faq.question, faq.answer, faq.alt_questions, faq.tags, change(faq))
        try:
            return knowledge.update(faq_id, draft, actor, expected_version=faq.version, keep_generated=False,
                                    action=action)
        except FaqChanged:
            attempts += 1
            if attempts == _TRIES:
                raise
