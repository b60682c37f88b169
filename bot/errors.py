"""Domain errors become HTTP answers here, and only here; clients never see a stack trace."""

import json
import logging

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bot.input_checks import InputRefused, Problem
from bot.notify.store import DeliveryNotFound, WebhookNotFound

from core.errors import ModelUnavailable
from dialogue.errors import (
    ConversationClosed, ConversationNotFound, CustomerNotFound, InvalidMessage, MessageIdReused, MessageTooLong,
    SenderClaimed, TurnNotFound,
)
from retrieval.errors import (
    ActionExists,
    ActionNotFound,
    DocumentError,
    DocumentNotFound,
    DocumentTooLarge,
    FaqChanged,
    FaqNotFound,
    GeneratedQuestionNotFound,
    InvalidAction,
    InvalidFaq,
    UnsupportedDocument,
)
from retrieval.jobs import JobNotFound

log = logging.getLogger(__name__)
RETRY_NOTE = ("Sending the same chat message again is safe: one that was recorded is answered once and not "
              "stored twice.")


def unprocessable(problems: list[Problem]) -> JSONResponse:
    """Every 422 has FastAPI's shape: `detail` is a list of {type, loc, msg}."""
    return JSONResponse({"detail": [problem.as_error() for problem in problems]},
                        status.HTTP_422_UNPROCESSABLE_CONTENT)

_UNEXPECTED = "Internal error while handling the request; it is in the server log."
_UNEXPECTED_MESSAGE_KEPT = _UNEXPECTED + " " + RETRY_NOTE


def stores_message_first(endpoint):
    """Marks a chat route whose message the dialogue manager commits before anything else runs
    (dialogue/manager.py), so that its 500 answer may say the message was kept. No other route may say so."""
    endpoint.stores_message_first = True
    return endpoint


def install_error_handlers(app: FastAPI) -> None:
    _install_request_handlers(app)
    _install_message_handlers(app)
    _install_action_handlers(app)

    @app.exception_handler(InvalidFaq)
    async def invalid_faq(_: Request, error: InvalidFaq) -> JSONResponse:
        return unprocessable([Problem(("body",), str(error), "value_error")])

    @app.exception_handler(ActionNotFound)
    @app.exception_handler(FaqNotFound)
    async def faq_not_found(_: Request, error: FaqNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_404_NOT_FOUND)

    @app.exception_handler(DocumentError)
    async def bad_document(_: Request, error: DocumentError) -> JSONResponse:
        if isinstance(error, DocumentTooLarge):
            return JSONResponse({"detail": str(error)}, status.HTTP_413_CONTENT_TOO_LARGE)
        if isinstance(error, UnsupportedDocument):
            return JSONResponse({"detail": str(error)}, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
        return unprocessable([Problem(("body",), str(error), "value_error")])

    @app.exception_handler(FaqChanged)
    @app.exception_handler(ConversationClosed)
    async def conversation_closed(_: Request, error: ConversationClosed) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_409_CONFLICT)

    @app.exception_handler(ConversationNotFound)
    @app.exception_handler(CustomerNotFound)
    @app.exception_handler(TurnNotFound)
    @app.exception_handler(DocumentNotFound)
    @app.exception_handler(GeneratedQuestionNotFound)
    @app.exception_handler(JobNotFound)
    @app.exception_handler(WebhookNotFound)
    @app.exception_handler(DeliveryNotFound)
    async def knowledge_not_found(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_404_NOT_FOUND)

    @app.exception_handler(ModelUnavailable)
    async def model_unavailable(_: Request, error: ModelUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("Unhandled error on %s %s", request.method, request.url.path)
        kept = getattr(request.scope.get("endpoint"), "stores_message_first", False)
        return JSONResponse({"detail": _UNEXPECTED_MESSAGE_KEPT if kept else _UNEXPECTED},
                            status.HTTP_500_INTERNAL_SERVER_ERROR)


def _install_message_handlers(app: FastAPI) -> None:
    """A customer's message that cannot be taken."""
    @app.exception_handler(MessageTooLong)
    async def too_long(_: Request, error: MessageTooLong) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_413_CONTENT_TOO_LARGE)

    @app.exception_handler(InvalidMessage)
    async def invalid_message(_: Request, error: InvalidMessage) -> JSONResponse:
        return unprocessable([Problem(("body", "message"), str(error), "value_error")])

    @app.exception_handler(MessageIdReused)
    async def message_id_reused(_: Request, error: MessageIdReused) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_409_CONFLICT)

    @app.exception_handler(SenderClaimed)
    async def sender_claimed(_: Request, error: SenderClaimed) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_403_FORBIDDEN, headers={"WWW-Authenticate": "Bearer"})


def _install_action_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidAction)
    async def invalid_action(_: Request, error: InvalidAction) -> JSONResponse:
        return unprocessable([Problem(("body",), str(error), "value_error")])

    @app.exception_handler(ActionExists)
    async def action_exists(_: Request, error: ActionExists) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_409_CONFLICT)


def _install_request_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputRefused)
    async def input_refused(_: Request, error: InputRefused) -> JSONResponse:
        return unprocessable([error.problem])

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_encodable(item) for item in jsonable_encoder(error.errors())]},
                            status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT and isinstance(error.detail, str):
            where = "query" if request.method in ("GET", "HEAD", "DELETE") else "body"
            return unprocessable([Problem((where,), error.detail, "value_error")])  # one 422 shape
        if error.status_code == status.HTTP_400_BAD_REQUEST and error.detail == _UNPARSED_BODY:
            return unprocessable([_unparsed(error.__cause__)])  # a body FastAPI could not read is a 422 too
        return await http_exception_handler(request, error)


_UNPARSED_BODY = "There was an error parsing the body"  # FastAPI's words when reading the body raised


def _unparsed(cause: BaseException | None) -> Problem:
    if isinstance(cause, RecursionError):
        return Problem(("body",), "is nested too deeply to parse; flatten it.", "too_deep")
    if isinstance(cause, UnicodeDecodeError):
        return Problem(("body", cause.start), "is not valid UTF-8; send UTF-8 JSON.", "json_invalid")
    return Problem(("body",), "could not be read as the declared content type.", "json_invalid")


def _encodable(error: dict) -> dict:
    """FastAPI echoes the refused `input`; one that is not valid Unicode would make the answer itself fail."""
    try:
        json.dumps(error, default=str, ensure_ascii=False).encode()
    except (UnicodeEncodeError, ValueError):
        return {key: value for key, value in error.items() if key not in ("input", "ctx")}
    return error
