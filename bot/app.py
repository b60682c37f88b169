"""The app factory: one FastAPI app from one `Settings`, with its routers wired explicitly."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from bot.connectors import rest, slack, socketio, telegram, widget
from bot.connectors.channels import build_channels
from bot.connectors.webhooks import MAX_BODY_BYTES as PLATFORM_BODY_BYTES
from bot.api.routers import API_ROUTERS
from bot.api.search import thresholds_in_force
from bot.errors import install_error_handlers
from bot.support.gaps import GapFinder
from bot.request_checks import check_request
from bot.body_timeout import BodyTimeout
from bot.limits import BodyLimit
from bot.openapi import describe_errors
from bot.background.recovery import Supervisor
from bot.background.retention import retention_running
from bot.services import Services, build_services
from bot.settings import Settings, get_settings
from bot.notify.sender import build_sender
from retrieval.language_traffic import MIN_QUESTIONS


CHANNEL_ROUTERS = (rest.router, slack.router, telegram.router, widget.router)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = services or build_services(settings)
    channels = build_channels(settings, services)
    supervisor = Supervisor(services.processes, channels, services.knowledge.jobs,
                            settings.process_heartbeat_seconds, timedelta(hours=settings.recovery_max_age_hours),
                            settings.recover_orphaned_work)
    sender = build_sender(settings, services.sessions, services.processes)  # outgoing webhooks

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(services.start)  # a no-op when the CLI already started them
        await supervisor.start()  # heartbeat; takes over what a crashed process left (bot/background/recovery.py)
        if settings.webhook_delivery:
            sender.start()  # its own threads: a slow receiver never holds an answer
        async with retention_running(settings, services.sessions, services.processes):  # bot/background/retention.py
            yield
        await asyncio.to_thread(sender.stop)
        await supervisor.stop()
        await channels.close()  # lets Slack/Telegram replies in progress finish first
        await supervisor.retire()  # what was cut off is at once free for other processes or the next start
        await asyncio.to_thread(services.knowledge.index.save)  # restart without re-embedding

    app = FastAPI(
        title="Helpdesk bot",
        summary="Self-hosted customer-service chatbot with grounded answers from your knowledge base.",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(check_request)],  # bot/request_checks.py: one place for what no database stores
    )
    app.state.settings = settings
    app.state.services = services
    app.state.channels = channels
    app.state.supervisor = supervisor
    app.state.gap_finder = GapFinder(services.sessions, services.knowledge)
    install_error_handlers(app)

    _add_health(app, services)

    for router in CHANNEL_ROUTERS:
        app.include_router(describe_errors(router))
    socketio.mount(app, services.manager, settings)
    for router in API_ROUTERS:
        app.include_router(describe_errors(router))
    _limit_bodies(app, settings)
    app.add_middleware(BodyTimeout, seconds=settings.body_timeout_seconds)  # a stalled body is cut off (408)
    app.add_middleware(ChatCors, origins=settings.allowed_origins)
    return app


class ChatCors:
    """Pages in allowed_origins may call the chat API from a browser. No cookies are involved, so this opens
    nothing a plain HTTP client could not reach. A signed-in customer's page sends the chat token in the
    Authorization header (bot/connectors/identity.py), so the REST channel allows it; every other route keeps it
    off-limits to other sites, so that no page elsewhere can drive the admin API with a token it holds."""

    TOKEN_PATHS = frozenset({rest.router.prefix + "/webhook"})

    def __init__(self, app, origins: list[str]):
        self.chat = CORSMiddleware(app, allow_origins=origins, allow_methods=["GET", "POST"],
                                   allow_headers=["Content-Type", "Authorization", "Idempotency-Key"])
        self.others = CORSMiddleware(app, allow_origins=origins, allow_methods=["GET", "POST"],
                                     allow_headers=["Content-Type"])

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] in self.TOKEN_PATHS:
            await self.chat(scope, receive, send)
        else:
            await self.others(scope, receive, send)


def _add_health(app: FastAPI, services: Services) -> None:
    @app.get("/health", tags=["ops"], responses={503: {"description": "Models or index still loading."}})
    async def health() -> JSONResponse:
        if not services.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({
            "status": "ok",
            "lm_model": services.generator.model_id,
            **lm_runtime(services),
            "embedding_model": services.embedder.model_id,
            "faqs_indexed": len(services.knowledge.index.faq_ids) if services.knowledge.index else 0,
            "knowledge_languages": services.knowledge.index.lexical.language_counts()
            if services.knowledge.index else {},
            **({"language_advice": advice} if (advice := services.knowledge.language_advice()) else {}),
            **_questions_across_languages(services),
            "thresholds": thresholds_in_force(services.manager),
            "judgement": judgement_in_force(services),
        })


def _questions_across_languages(services: Services) -> dict:
    """With a multilingual embedder: the questions counted per language the knowledge base is not written in, and
    whether that language's questions are ranked from its mean yet (retrieval/language_traffic.py)."""
    knowledge = services.knowledge
    if not knowledge.across_languages or not knowledge.config.language_shift:
        return {}
    return {"questions_across_languages": {
        language: {"questions": count, "ranked_from_mean": count >= MIN_QUESTIONS}
        for language, count in sorted(knowledge.traffic.counts().items())}}


def judgement_in_force(services: Services) -> dict:
    """Whether the LM judges the uncertain band (HELPDESK_JUDGEMENT: auto leaves the embedded model out), with which
    steps, and how sure "verify" must be (dialogue/judgement.py)."""
    judge = services.manager.answering.judge
    return {"active": judge.active, "mode": judge.config.mode, "steps": sorted(judge.config.steps),
            "verify_threshold": judge.config.verify_threshold}


def lm_runtime(services: Services) -> dict:
    """Which runtime writes replies, on which device, and why (HELPDESK_LM_BACKEND=auto decides at start)."""
    choice = services.lm_choice
    if choice is None:
        return {"lm_backend": services.settings.lm_backend}
    runtime = {"lm_backend": choice.backend, "lm_device": choice.device, "lm_backend_reason": choice.reason}
    if compiled := getattr(services.generator, "compile_seconds", None):  # the one-reply step on a GPU
        runtime["lm_compile_seconds"] = round(compiled, 1)
    if dtype := getattr(services.generator, "dtype", None):  # transformers, once loaded: bfloat16 or float32
        runtime["lm_dtype"] = dtype
    return runtime


def _limit_bodies(app: FastAPI, settings: Settings) -> None:
    """Bodies are counted as they arrive: a bigger one gets a 413 before it is read whole.

    Uploads carry whole documents and FAQ files (the route itself refuses a file over max_upload_bytes);
    platform events are bounded as before; everything else, the public chat routes and socket.io polling
    included, takes max_body_bytes.
    """
    platform = (PLATFORM_BODY_BYTES, "platform events are far smaller")
    app.add_middleware(BodyLimit, default=(settings.max_body_bytes, "HELPDESK_MAX_BODY_BYTES"), limits={
        "/admin/": (settings.max_upload_bytes + 65_536, "HELPDESK_MAX_UPLOAD_BYTES plus form overhead"),
        "/webhooks/slack/": platform, "/webhooks/telegram/": platform})
