"""Multi-turn context: making "And for accessories?" retrievable on its own.

Two kinds of follow-up, two treatments:
- **elliptical** ("And for accessories?", "How about in the EU?"): the message names a new subject with its
  preposition and leans on the previous question for everything else. It is rewritten into that question
  with the subject swapped: "What is the return policy for devices?" + "And for accessories?" → "What is
  the return policy for accessories?" (the previous question's last prepositional phrase is replaced; for
  "And for …", a question ending on an object, "How do I return a device?", has that object replaced:
  "How do I return accessories?"; anything else is blended, below). The rewritten question is searched as it is, by both
  retrievers, so the new subject decides the topic and the old words fill in the rest;
- **pointing back** ("How do I activate it?", "Is that free?", "What about the Cam?"): searched with the
  embedding of the message blended with the previous query, v = normalize(v_message + 0.5 · v_previous),
  and BM25 on the message alone. "What about the Cam?" names no preposition, so it could replace any part
  of the question: it is blended rather than rewritten.

Before the rewrite, elliptical follow-ups were blended too; on the sample knowledge base "And for
accessories?" after the device-returns question then still found device returns (README's old sample).
"""

import re
from dataclasses import dataclass

CONTEXT_WEIGHT = 0.5

# A message that leans on the previous one: it opens like a continuation or points back with a pronoun.
_CONTINUATION = re.compile(r"^\s*(and|also|what about|how about|same for|what if|or)\b", re.IGNORECASE)
_POINTER = re.compile(r"\b(it|its|it's|this|that|they|them|those|these|one|there)\b", re.IGNORECASE)
_MAX_FOLLOW_UP_WORDS = 9
# The same in the other catalogue languages (dialogue/phrases/): read in every conversation, as small talk is.
# German "das" is a pointer only when no noun follows ("Ist das auch ...", not "das Thermostat"); "Sie" is "you",
# "gibt es" is "is there"; Chinese 这个 and 那个 are mostly "this" and "that" before a noun.
_CONTINUATION_OTHERS = re.compile(
    r"^\s*(?:(?:und|auch|oder|was ist mit|wie ist es mit|wie sieht es mit|et|aussi|ou|qu'en est-il|y|también|o|"
    r"qué tal)\b|那|那么|还有|另外|如果|要是|じゃあ|では|それで|あと)", re.IGNORECASE)
_POINTER_OTHERS = re.compile(
    r"(?i:\b(?<!gibt\s)es\b|\b(?:dafür|dazu|damit|daran|darauf|davon|dort|dies|diese[rsmn]?|ça|cela|ceci|celui|"
    r"celle|eso|esto|ese|esa|esos|esas|ello)\b)|\b[Dd]as\b(?!\s+[A-ZÄÖÜ])|它|呢[？?]?\s*$|それ|その|これ|この|そこ")
_MAX_FOLLOW_UP_CHARACTERS = 20  # Chinese and Japanese, written without spaces
_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# "And for accessories?", "what about the Cam", "how about in the EU?", "and with Nimbus Plus?"
_ELLIPSIS = re.compile(
    r"^\s*(?:and|or|also|what about|how about|same for)\s+"
    r"(?P<prep>for|with|about|on|in|to|of|from|at|by)\s+(?P<subject>[^?.!]{1,60}?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_PREPOSITIONS = r"for|with|about|on|in|to|of|from|at|by"
_LAST_PHRASE = re.compile(rf"\b(?P<prep>{_PREPOSITIONS})\s+(?P<object>[^?.!,;]+?)\s*(?P<end>[?.!]*)\s*$", re.IGNORECASE)
_SUBJECT_WORDS = 5
# The object a question ends on: "... return a device?", "... set up my Nimbus Cam?"
_LAST_THING = re.compile(r"\b(?:a|an|the|my|your|our|this|that)\s+(?:[\w-]+\s+){0,2}[\w-]+\s*(?P<end>[?.!]*)\s*$",
                         re.IGNORECASE)


@dataclass(frozen=True)
class SearchQuery:
    text: str
    context: str | None = None  # the previous query, when `text` points back to it (blended in)
    # The previous query when `text` was not read as pointing back: blended in only where the message alone finds
    # nothing to answer with and the blend confirms what it found best (dialogue/answering.py `Answering.search`).
    previous: str | None = None

    @property
    def rewritten(self) -> str:
        """A readable form for records and hit testing."""
        return f"{self.context} {self.text}" if self.context else self.text


def is_follow_up(message: str) -> bool:
    long = len(_CJK.findall(message)) > _MAX_FOLLOW_UP_CHARACTERS if _CJK.search(message) \
        else len(message.split()) > _MAX_FOLLOW_UP_WORDS
    if long:
        return False
    return bool(_CONTINUATION.match(message) or _POINTER.search(message)
                or _CONTINUATION_OTHERS.match(message) or _POINTER_OTHERS.search(message))


def rewrite_elliptical(message: str, previous: str) -> str | None:
    """The previous question with its subject swapped for the message's, or None when the message is not
    an elliptical follow-up ("And for accessories?")."""
    match = _ELLIPSIS.match(message)
    if not match or len(match["subject"].split()) > _SUBJECT_WORDS or _POINTER.search(match["subject"]):
        return None
    subject = match["subject"].strip()
    previous = previous.strip()
    if same := _same_preposition(previous, match["prep"]):
        # "What does roaming cost in the EU on the Lite plan?" + "What about in the USA?": the place is swapped
        return f"{previous[: same.start()]}{match['prep']} {subject}{previous[same.end():]}"
    last = _LAST_PHRASE.search(previous)
    if last:
        return f"{previous[: last.start()]}{match['prep']} {subject}{last['end'] or '?'}"
    if (thing := _LAST_THING.search(previous)) and match["prep"].lower() == "for":
        # "How do I return a device?" + "And for accessories?" → "How do I return accessories?"
        return f"{previous[: thing.start()]}{subject}{thing['end'] or '?'}"
    return None  # nothing to swap: blended instead


def _same_preposition(previous: str, preposition: str) -> re.Match | None:
    """The previous question's last phrase opened by the same preposition, up to the next phrase or the end."""
    phrase = re.compile(rf"\b{re.escape(preposition)}\s+[^?.!,;]+?(?=\s+(?:{_PREPOSITIONS})\b|\s*[?.!,;]|\s*$)",
                        re.IGNORECASE)
    found = list(phrase.finditer(previous))
    return found[-1] if found else None


def contextualize(message: str, previous_queries: list[str]) -> SearchQuery:
    """`previous_queries`: the customer's earlier queries in this conversation, oldest first, each already
    rewritten, so that a chain of follow-ups keeps its topic."""
    if not previous_queries:
        return SearchQuery(message)
    if not is_follow_up(message):
        return SearchQuery(message, previous=previous_queries[-1])
    if rewritten := rewrite_elliptical(message, previous_queries[-1]):
        return SearchQuery(rewritten)
    return SearchQuery(message, previous_queries[-1])


# Where a message that asks two things splits: after a question mark with more to come, or before "and" /
# "also" / a comma that starts a new question ("..., and will I be charged import tax?").
_ASK = r"(?:is|are|can|could|do|does|did|will|would|should|what|how|when|where|why|who|which|may|must|have|has)"
_SPLIT = re.compile(rf"\?\s+|,?\s+(?:and|also|plus)\s+(?={_ASK}\b)|,\s+(?={_ASK}\b)", re.IGNORECASE)
_MIN_PART_WORDS = 3


def split_question(message: str) -> list[str]:
    """The separate questions of a message that asks more than one ("What does Plus cost and is there a
    student discount?" → two), else the message alone. Parts shorter than three words are not split off."""
    parts = [part.strip(" ,") for part in _SPLIT.split(message) if part.strip(" ,?")]
    if len(parts) < 2 or any(len(part.split()) < _MIN_PART_WORDS for part in parts):
        return [message]
    return parts[:3]
