"""The words a sentence says something with, in every catalogue language: what the reply check compares.

English, German, French and Spanish words are runs of letters of any script, lower-cased, stop words of
those four languages dropped (spaCy's lists, which ship with presidio's spaCy; no model is loaded), plural
and verb endings stripped the English way on both sides alike. Chinese and Japanese write no spaces: their
words are the pairs of neighbouring ideographs (bigrams, as BM25 indexes them), but for pairs of two of
spaCy's Chinese stop characters ("的", "是", "您"); a lone ideograph counts as itself; a katakana run is a
word; hiragana is grammar and is dropped. Single characters let a reply that recombines the snippets'
characters into nonsense pass ("在 App 中重新连到 App 中"): SmolLM2 on the Chinese sample shop sent 9.1 wrong
answers per 100 with them, 5.6 with pairs (docs/languages.md). Before this, a word was
`[a-z0-9]+`: "Rückgabe" read as "ckgabe", and a Chinese sentence had no words at all, so the check passed
any Chinese reply whose numbers were right ("您的账户已被删除" over a snippet about returns).
"""

import re
from functools import lru_cache

from dialogue.claims import CONTRACTIONS, stem

_ENGLISH_STOP_WORDS = frozenset(
    "a an the and or but if then so to of in on at by for with from as is are was were be been being it its "
    "this that these those there here i you we they he she me us them my your our their his her can could will "
    "would should may might must do does did done have has had not no yes any all some each every more most "
    "other such only own same than too very just also about into over after before up down out off again once "
    "what which who whom when where why how please thank thanks sure okay ok let know get".split()
) | CONTRACTIONS
# A word: letters or digits of any script, with inner apostrophes and hyphens ("don't", "e-mail", "Wi-Fi").
_WORD = re.compile(r"[^\W_](?:[\w'’\-]*[^\W_])?")
_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_IDEOGRAPHS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_KATAKANA = re.compile(r"[\u30a0-\u30ffー]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffー]+")  # ideographs and kana


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """English (ours) with spaCy's German, French and Spanish lists: the languages written with spaces."""
    from spacy.lang.de.stop_words import STOP_WORDS as GERMAN
    from spacy.lang.es.stop_words import STOP_WORDS as SPANISH
    from spacy.lang.fr.stop_words import STOP_WORDS as FRENCH

    return _ENGLISH_STOP_WORDS | GERMAN | FRENCH | SPANISH


@lru_cache(maxsize=1)
def stop_characters() -> frozenset[str]:
    """The single ideographs of spaCy's Chinese stop list: particles, pronouns, numerals, "可", "在"."""
    from spacy.lang.zh.stop_words import STOP_WORDS as CHINESE

    return frozenset(word for word in CHINESE if len(word) == 1 and _IDEOGRAPH.match(word))


def is_cjk(word: str) -> bool:
    """Does `word` hold Chinese or Japanese characters?"""
    return bool(_CJK.search(word))


def content_words(text: str) -> set[str]:
    found: set[str] = set()
    for word in _WORD.findall(text):
        if word in _PLACE_CODES:
            found.add(word.lower())  # "EU" is a place, not French "eu"; "US" a country, not "us"
        else:
            word = word.lower()
            found |= _cjk_words(word) if _CJK.search(word) else _spaced_words([word])
    return found


_PLACE_CODES = frozenset(("EU", "US"))  # not every word in capitals: "9 AM" ("am" is German), "OK"


def words(text: str) -> list[str]:
    """Every word of `text` in order, lower-cased, CJK characters one by one: for "the same sentence again"."""
    return [piece for word in _WORD.findall(text.lower())
            for piece in (list(word) if _CJK.search(word) else [word])]


def _cjk_words(run: str) -> set[str]:
    found = set()
    for ideographs in _IDEOGRAPHS.findall(run):
        if len(ideographs) == 1:
            found |= {ideographs} - stop_characters()
        for a, b in zip(ideographs, ideographs[1:]):
            if not (a in stop_characters() and b in stop_characters()):
                found.add(a + b)
    found |= {katakana for katakana in _KATAKANA.findall(run) if len(katakana) > 1}
    return found | _spaced_words(_CJK.sub(" ", run).split())  # Latin words in the run ("Nimbus设备")


def _spaced_words(words: list[str]) -> set[str]:
    stop = stop_words()
    return {stem(word) for word in words if word not in stop and len(word) > 1}
