"""Domain errors become HTTP answers here, and only here; clients never see a stack trace."""

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from core.errors import ModelUnavailable
from dialogue.errors import (
    ConversationClosed, ConversationNotFound, InvalidMessage, MessageTooLong, TurnNotFound,
)
from retrieval.errors import (
    DocumentError,
    DocumentNotFound,
    DocumentTooLarge,
    FaqNotFound,
    InvalidFaq,
    UnsupportedDocument,
)
from retrieval.jobs import JobNotFound

log = logging.getLogger(__name__)

_UNEXPECTED = "Internal error while handling the request; it is in the server log."
_UNEXPECTED_MESSAGE_KEPT = _UNEXPECTED + " What you sent was recorded and can be retried."


def stores_message_first(endpoint):
    """Marks a chat route whose message the dialogue manager commits before anything else runs
    (dialogue/manager.py), so that its 500 answer may say the message was kept. No other route may say so."""
    endpoint.stores_message_first = True
    return endpoint


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MessageTooLong)
    async def too_long(_: Request, error: MessageTooLong) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_413_CONTENT_TOO_LARGE)

    @app.exception_handler(InvalidMessage)
    async def invalid_message(_: Request, error: InvalidMessage) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(InvalidFaq)
    async def invalid_faq(_: Request, error: InvalidFaq) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(FaqNotFound)
    async def faq_not_found(_: Request, error: FaqNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_404_NOT_FOUND)

    @app.exception_handler(DocumentError)
    async def bad_document(_: Request, error: DocumentError) -> JSONResponse:
        code = (status.HTTP_413_CONTENT_TOO_LARGE if isinstance(error, DocumentTooLarge)
                else status.HTTP_415_UNSUPPORTED_MEDIA_TYPE if isinstance(error, UnsupportedDocument)
                else status.HTTP_422_UNPROCESSABLE_CONTENT)
        return JSONResponse({"detail": str(error)}, code)

    @app.exception_handler(ConversationClosed)
    async def conversation_closed(_: Request, error: ConversationClosed) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_409_CONFLICT)

    @app.exception_handler(ConversationNotFound)
    @app.exception_handler(TurnNotFound)
    @app.exception_handler(DocumentNotFound)
    @app.exception_handler(JobNotFound)
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
