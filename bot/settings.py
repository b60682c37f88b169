from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can configure, read from `HELPDESK_*` environment variables or `.env`."""

    model_config = SettingsConfigDict(env_prefix="HELPDESK_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite under data_dir.")
    admin_token: SecretStr | None = None

    company_name: str = Field("our company", description="How the bot names the company in its prompt.")

    embedding_model: str = Field("default", description="'default' (embedded MiniLM), a HF id or a folder.")
    lm_model: str = Field("default", description="'default' (embedded SmolLM2), a HF id or a folder.")
    lm_adapter: Path | None = Field(None, description="Optional LoRA adapter folder (peft).")
    models_dir: Path | None = Field(None, description="Where converted models live; default data_dir/models.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    registry_dir: Path | None = Field(None, description="Trained adapters and embedders; default data_dir/registry.")
    load_promoted_models: bool = Field(
        True, description="Serve the registry's promoted LM adapter (unless HELPDESK_LM_ADAPTER is set) and "
                          "embedder. See docs/learning.md.")

    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    max_new_tokens: int = Field(80, ge=1, le=2048)
    history_token_budget: int = Field(384, ge=0, description="Tokens of recent turns kept in the prompt.")
    snippets_in_prompt: int = Field(3, ge=1, le=10)

    # Cosine-similarity thresholds of the embedded MiniLM; see docs/thresholds.md for how they were set.
    faq_threshold: float = Field(0.79, ge=0.0, le=1.0)
    generate_threshold: float = Field(0.51, ge=0.0, le=1.0)

    max_message_chars: int = Field(4000, ge=1)
    conversation_timeout_minutes: float = Field(
        60.0, gt=0, description="A conversation idle this long is closed; the next message starts a new one."
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> "Settings":
        if self.generate_threshold > self.faq_threshold:
            raise ValueError("HELPDESK_GENERATE_THRESHOLD must not exceed HELPDESK_FAQ_THRESHOLD")
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
