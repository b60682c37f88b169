"""Admin API for team leads: support figures over a period and the knowledge gaps customers ran into.

Any key may read the figures (viewer role). The gaps quote what customers wrote (masked), so, like the inbox
(`/admin/conversations`), they need the admin role. Definitions of every figure: docs/analytics.md.
"""

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from bot.support.analytics import report
from bot.deps import ManagerDep, ServicesDep, require_admin, require_viewer
from bot.openapi import Timestamp
from bot.support.gaps import GapFinder

router = APIRouter(prefix="/admin", tags=["admin: analytics"], dependencies=[Depends(require_viewer)])

MAX_DAYS = 366
DEFAULT_DAYS = 30
FromQuery = Annotated[date | None, Query(alias="from", description="first day (UTC), YYYY-MM-DD; default: 29 "
                                                                 "days before `to`")]
ToQuery = Annotated[date | None, Query(alias="to", description="last day (UTC), included; default: today")]
ChannelQuery = Annotated[str | None, Query(max_length=40, description="only this channel: rest, widget, "
                                                                      "socketio, slack, telegram")]


class ChosenOut(BaseModel):
    faq_id: int
    faq_question: str
    questions: list[str] = Field(description="what the customers who chose it had asked, newest first")


class GapOut(BaseModel):
    id: int = Field(description="the turn id of its oldest question; stable while that question stays in it")
    count: int = Field(description="customers who asked")
    messages: int = Field(description="questions in the gap")
    questions: list[str] = Field(description="distinct example questions, newest first")
    reasons: dict[str, int] = Field(description="questions that got a fallback / a thumbs-down / a handoff")
    first_asked: Timestamp
    last_asked: Timestamp
    status: Literal["open", "closed"]
    answered_questions: int = Field(description="questions an FAQ now answers "
                                                "(after a thumbs-down: an FAQ edited since)")
    answered_by: list[int] = Field(description="ids of those FAQs")
    chosen: list[ChosenOut] = Field(description="FAQs customers chose from the fallback's suggestions, with the "
                                                "questions they had asked: alternative questions to add to them")


class GapPage(BaseModel):
    data: list[GapOut]
    count: int
    open: int
    closed: int


def get_gap_finder(request: Request) -> GapFinder:
    return request.app.state.gap_finder


def period(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"`from` ({start}) is after `to` ({end}); swap them.")
    if (end - start).days + 1 > MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"The period has {(end - start).days + 1} days; ask for at most {MAX_DAYS} at a time.")
    return start, end


@router.get("/analytics")
async def analytics(services: ServicesDep, start: FromQuery = None, end: ToQuery = None,
                    channel: ChannelQuery = None) -> dict[str, Any]:
    """Totals for the period at the top level, then `days` (every day, oldest first) and `channels`."""
    start, end = period(start, end)
    timeout = timedelta(minutes=services.settings.conversation_timeout_minutes)
    result = await run_in_threadpool(report, services.sessions, start, end, channel, timeout)
    return {"from": result.start, "to": result.end, "channel": result.channel, **asdict(result.totals),
            "days": [asdict(day) for day in result.days], "channels": [asdict(row) for row in result.channels]}


@router.get("/gaps", response_model=GapPage, dependencies=[Depends(require_admin)])
async def knowledge_gaps(manager: ManagerDep, finder: Annotated[GapFinder, Depends(get_gap_finder)],
                         start: FromQuery = None, end: ToQuery = None, channel: ChannelQuery = None,
                         status_filter: Literal["open", "closed", "all"] = Query("open", alias="status"),
                         limit: int = Query(50, ge=1, le=500)):
    """Questions that got a fallback, a thumbs-down or a handoff, grouped by meaning, most customers first."""
    start, end = period(start, end)
    since = datetime.combine(start, time.min, UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, UTC)
    gaps = await run_in_threadpool(finder.gaps, since, until, manager.thresholds(), channel)
    shown = [gap for gap in gaps if status_filter == "all" or gap.status == status_filter]
    closed = sum(gap.status == "closed" for gap in gaps)
    return GapPage(data=[GapOut(**asdict(gap)) for gap in shown[:limit]], count=len(shown),
                   open=len(gaps) - closed, closed=closed)
