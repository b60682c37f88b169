"""Dialogue errors: bad customer messages (422/413) and unknown or closed records; bot/errors.py translates them."""


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


class MessageTooComplex(InvalidMessage):
    """Checking a message for personal data took longer than its budget: nothing of it was stored."""

    def __init__(self, budget_seconds: float) -> None:
        super().__init__(
            f"Checking this message for personal data took more than {budget_seconds:g} s of CPU "
            "(HELPDESK_MASKING_BUDGET_SECONDS), so it was not stored or answered. Send a shorter message, with "
            "less metadata.")
        self.budget_seconds = budget_seconds


class MessageIdReused(ValueError):
    """A client sent a message id again with a different text: not a resend, so not answered as one."""

    def __init__(self) -> None:
        super().__init__(
            "This message id was already used for a different message. A resend must carry the same text; "
            "a new message needs a new id.")


class SenderClaimed(PermissionError):
    """A message without proof under a sender id that has come with proof before: its conversation and what it
    stores belong to a signed-in customer, so nobody may write into them by typing the id."""

    def __init__(self, sender_id: str) -> None:
        super().__init__(
            f"Sender {sender_id!r} has signed in before: send the message with its token (`Authorization: Bearer "
            "<JWT>` whose `sub` is the sender), or use another sender id.")


class ConversationNotFound(LookupError):
    def __init__(self, conversation_id: int):
        super().__init__(f"No conversation with id {conversation_id}; list them with GET /admin/conversations.")


class ConversationClosed(ValueError):
    """An agent answered a conversation that has ended."""


class TurnNotFound(LookupError):
    """Feedback named a bot message that was not said to that sender."""


class CustomerNotFound(LookupError):
    def __init__(self, customer_id: int):
        super().__init__(f"No customer with id {customer_id}; find the id with "
                         "GET /admin/customers?channel=...&sender_id=...")
