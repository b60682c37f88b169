"""What the customer actually asked, when the message that asked for a person carries the question or not.

"Can I speak to someone? My hub keeps blinking red" asks about the hub; "I want to talk to a human" asks
nothing, and the question is the message before it. Knowledge gaps and agent assist both need this.
"""

import re

from dialogue.policy import wants_person

_CLAUSE = re.compile(r"(?<=[.!?;,])\s+|\s+-\s+|\n+")
_MIN_QUESTION_WORDS = 2


def without_person_request(message: str) -> str:
    """`message` without the clauses that ask for a person; empty when nothing else is left."""
    kept = [clause for clause in _CLAUSE.split(message.strip()) if clause and not wants_person(clause)]
    text = " ".join(kept).strip()
    return text if len(text.split()) >= _MIN_QUESTION_WORDS else ""


def customer_question(messages: list[str], look_back: int = 2) -> str | None:
    """The question behind the customer's latest message; `messages` are theirs, oldest first.

    Only the last `look_back` messages count: older ones are about something else by then.
    """
    for message in reversed(messages[-look_back:]):
        if question := question_in(message):
            return question
    return None


def question_in(message: str) -> str:
    """What `message` asks besides a person; empty when it only asks for one."""
    return without_person_request(message) if wants_person(message) else message.strip()
