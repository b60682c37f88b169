"""Is a reply backed by the snippets it was given? A transparent lexical check, no second model.

Definition (docs/learning.md repeats it):
- the reply is split into sentences; citation marks like "[2]" are removed first;
- refusal sentences ("I don't know", "I can't help with that", "connect you with a person") claim nothing
  and are not counted;
- a sentence is *supported* when at least SUPPORT_SHARE of its content words (lower-cased, stop words
  dropped, plural/verb endings stripped) occur in the snippets, **and** every number, price, e-mail address
  and link in it occurs in the snippets verbatim: an invented price or phone number is never supported,
  however much of the sentence around it was copied;
- groundedness of a reply = supported sentences / counted sentences (None when it counts none, e.g. a pure
  refusal). Over a test set it is averaged over the replies that have a value.

Lexical overlap misses paraphrases that use other words (a false "unsupported") and accepts a sentence
that recombines snippet words into a false claim (a false "supported"); it is a gate metric that is cheap,
deterministic and easy to audit, not a proof.
"""

import re

SUPPORT_SHARE = 0.6

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CITATION = re.compile(r"\s*\[\d+(?:,\s*\d+)*\]")
_WORD = re.compile(r"[a-z0-9][a-z0-9'’\-]*")
_EXACT = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+\.[\w.]+|[£$€]?\d[\d,.:/\-]*%?")
_REFUSAL = re.compile(
    r"\b(?:i (?:do not|don't|dont) (?:know|have)|i'm not sure|i am not sure|(?:can't|cannot|can not|unable to) "
    r"help|isn't covered|is not covered|not (?:able|sure)|no information|connect you with (?:a|our)"
    r"|talk to a person|speak (?:to|with) a person)\b",
    re.IGNORECASE,
)
_STOP_WORDS = frozenset(
    "a an the and or but if then so to of in on at by for with from as is are was were be been being it its "
    "this that these those there here i you we they he she me us them my your our their his her can could will "
    "would should may might must do does did done have has had not no yes any all some each every more most "
    "other such only own same than too very just also about into over after before up down out off again once "
    "what which who whom when where why how please thank thanks sure okay ok let know get".split()
)


def sentences(text: str) -> list[str]:
    text = _CITATION.sub("", text)
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip(" .!?")]


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text.replace("’", "'")))


def _stem(word: str) -> str:
    for ending in ("ing", "ed", "es", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w.strip("'’-")) for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS and len(w) > 1}


def _exact_tokens(text: str) -> set[str]:
    return {token.rstrip(".,:;-/") for token in _EXACT.findall(text)}


def is_supported(sentence: str, snippets: str) -> bool:
    snippet_text = snippets.lower()
    if any(token.lower() not in snippet_text for token in _exact_tokens(sentence)):
        return False
    words = content_words(sentence)
    if not words:
        return True
    return len(words & content_words(snippets)) / len(words) >= SUPPORT_SHARE


def groundedness(reply: str, snippets: list[str]) -> float | None:
    counted = [s for s in sentences(reply) if not is_refusal(s)]
    if not counted:
        return None
    joined = "\n".join(snippets)
    return sum(is_supported(s, joined) for s in counted) / len(counted)


_SENTENCE_WITH_END = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")


def mark_citations(reply: str, snippets: list[str]) -> str:
    """Mark which snippet supports what: a sentence with no `[n]` of its own gets the number of the snippet
    that supports it best (by `is_supported`). Sentences no snippet supports stay unmarked, so a reader can
    tell a grounded claim from an unbacked one; refusals claim nothing and are left alone."""
    marked = []
    for match in _SENTENCE_WITH_END.finditer(reply):
        sentence = match.group(0)
        body = sentence.rstrip(".!? ")
        if body.strip() and not _CITATION.search(sentence) and not is_refusal(sentence):
            supporting = [i for i, snippet in enumerate(snippets, start=1) if is_supported(body, snippet)]
            if supporting:
                words = content_words(body)
                best = max(supporting, key=lambda i: len(words & content_words(snippets[i - 1])))
                sentence = f"{body} [{best}]{sentence[len(body):]}"
        marked.append(sentence)
    return "".join(marked)
