"""What the API description promises beyond the happy path: error statuses and timestamps that say UTC.

Errors come from a few shared places (the token check, the body limit, the input checks, the domain error
handlers in bot/errors.py), so the statuses a route can answer follow from what the route is: it takes a
body, has ids in its path, needs a role, talks to a platform. `describe_errors` reads that off each route
once, as the routers are included, instead of every route repeating its list.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, params
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel

from bot.deps import authenticate


class ErrorOut(BaseModel):
    detail: str


class ProblemOut(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class ProblemsOut(BaseModel):
    """FastAPI's 422 shape, for routes that read their body themselves."""

    detail: list[ProblemOut]


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A moment in a response: ISO 8601 with its offset, always UTC ("2026-12-01T09:30:00Z" style, +00:00).
Timestamp = Annotated[datetime, AfterValidator(_utc)]

_WHY = {
    400: "The body cannot be read: not the platform's UTF-8 JSON, or a malformed multipart form.",
    401: "Missing or wrong credentials (token, API key or platform signature).",
    403: "The key's role does not allow this, or the platform secret is wrong.",
    404: "No such record, or the channel is not configured.",
    409: "The request conflicts with the record's state (see `detail`).",
    413: "The body, the message or the upload is larger than its limit.",
    415: "The upload's file type is not supported.",
    503: "The admin API is disabled, or a model is not available yet.",
}
_CHAT = {"/webhooks/rest/webhook", "/widget/messages"}
# What the route's own code raises beyond what its shape implies.
_RAISED = {("POST", "/admin/conversations/{conversation_id}/messages"): {409},
           ("PUT", "/admin/conversations/{conversation_id}/status"): {409},
           ("POST", "/admin/documents/{document_id}/resync"): {409},
           ("POST", "/admin/models/lm"): {404, 409}, ("POST", "/feedback"): {404},
           ("POST", "/admin/actions"): {409}, ("PUT", "/admin/actions/{name}"): {409}}


def describe_errors(router: APIRouter) -> APIRouter:
    """Add the error statuses to the router's routes (idempotent: routers are module-level and shared)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for code in sorted(_statuses(route)):
                route.responses.setdefault(code, {"model": ErrorOut, "description": _WHY[code]})
            if route.body_field is None and route.path.startswith("/webhooks/"):
                route.responses.setdefault(422, {"model": ProblemsOut, "description": "Input no database "
                                                 "stores alike (NUL, lone surrogates, NaN, nesting)."})
    return router


def _statuses(route: APIRoute) -> set[int]:
    calls = _calls(route.dependant)
    codes: set[int] = set()
    if authenticate in calls:
        codes |= {401, 403, 503}
    if route.dependant.path_params or any(_has_path_params(dependant) for dependant in route.dependant.dependencies):
        codes.add(404)
    if route.body_field is not None:
        codes.add(413)
        if any(isinstance(field.field_info, params.Form | params.File) for field in route.dependant.body_params):
            codes |= {400, 415}  # 400: the multipart framing itself is broken
    if route.path in _CHAT:
        codes |= {409, 413, 503}
    if route.path.startswith(("/webhooks/slack", "/webhooks/telegram")):
        codes |= {400, 401, 403, 404, 413}
    for method in route.methods:
        codes |= _RAISED.get((method, route.path), set())
    return codes


def _calls(dependant) -> set:
    found, stack = set(), [dependant]
    while stack:
        current = stack.pop()
        found.add(current.call)
        stack.extend(current.dependencies)
    return found


def _has_path_params(dependant) -> bool:
    return bool(dependant.path_params) or any(_has_path_params(child) for child in dependant.dependencies)
