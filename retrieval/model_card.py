"""Whether an embedding model compares texts across languages, read from its model card.

An FAQ in another language than the question is only worth quoting when the embedder put both into one space:
English MiniLM matches a German question to an English FAQ by the product names they share ("Ich möchte einen
Nimbus Plug kaufen" → the plug's maximum load, confidence 0.73), so across languages its scores say little
(docs/languages.md, "Replies across languages"). A sentence-transformers model card (README.md) names its
languages in the front matter: `language: en` for all-MiniLM-L6-v2; `multilingual` or a list for
multilingual-e5, paraphrase-multilingual-* and LaBSE. Nothing is downloaded: a model id is read from the
Hugging Face cache, if it is there.
"""

from pathlib import Path

import yaml

# Named multilingual where a card is missing or says nothing (folders copied without their README).
_MULTILINGUAL_NAMES = ("multilingual", "labse", "bge-m3", "xlm-r")


def card_languages(model: str) -> list[str]:
    """The languages the model card of `model` (a folder or a Hugging Face id) lists; [] when there is none."""
    text = _card_text(model)
    if not text.startswith("---"):
        return []
    try:
        front = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return []
    languages = front.get("language") if isinstance(front, dict) else None
    if isinstance(languages, str):
        return [languages]
    return [str(code) for code in languages] if isinstance(languages, list) else []


def compares_across_languages(model: str) -> bool:
    """True when the card lists `multilingual` or more than one language, or the name says multilingual."""
    languages = card_languages(model)
    if "multilingual" in languages or len(languages) > 1:
        return True
    return not languages and any(name in model.lower() for name in _MULTILINGUAL_NAMES)


def _card_text(model: str) -> str:
    folder = Path(model).expanduser()
    card = folder / "README.md" if folder.is_dir() else _cached_card(model)
    try:
        return card.read_text(encoding="utf-8") if card is not None else ""
    except (OSError, UnicodeDecodeError):
        return ""


def _cached_card(model_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(model_id, "README.md")
    except ValueError:  # not a repository id
        return None
    return Path(found) if isinstance(found, str) else None
