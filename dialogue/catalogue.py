"""Every text the bot writes itself, in each language it speaks: the message catalogue.

The built-in texts live in dialogue/phrases/<language>.yaml (en, de, fr, es, zh, ja), one flat mapping of keys
to texts with `{placeholders}`. A deployment overrides or adds texts with a YAML file of its own
(HELPDESK_PHRASES_FILE): `{language: {key: text}}`, where a new language may give only some keys. Checked at
start: an unknown key, or a text whose placeholders differ from the English one's, is refused with the reason.
A key a language lacks is said in the deployment's default language, then in English.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from dialogue.language import normalise_code

PHRASES_DIR = Path(__file__).resolve().parent / "phrases"
_PLACEHOLDER = re.compile(r"{(\w+)}")


class CatalogueError(ValueError):
    """A phrases file an operator wrote cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Phrases:
    """The catalogue in one language: `say("fallback")`, `say("greeting_named", name="Ann")`."""

    language: str
    _texts: dict[str, str]

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts[key]
        return text.format(**values) if values else text

    def texts(self, prefix: str = "") -> dict[str, str]:
        """The texts whose key starts with `prefix` (the widget's, "widget_")."""
        return {key: text for key, text in self._texts.items() if key.startswith(prefix)}


class Catalogue:
    def __init__(self, texts: dict[str, dict[str, str]], default: str = "en"):
        self.default = default if default in texts else "en"
        english = texts["en"]
        # Every language complete: its own text, else the default language's, else English.
        self._phrases = {
            language: Phrases(language, {key: own.get(key) or texts[self.default].get(key) or english[key]
                                         for key in english})
            for language, own in texts.items()
        }

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._phrases)

    def phrases(self, language: str | None) -> Phrases:
        """The texts in `language`; the default language's when the catalogue has none in it."""
        return self._phrases.get(language or "", self._phrases[self.default])

    @classmethod
    def load(cls, override: Path | None = None, default: str = "en") -> "Catalogue":
        texts = {language: dict(own) for language, own in builtin_texts().items()}
        if override is not None:
            for language, own in read_override(override, texts["en"]).items():
                texts[language] = {**texts.get(language, {}), **own}
        return cls(texts, default)


@lru_cache(maxsize=1)
def builtin_texts() -> dict[str, dict[str, str]]:
    return {path.stem: _read_mapping(path) for path in sorted(PHRASES_DIR.glob("*.yaml"))}


@lru_cache(maxsize=1)
def english() -> Phrases:
    """The built-in English texts, for callers that have no catalogue (tests, tools)."""
    return Phrases("en", builtin_texts()["en"])


def read_override(path: Path, english_texts: dict[str, str]) -> dict[str, dict[str, str]]:
    """A deployment's phrases file, checked against the English texts' keys and placeholders."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise CatalogueError(f"Cannot read the phrases file {path}: {error}") from error
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path}: expected a mapping of languages (en, de, ...) to mappings of texts.")
    checked: dict[str, dict[str, str]] = {}
    for language, own in raw.items():
        code = normalise_code(str(language))
        if code is None or not isinstance(own, dict):
            raise CatalogueError(f"{path}: {language!r} is not a language code with a mapping of texts under it.")
        for key, text in own.items():
            if key not in english_texts:
                raise CatalogueError(f"{path}: {code}.{key} is not a text of the catalogue (see dialogue/phrases/"
                                     "en.yaml for the keys).")
            if not isinstance(text, str) or not text.strip():
                raise CatalogueError(f"{path}: {code}.{key} must be a non-empty text.")
            wanted, found = set(_PLACEHOLDER.findall(english_texts[key])), set(_PLACEHOLDER.findall(text))
            if wanted != found:
                wanted_text, found_text = ", ".join(sorted(wanted)) or "none", ", ".join(sorted(found)) or "none"
                raise CatalogueError(f"{path}: {code}.{key} must use the placeholders {wanted_text}, not {found_text}.")
        checked[code] = {str(key): text for key, text in own.items()}
    return checked


def _read_mapping(path: Path) -> dict[str, str]:
    texts = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(key): str(text) for key, text in texts.items()}
