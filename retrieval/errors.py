"""Errors the knowledge base raises; the HTTP layer and the CLI translate them for people."""


class KnowledgeError(Exception):
    """Base class: `str(error)` is a message a user can act on."""


class FaqNotFound(KnowledgeError):
    def __init__(self, faq_id: int):
        super().__init__(f"No FAQ with id {faq_id}; list them with GET /admin/faqs.")
        self.faq_id = faq_id


class InvalidFaq(KnowledgeError):
    pass


class ModelUnavailable(KnowledgeError):
    """A configured model could not be found or loaded."""
