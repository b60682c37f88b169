"""The app factory: one FastAPI app from one `Settings`, with its routers wired explicitly."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot import admin, admin_models, feedback
from bot.connectors import rest
from bot.errors import install_error_handlers
from bot.services import Services, build_services
from bot.settings import Settings, get_settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(services.start)  # a no-op when the CLI already started them
        yield

    app = FastAPI(
        title="Helpdesk bot",
        summary="Self-hosted customer-service chatbot with grounded answers from your knowledge base.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    install_error_handlers(app)

    @app.get("/health", tags=["ops"])
    async def health() -> JSONResponse:
        if not services.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({
            "status": "ok",
            "lm_model": services.generator.model_id,
            "embedding_model": services.embedder.model_id,
            "faqs_indexed": len(services.knowledge.index.faq_ids) if services.knowledge.index else 0,
        })

    app.include_router(rest.router)
    app.include_router(feedback.router)
    app.include_router(admin.router)
    app.include_router(admin_models.router)
    return app
