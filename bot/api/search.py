"""The admin API's hit testing: what search finds for a query, and what chat would decide on it.

Each hit carries every retriever's score; the decision uses the very thresholds chat decides with.
"""

from dataclasses import replace
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import KnowledgeDep, ManagerDep, require_viewer
from dialogue.crosslingual import ranked_together
from dialogue.policy import Decision, decide, suggestions
from retrieval.entries import HitKind
from retrieval.hits import Hit
from retrieval.search_filters import SearchFilter

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_viewer)])


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(5, ge=1, le=50)
    tags: list[str] = Field(default_factory=list, max_length=50, description="Only entries with any of these tags.")
    sources: list[str] = Field(default_factory=list, max_length=50,
                               description='Only these: "faqs", "documents", or document file names / URLs.')
    mode: Literal["hybrid", "dense", "lexical", "rrf"] | None = Field(None, description="Ranking; default: as chat.")
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$",
                                 description="The customer's language (ISO 639-1, e.g. \"de\"); default: read from "
                                             "the query, as chat reads a first message.")
    translate: bool | None = Field(None, description="Search the query's translation where chat would (a capable LM, "
                                                     "the best knowledge in another language, no FAQ quoted as found); "
                                                     "default: as chat. false: the query as written.")


class RetrieverScores(BaseModel):
    dense: float | None = Field(description="cosine similarity")
    dense_rank: int | None
    bm25: float | None
    bm25_rank: int | None
    probability: float | None = Field(description="the FAQ classifier's probability (FAQs, when it is on)")
    answer: float | None = Field(None, description="cosine of the query and the FAQ's answer (FAQs, hybrid mode)")
    lead: float | None = Field(None, description="without a classifier: how far the FAQ's fused score is ahead of the "
                                                 "next FAQ's (hybrid mode; docs/thresholds.md)")
    fused: float = Field(description="the score that orders results in the chosen mode (docs/knowledge.md)")


class ThresholdsOut(BaseModel):
    faq: float = Field(description="confidence at or above which the best FAQ is answered verbatim")
    generate: float = Field(description="confidence an FAQ needs to be given to the LM; below: fallback")
    passage: float = Field(description="cosine a document passage needs to be given to the LM")
    suggest: float = Field(description="confidence from which the fallback suggests an FAQ as a button")
    source: str = Field(description="calibrated | settings | settings+calibrated | default")
    calibration: dict | None = Field(description="how the calibration went (retrieval/self_calibration.py)")
    note: str = Field(description="why there is no calibration, when there is none")


class SearchHit(BaseModel):
    faq_id: int | None = Field(description="set for FAQ hits")
    score: float = Field(description="cosine similarity of the best-matching text")
    confidence: float = Field(description="cosine + classifier probability (without a classifier: cosine + lead): "
                                          "what the thresholds apply to")
    question: str | None
    answer: str | None
    matched_text: str
    kind: HitKind = Field(description="faq | document")
    id: int = Field(description="FAQ id or chunk id")
    title: str
    url: str | None = Field(description="file name or URL of a document passage")
    document_id: int | None
    scores: RetrieverScores


class ActionHit(BaseModel):
    name: str
    description: str
    score: float = Field(description="cosine similarity of the best-matching example phrasing")
    matched_text: str
    triggers: bool = Field(description="whether chat would start this action for the query "
                                       "(HELPDESK_ACTION_MIN_SCORE, and no FAQ or passage closer)")


class TranslatedOut(BaseModel):
    text: str = Field(description="the LM's translation of the query, which `hits` are the search for")
    language: str = Field(description="the language it was translated into: the best knowledge's")
    query_language: str = Field(description="the customer's language")
    note: str = Field(description="what chat does with it")


TRANSLATED_NOTE = ("Chat searches this translation (with a multilingual embedder, beside the query as written) and "
                   "quotes its best FAQ, under a note in the customer's language, only when the LM confirms that it "
                   "answers the customer's own message (docs/languages.md).")


class SearchOut(BaseModel):
    hits: list[SearchHit]
    translated: TranslatedOut | None = Field(None, description="set when the hits are the search for the query's "
                                                               "translation, as chat would search it")
    actions: list[ActionHit] = Field(description="declared actions whose examples match (docs/actions.md)")
    decision: Decision = Field(description="faq | generate | fallback, with the thresholds chat uses")
    suggested: list[int] = Field(description="with a fallback: the FAQs it would suggest (docs/thresholds.md)")
    thresholds: ThresholdsOut


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, knowledge: KnowledgeDep, manager: ManagerDep):
    thresholds = manager.thresholds()  # the very thresholds chat decides with
    fusion = replace(knowledge.fusion, mode=body.mode) if body.mode else None
    query = body.query.strip()

    def found(text: str, asked: bool) -> list[Hit]:
        return knowledge.search(text, top_k=body.top_k, filters=SearchFilter(body.tags, body.sources), fusion=fusion,
                                asked=asked)

    hits = own = found(query, True)
    translated = None
    if body.translate is not False:
        language = body.language or manager.languages.choose(None, query)
        if searched := manager.across.translation_searched(query, language, hits, thresholds,
                                                           manager.config.multilingual_search):
            hits = found(searched[0], False)  # the LM's text, not asked by a customer
            if manager.config.multilingual_search:  # as chat ranks them (dialogue/crosslingual.py)
                hits = ranked_together(own, hits)[:body.top_k]
            translated = TranslatedOut(text=searched[0], language=searched[1], query_language=language,
                                       note=TRANSLATED_NOTE)
    return SearchOut(
        hits=[_search_hit(hit) for hit in hits],
        translated=translated,
        actions=_action_hits(query, body.top_k, knowledge, manager),
        decision=(decision := decide(hits, thresholds)).value,
        suggested=[hit.faq.id for hit in suggestions(hits, thresholds, manager.config.fallback_suggestions)]
        if decision is Decision.FALLBACK else [],
        thresholds=thresholds_in_force(manager),
    )


def thresholds_in_force(manager) -> dict:
    """The thresholds chat uses now and where they came from (also in GET /health)."""
    thresholds, learned = manager.thresholds(), manager.knowledge.learned
    return {"faq": thresholds.faq, "generate": thresholds.generate, "passage": thresholds.passage,
            "suggest": round(thresholds.suggest, 4), "source": thresholds.source, "note": learned.note,
            "calibration": learned.calibrated.as_dict() if learned.calibrated and learned.classifier else None}


def _search_hit(hit: Hit) -> SearchHit:
    scores = hit.scores
    return SearchHit(
        faq_id=hit.faq.id if hit.faq else None, score=round(hit.score, 4), confidence=round(hit.confidence, 4),
        question=hit.faq.question if hit.faq else None, answer=hit.faq.answer if hit.faq else None,
        matched_text=hit.matched_text, kind=hit.kind, id=hit.id, title=hit.title, url=hit.url,
        document_id=hit.passage.document_id if hit.passage else None,
        scores=RetrieverScores(dense=_round(scores.dense), dense_rank=scores.dense_rank, bm25=_round(scores.lexical),
                               bm25_rank=scores.lexical_rank, probability=_round(scores.probability),
                               answer=_round(scores.answer), lead=_round(scores.lead), fused=round(scores.fused, 6)),
    )


def _action_hits(query: str, top_k: int, knowledge, manager) -> list[ActionHit]:
    if not knowledge.has_actions():
        return []
    found = knowledge.search_vector(knowledge.embed_query(query), query, top_k, actions=True)
    chosen = manager.actions.trigger_for(query) if manager.actions else None
    return [ActionHit(name=hit.action.name, description=hit.action.description, score=round(hit.score, 4),
                      matched_text=hit.matched_text, triggers=chosen is not None and chosen.name == hit.action.name)
            for hit in found]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
