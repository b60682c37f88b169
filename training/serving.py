"""Which trained models `helpdesk serve` loads: the registry's promoted ones, unless settings say otherwise."""

import logging
from dataclasses import dataclass
from pathlib import Path

from dialogue.lm.sources import EMBEDDED_LM_ID
from training.errors import RegistryError
from training.registry import Registry

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_ID = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ServedModels:
    embedding_model: str  # what SentenceTransformerEmbedder loads
    lm_adapter: Path | None


def lm_model_id(name: str) -> str:
    """The id TransformersGenerator records for the HELPDESK_LM_MODEL setting, without loading anything."""
    if name in ("", "default"):
        return EMBEDDED_LM_ID
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        return path.stem
    return path.name if path.exists() else name


def embedding_model_id(name: str) -> str:
    return DEFAULT_EMBEDDING_ID if name in ("", "default") else name


def served_models(registry: Registry, embedding_model: str, lm_model: str, lm_adapter: Path | None,
                  load_promoted: bool) -> ServedModels:
    """An explicit HELPDESK_LM_ADAPTER wins; otherwise the promoted adapter and embedder, when they were
    trained from the configured base models. A promoted model built on another base is an error: serving
    silently without it would hide that the bot changed."""
    if not load_promoted:
        return ServedModels(embedding_model, lm_adapter)
    adapter = lm_adapter
    if adapter is None and (card := registry.promoted("lm")) is not None:
        _same_base(card.id, card.base_model, lm_model_id(lm_model), "HELPDESK_LM_MODEL")
        adapter = registry.path(card.id)
    embedder = embedding_model
    if (card := registry.promoted("embeddings")) is not None:
        _same_base(card.id, card.base_model, embedding_model_id(embedding_model), "HELPDESK_EMBEDDING_MODEL")
        embedder = str(registry.path(card.id))
    return ServedModels(embedder, adapter)


def _same_base(entry_id: str, trained_on: str, configured: str, setting: str) -> None:
    if trained_on != configured:
        raise RegistryError(
            f"The promoted model {entry_id} was trained on {trained_on}, but {setting} is {configured}. "
            f"Promote a model trained on {configured}, set {setting} back, or set "
            "HELPDESK_LOAD_PROMOTED_MODELS=false."
        )
