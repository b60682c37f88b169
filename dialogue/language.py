"""The language a conversation is held in: detected offline from what the customer writes
(core/language_detection.py), or set by the page.

The rules (docs/languages.md):
- a message whose metadata names a language (`language` or `lang`: the widget's `data-lang`, a REST client)
  sets the conversation's language;
- a message of at least `lock_chars` letters that is detected with confidence sets it too: a customer who
  switches language is answered in the new one;
- a message the detector also reads as the conversation's language (a quarter of its score or more) keeps it;
- shorter or unsure messages ("ok", "danke", "👍", "NH-12345") keep the conversation's language, as Intercom
  does below 10 characters (a Chinese, Japanese or Korean character counts as three: "我忘记密码了" is a whole
  question); a conversation that has none yet takes a short message's language only when it is a catalogue
  language detected with high confidence ("Bonjour", "你好"; not "ja", which fastText takes for Finnish), else
  the deployment's default, unless it is a greeting of a catalogue language ("Hallo!", "Bonjour");
- a language the catalogue has no texts for is stored as detected, and texts fall back to the default.
"""

import re
from dataclasses import dataclass

from core.language_detection import LanguageDetector, letters, shared_detector

DEFAULT_LOCK_CHARS = 10
DEFAULT_MIN_CONFIDENCE = 0.3  # the lite model gives "How do I return a camera?" 0.34; 0.3 kept 132 of 138 right
FIRST_SHORT_CONFIDENCE = 0.8
SWITCH_CONFIDENCE = 0.8  # to leave the conversation's language (see LanguagePolicy.choose)
# A message the detector gives the conversation's language this share of keeps it, whatever it put first: short
# follow-ups share words across languages ("und was kostet das?": en 0.55, de 0.37), and going back to the default
# language needs only min_confidence. A real switch leaves the old language far behind ("How do I return a
# camera?" after German: en 0.34, de below the fifth).
KEEP_SHARE = 0.25
_CODE = re.compile(r"^[a-z]{2,3}$")
# Greetings of the catalogue's other languages (dialogue/small_talk.py answers them): a first message that is only
# "Hallo!" is too short for the detector, but already says which language to answer in.
GREETINGS = {
    "de": r"hallo|servus|moin|gr(?:ü|ue)(?:ß|ss)\s+gott|gr(?:ü|ue)ezi|guten\s+(?:morgen|tag|abend)",
    "fr": r"bonjour|bonsoir|salut|coucou",
    "es": r"hola|buen(?:os|as)\s+(?:d(?:í|i)as|tardes|noches)|buenas",
    "zh": r"你好|您好|嗨|哈喽|早上好|下午好|晚上好|在吗",
    "ja": r"こんにちは|こんばんは|おはよう(?:ございます)?|はじめまして",
}
GREETING_AUDIENCE = r"(?:\s+(?:zusammen|allerseits|(?:à|a)\s+tous|a\s+todos|equipo|team))?"
_GREETING_LANGUAGES = [(code, re.compile(rf"^\s*(?:{pattern}){GREETING_AUDIENCE}[\s!.,~。！？～、，]*$", re.IGNORECASE))
                       for code, pattern in GREETINGS.items()]


@dataclass(frozen=True)
class LanguageConfig:
    default: str = "en"
    lock_chars: int = DEFAULT_LOCK_CHARS
    min_confidence: float = DEFAULT_MIN_CONFIDENCE


def normalise_code(value: object) -> str | None:
    """"de-DE", "zh_Hant", "EN" → "de", "zh", "en"; None for anything that is not a language tag."""
    if not isinstance(value, str):
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if _CODE.match(code) else None


def greeting_language(message: str) -> str | None:
    """The language of a message that is only a greeting of GREETINGS ("Hallo!" → "de"), else None."""
    return next((code for code, pattern in _GREETING_LANGUAGES if pattern.match(message)), None)


class LanguagePolicy:
    """Decides a conversation's language message by message (the rules in the module docstring)."""

    def __init__(self, config: LanguageConfig = LanguageConfig(), known: frozenset[str] = frozenset(),
                 detector: LanguageDetector | None = None):
        self.config = config
        self.known = known  # the catalogue's languages
        self.detector = detector or shared_detector()

    def warm_up(self) -> None:
        self.detector.warm_up()

    def requested(self, metadata: dict | None) -> str | None:
        """The language a message's metadata asks for (`language` or `lang`), if it names one."""
        metadata = metadata or {}
        return normalise_code(metadata.get("language")) or normalise_code(metadata.get("lang"))

    def choose(self, current: str | None, text: str, metadata: dict | None = None) -> str:
        """The conversation's language after this message."""
        if asked := self.requested(metadata):
            return asked
        if (metadata or {}).get("suggestion_chosen"):  # the FAQ's question, as the button sent it: not the customer's
            return current or self.config.default  # words (an English FAQ suggested to a German customer)
        long_enough = letters(text) >= self.config.lock_chars
        keep = current or self.config.default
        if current is None and (greeted := greeting_language(text)) in self.known:
            return greeted  # "Hallo!": too short (or too plain) for the detector, but a greeting says its language
        if long_enough or current is None:
            found, scores = self.detector.read(text)
            if found is None or found.code == keep:
                return keep
            if current is not None and scores.get(current, 0.0) >= KEEP_SHARE:
                return keep  # "und was kostet das?" in a German conversation: en 0.55, de 0.37
            # Leaving the conversation's (or the default) language takes a sure detection: the lite model
            # took "send me a gift voucher" for French at 0.69, while real French, German or Spanish
            # questions score 0.94-1.0; a wrong switch answers a customer in a language they did not write.
            # The deployment's default language is the prior: going back to it needs only min_confidence.
            sure = self.config.min_confidence if found.code == self.config.default else SWITCH_CONFIDENCE
            needed = max(sure, self.config.min_confidence) if long_enough else FIRST_SHORT_CONFIDENCE
            if found.confidence >= needed and (long_enough or found.code in self.known):
                return found.code
        return keep
