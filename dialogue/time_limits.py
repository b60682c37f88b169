"""A snippet's time limit that the customer's own case is past (or an exception it is within), left out of a reply.

"placed an order like 3 hrs ago, can I fix the address myself in the app?" over "You can change the delivery address
or cancel the order yourself within 1 hour of ordering, as long as it hasn't been dispatched" got "Yes, as long as
it hasn't been dispatched yet you can change the delivery address yourself under Account > Orders > Manage order."
Every word and fact of it is the snippet's; what it leaves out, "within 1 hour", is what answers the customer, whose
3 hours are past it (a fifth blind batch of answers, 2026-12-07). The same for "a charge from 4 months back" and
"message us within 60 days of the bill", or "bought it 5 weeks ago" and "return within 30 days".

A sentence is stopped when the customer tells how long ago something was ("3 hrs ago", "had it for 5 weeks"), and
it does not say no (a "not" inside a condition does not count), names no duration of its own (one it names is
compared by dialogue/derived_facts.py), and a part of it rests on a snippet sentence (the one that has most of the
part's words, at least half) that limits something to "within" (or "up to", "no later than") a duration shorter
than the customer's. The other way round for an exception: "we don't refund partial periods, so you won't get that
charge back" to "got charged 5 days ago" over "we don't refund partial periods, except that a cancellation within 14
days of your first paid charge is refunded in full" says no where the exception says yes.
"""

import re
from functools import lru_cache

from dialogue.content_words import content_words
from dialogue.derived_facts import IN_DAYS, measure
from dialogue.facts import FactKind, facts
from dialogue.names import covered
from dialogue.polarity import is_negative
from dialogue.sentences import sentences

_LIMIT = re.compile(r"\b(?:within|up to|no later than|not later than|at the latest|valid for|lasts?(?: for)?)\s+$",
                    re.IGNORECASE)
_RESTS_ON = 0.5
# "Yes, you can return it: start the return at ..." rests on two snippet sentences; "You can cancel in the app, but we
# don't refund partial periods" too.
_PARTS = re.compile(r";\s*|:\s+|,?\s+but\s+")
_EXCEPT = re.compile(r"\b(?:except|unless|apart from|other than|but not)\b[^.;]*$", re.IGNORECASE)
# Time gone by in the customer's message: "3 hrs ago", "4 months back", "had it for 5 weeks", "after 2 months".
_AGO = re.compile(r"^\s*(?:ago|back|later|old|since|now)\b", re.IGNORECASE)
_FOR = re.compile(r"\b(?:for|been|after|past|last|over)\s+(?:about |around |nearly |almost |over |like |just |the )?$",
                  re.IGNORECASE)
# A condition, whose "not" is not the sentence's: "Yes, as long as it hasn't been dispatched you can ...".
_CONDITION = re.compile(r"\b(?:as long as|provided(?: that)?|unless|if)\b[^,;:]*", re.IGNORECASE)


def passed_limit(sentence: str, snippets: list[str], question: str) -> tuple[str, str] | None:
    """The snippet's limit and the customer's duration past it ("within 1 hour", "3 hrs"), or None."""
    theirs = [fact for fact in facts(question) if _is_duration(fact)
              and (_AGO.match(question[fact.end:]) or _FOR.search(question[:fact.start]))]
    if not theirs or any(map(_is_duration, facts(sentence))):
        return None
    says_no = is_negative(_CONDITION.sub("", sentence))
    for part in _PARTS.split(sentence):
        for limit, exception in _limits(_rests_on(part, snippets)):
            for fact in theirs:
                if not exception and not says_no and measure(fact) > measure(limit):
                    return f"within {limit.text}", f"{fact.text} is past"
                if exception and is_negative(part) and measure(fact) <= measure(limit):
                    return f"except within {limit.text}", f"{fact.text} is within"
    return None


def _rests_on(clause: str, snippets: list[str]) -> str:
    """The snippet sentences that have most of the words of `clause`, at least half, joined."""
    words = content_words(clause)
    if not words:
        return ""
    shares = {part: sum(covered(word, known) for word in words) / len(words)
              for snippet in snippets for part, known in _sentences(snippet)}
    best = max(shares.values(), default=0)
    return " ".join(part for part, share in shares.items() if share == best) if best >= _RESTS_ON else ""


@lru_cache(maxsize=512)
def _sentences(snippet: str) -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((part, frozenset(content_words(part))) for part in sentences(snippet))


def _is_duration(fact) -> bool:
    return fact.kind is FactKind.NUMBER and fact.unit in IN_DAYS and measure(fact) is not None


def _limits(text: str) -> list[tuple]:
    """The durations `text` limits something to, each with whether it is an exception's ("we don't refund partial
    periods, except that a cancellation within 14 days of your first paid charge is refunded in full")."""
    return [(fact, bool(_EXCEPT.search(text[:fact.start]))) for fact in facts(text)
            if _is_duration(fact) and _LIMIT.search(text[:fact.start])]
