"""A text's sentences: pysbd (rule-based, keeps prices, decimals, URLs, e-mail addresses and abbreviations
whole), each line of a list its own sentence, citation marks like "[2]" removed first. pysbd's English rules do
not end a sentence at the full-width "。", "！" and "？" of Chinese and Japanese, nor after a unit's letter
("1,800 W. Don't ..."); those end one too, so that a supported sentence cannot carry an unsupported one along."""

import re
from functools import lru_cache

import pysbd

_CITATION = re.compile(r"\s*\[\d+(?:,\s*\d+)*\]")
# Where pysbd does not end a sentence: the full-width stops of Chinese and Japanese, and a unit's letter after a
# number ("up to 15 A / 1,800 W. Don't connect ..."), which it reads as an initial.
_FULL_WIDTH_END = re.compile(r"[。！？]+(?=\S)|(?<=\d)\s?(?:[AVWh]|GB|MB|TB|GHz|kWh)\.(?=\s+[A-Z])")
_CLOSING_QUOTE_GOES_ON = re.compile(r"\s*[“”»’\"']\s*[a-zäöüßàâçéèêëîïôûùÿñæœáíóú]")


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, covering it without gaps (trailing spaces included)."""
    if not text.strip():
        return []
    spans, position = [], 0
    for part in _segmenter().segment(text):
        start = text.find(part.sent, position)
        start = position if start < 0 else start
        spans.append((position, start + len(part.sent)))
        position = start + len(part.sent)
    if position < len(text):
        spans[-1] = (spans[-1][0], len(text))
    spans = _quotes_closed(text, spans)
    return [piece for span in spans for piece in _at_full_width_ends(text, span)]


def _quotes_closed(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """pysbd's English rules know ” and " as closing quotes, not German „…“ or French «…»: „Passwort vergessen?“
    und ... was cut after the "?". A sentence that opens with a closing quote and goes on in lower case belongs
    to the one before."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and _CLOSING_QUOTE_GOES_ON.match(text, start):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _at_full_width_ends(text: str, span: tuple[int, int]) -> list[tuple[int, int]]:
    start, end = span
    cuts = [match.end() for match in _FULL_WIDTH_END.finditer(text, start, end) if match.end() < end]
    bounds = [start, *cuts, end]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


# A list item's marker at the start of a line ("1. ", "2) ", "- "): the item's place, not a fact of it.
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")


def sentences(text: str) -> list[str]:
    text = _CITATION.sub("", text)
    found = []
    for start, end in sentence_spans(text):
        for line in text[start:end].split("\n"):  # a line break ends a sentence too (lists, greetings)
            line = _LIST_MARKER.sub("", line)
            if line.strip(" .!?"):
                found.append(line.strip())
    return found
