"""The reply's text in whole words as its tokens arrive, for showing it while it is written."""


class TextPieces:
    """The reply's text in whole words as its tokens arrive (what transformers' TextStreamer shows): a word is
    shown once a space or line break follows it, and never while it ends in half a character."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.shown = 0
        self.started = False

    def add(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        end = len(text) if text.endswith("\n") else text.rfind(" ") + 1
        return self._show(text, end)

    def finish(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return self._show(text, len(text))

    def _show(self, text: str, end: int) -> str:
        if end <= self.shown or text[:end].endswith("\ufffd"):
            return ""
        piece, self.shown = text[self.shown: end], end
        if not self.started:  # the answer's leading whitespace is dropped, as `tidy` drops it
            piece = piece.lstrip()
            self.started = bool(piece)
        return piece
