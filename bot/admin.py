"""The admin API: FAQ maintenance and hit testing, behind the admin bearer token."""

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import KnowledgeDep, ManagerDep, require_admin
from dialogue.policy import decide
from retrieval.faqs import Faq, make_draft

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class FaqIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)
    answer: str = Field(min_length=1, max_length=20000)
    alt_questions: list[str] = Field(default_factory=list, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)


class FaqOut(BaseModel):
    id: int
    question: str
    answer: str
    alt_questions: list[str]
    tags: list[str]
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, faq: Faq) -> "FaqOut":
        return cls(**faq.__dict__)


class FaqPage(BaseModel):
    data: list[FaqOut]
    count: int


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(5, ge=1, le=50)


class SearchHit(BaseModel):
    faq_id: int
    score: float
    question: str
    answer: str
    matched_text: str


class SearchOut(BaseModel):
    hits: list[SearchHit]
    decision: str = Field(description="faq | generate | fallback, with the thresholds chat uses")
    thresholds: dict[str, float]


@router.get("/faqs", response_model=FaqPage)
def list_faqs(knowledge: KnowledgeDep, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)):
    faqs, count = knowledge.page(offset, limit)
    return FaqPage(data=[FaqOut.of(faq) for faq in faqs], count=count)


@router.post("/faqs", response_model=FaqOut, status_code=status.HTTP_201_CREATED)
def create_faq(body: FaqIn, knowledge: KnowledgeDep):
    return FaqOut.of(knowledge.create(make_draft(**body.model_dump())))


@router.get("/faqs/{faq_id}", response_model=FaqOut)
def get_faq(faq_id: int, knowledge: KnowledgeDep):
    return FaqOut.of(knowledge.get(faq_id))


@router.put("/faqs/{faq_id}", response_model=FaqOut)
def replace_faq(faq_id: int, body: FaqIn, knowledge: KnowledgeDep):
    return FaqOut.of(knowledge.update(faq_id, make_draft(**body.model_dump())))


@router.delete("/faqs/{faq_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_faq(faq_id: int, knowledge: KnowledgeDep) -> Response:
    knowledge.delete(faq_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, knowledge: KnowledgeDep, manager: ManagerDep):
    thresholds = manager.config.thresholds  # the very thresholds chat decides with
    hits = knowledge.search(body.query.strip(), top_k=body.top_k)
    return SearchOut(
        hits=[SearchHit(faq_id=h.faq.id, score=round(h.score, 4), question=h.faq.question, answer=h.faq.answer,
                        matched_text=h.matched_text) for h in hits],
        decision=decide(hits, thresholds).value,
        thresholds={"faq": thresholds.faq, "generate": thresholds.generate},
    )
