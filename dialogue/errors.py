"""Errors in what a customer sent; channels translate them (422/413 over HTTP)."""


class InvalidMessage(ValueError):
    pass


class EmptyMessage(InvalidMessage):
    def __init__(self) -> None:
        super().__init__("`message` is empty: send some text.")


class MessageTooLong(InvalidMessage):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(
            f"`message` has {length} characters; the limit is {limit} "
            "(HELPDESK_MAX_MESSAGE_CHARS). Shorten it or split it into several messages."
        )
        self.length, self.limit = length, limit
