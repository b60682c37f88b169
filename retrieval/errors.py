"""Errors the knowledge base raises; the HTTP layer and the CLI translate them for people."""


class KnowledgeError(Exception):
    """Base class: `str(error)` is a message a user can act on."""


class FaqNotFound(KnowledgeError):
    def __init__(self, faq_id: int):
        super().__init__(f"No FAQ with id {faq_id}; list them with GET /admin/faqs.")
        self.faq_id = faq_id


class InvalidFaq(KnowledgeError):
    pass


class FaqChanged(KnowledgeError):
    """An edit was made to an older version of the FAQ than the stored one; nothing was written."""

    def __init__(self, faq_id: int, edited: int, current: int):
        super().__init__(f"FAQ {faq_id} is at version {current}, but the change was made to version {edited}: "
                         f"someone changed it since. Load it again (GET /admin/faqs/{faq_id}) and reapply "
                         "your change.")
        self.faq_id = faq_id


class GeneratedQuestionNotFound(KnowledgeError):
    def __init__(self, faq_id: int, question: str):
        super().__init__(f"FAQ {faq_id} has no generated question {question!r}; its generated questions are listed "
                         f"in GET /admin/faqs/{faq_id}.")
        self.faq_id = faq_id


class DocumentError(KnowledgeError):
    """A document that cannot be ingested; nothing of it was stored."""


class UnsupportedDocument(DocumentError):
    pass


class InvalidDocument(DocumentError):
    """Corrupt, unreadable or undecodable content."""


class EmptyDocument(DocumentError):
    pass


class DocumentTooLarge(DocumentError):
    def __init__(self, name: str, size: int, limit: int):
        super().__init__(f"{name}: {size:,} bytes is over the upload limit of {limit:,} bytes "
                         "(HELPDESK_MAX_UPLOAD_BYTES); split the document or raise the limit.")


class FetchFailed(DocumentError):
    """A URL could not be fetched."""


class DocumentNotFound(KnowledgeError):
    def __init__(self, document_id: int):
        super().__init__(f"No document with id {document_id}; list them with GET /admin/documents.")
        self.document_id = document_id


class InvalidAction(KnowledgeError):
    """An action declaration that could never run or never be triggered; the message says what to fix."""


class ActionNotFound(KnowledgeError):
    def __init__(self, name: str):
        super().__init__(f"No action named {name!r}; list them with GET /admin/actions.")
        self.name = name


class ActionExists(KnowledgeError):
    def __init__(self, name: str):
        super().__init__(f"An action named {name!r} exists already; change it with PUT /admin/actions/{name}.")
        self.name = name
