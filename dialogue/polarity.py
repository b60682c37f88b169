"""Which way a clause points, and whether a reply's clause contradicts the snippet clauses it rests on.

- **Negative.** A clause is *negative* when it says not / no / never / n't / without (parenthetical remarks
  and "at no extra cost" aside).
- **Polarity.** A reply clause rests on the snippet clauses it shares most words with. It contradicts the
  snippet when those are of the other polarity, or when, at a tie, it uses a word only clauses of the other
  polarity have ("Students get 15% off Nimbus Plus" where the snippet says the code "doesn't apply to ...
  Nimbus Plus").
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from dialogue.claims import YES_NO, words_of
from dialogue.sentences import sentences

_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|nobody|neither|nor|cannot|without)\b|n['’]t\b", re.IGNORECASE)
# Phrases with a negative word that say something positive: "at no extra cost" means free.
_NOT_NEGATIVE = re.compile(
    r"\bat no (?:extra |additional )?(?:cost|charge)\b|\bno (?:extra|additional) (?:cost|charge)\b"
    r"|\bno later than\b|\bno more than\b|\bno matter\b|\bnot only\b", re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^)]*\)")
POLARITY_CUT = re.compile(r";|,\s*(?:and|so)\b|\s(?:but|while|whereas|however|although|so|because)\b",
                          re.IGNORECASE)


def is_negative(clause: str) -> bool:
    plain = _NOT_NEGATIVE.sub(" ", _PARENTHESES.sub(" ", clause))
    return bool(_NEGATION.search(plain.replace("’", "'")))


@dataclass(frozen=True)
class Clause:
    text: str
    words: frozenset[str]
    negative: bool


@lru_cache(maxsize=512)
def polarity_clauses(snippet: str) -> tuple[Clause, ...]:
    """The snippet's statements cut for polarity; questions (an FAQ's title) state nothing and are left out."""
    found = []
    for sentence in sentences(snippet):
        if sentence.rstrip().endswith("?"):
            continue
        for part in POLARITY_CUT.split(YES_NO.sub("", sentence)):
            if words := words_of(part):
                found.append(Clause(part, frozenset(words), is_negative(part)))
    return tuple(found)


def contradiction(sentence: str, snippet: str) -> str | None:
    """Why a clause of `sentence` points the other way from the snippet clauses it rests on, or None."""
    clauses = polarity_clauses(snippet)
    snippet_words = set().union(*(c.words for c in clauses)) if clauses else set()
    for part in POLARITY_CUT.split(YES_NO.sub("", sentence)):
        mine = {w for w in words_of(part) if w in snippet_words}
        if not mine:
            continue
        negative = is_negative(part)
        same = max((len(mine & c.words) for c in clauses if c.negative == negative), default=0)
        other = max((len(mine & c.words) for c in clauses if c.negative != negative), default=0)
        only_other = {w for w in mine if not any(w in c.words for c in clauses if c.negative == negative)}
        # A positive claim with a word the snippet only uses while denying something ("opened batteries can be
        # returned" where it says "Opened batteries can't be returned") has dropped the negation.
        dropped = not negative and only_other and other >= max(2, same - 1)
        if other > same or (other == same and only_other) or dropped:
            way = "denies" if negative else "asserts"
            return f"{way} what the snippet says the other way round: {sentence!r}"
    return None
