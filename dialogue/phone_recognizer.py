"""Presidio's phone recogniser over long text: overlapping pieces, prose skipped, the budget checked between."""

from collections.abc import Iterable

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from dialogue.cpu_budget import Budget

# Pieces overlap by 48-96 characters: more than the longest phone number with its formatting and extension.
_PHONE_PIECE, _PHONE_OVERLAP = 320, 96
_PHONE_MIN_DIGITS = 5


class PiecewisePhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recogniser, reading the text in overlapping pieces: pieces with too few digits for a
    phone number are skipped (prose costs nothing), and the budget is checked between pieces."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, budget: Budget | None = None
                ) -> list[RecognizerResult]:
        results = []
        for offset, piece in _pieces(text, _PHONE_PIECE, _PHONE_OVERLAP):
            if sum(ch.isdigit() for ch in piece) < _PHONE_MIN_DIGITS:
                continue
            if budget is not None:
                budget.check()
            for result in super().analyze(piece, entities, nlp_artifacts):
                result.start, result.end = result.start + offset, result.end + offset
                results.append(result)
        return EntityRecognizer.remove_duplicates(results)


def _pieces(text: str, size: int, overlap: int) -> Iterable[tuple[int, str]]:
    """(offset, piece) covering `text`; each piece starts `overlap` characters before the previous one ended,
    at a space where there is one, so that anything shorter than `overlap` lies whole in some piece."""
    start = 0
    while True:
        end = min(len(text), start + size)
        yield start, text[start:end]
        if end == len(text):
            return
        space = text.find(" ", end - overlap, end - overlap // 2)
        start = space + 1 if space != -1 else end - overlap
