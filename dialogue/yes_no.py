"""Does a reply that opens with "Yes" or "No" point the same way as the snippet closest to the question?

- **Yes/no.** A reply that opens with "Yes" or "No" answers the question: the snippet clauses that share most
  words with the question and the rest of that sentence must point the same way. "We only ship to the UK, the
  EU and the US" says yes for Germany (an EU country) and no for Japan; "open Monday to Friday and Saturday" says
  no for Sunday (dialogue/days_and_months.py).
- **Said back.** A "Yes" whose clause says back the customer's own words for what no snippet mentions: "Yes, the
  Nimbus Cam is waterproof." to "is the nimbus cam waterproof?" over the Cam's set-up FAQ. The name is the snippet's,
  and 2 of its 3 words were, so the sentence had the support it needed, and the rest of the sentence confirmed the
  question's words itself.
"""

import re
from functools import lru_cache

from dialogue.content_words import content_words
from dialogue.days_and_months import days_of
from dialogue.facts import is_fact_key
from dialogue.names import REGION_OF, YES_NO, covered, names, names_in, says_yes
from dialogue.polarity import POLARITY_CUT, Clause, clause_words, is_negative, polarity_clauses
from dialogue.sentences import sentence_spans, sentences


def contradicts_question(sentence: str, question: str, snippets: list[str]) -> bool:
    """Does `sentence` open with a yes or no that the snippet says the other way round for `question`? (Not
    merely one no snippet addresses.) "No." opens the customs FAQ's answer, and answers its own question; to "do
    you ship to Germany?" the same snippet's "We only ship to the UK, the EU and the US" says yes."""
    verdict = _verdict(sentence, question, snippets)
    return verdict is not None and verdict[0] == "otherwise"


def without_unaddressed_answer(reply: str, question: str, snippets: list[str]) -> str:
    """`reply` without its opening yes or no where no snippet shares a word with the question; the rest is checked
    as any sentence is. "I'm at uni, are there reduced prices for me?" got "Yes, students get 15% off the Plus and
    Unlimited plans." from the student-discount FAQ, which names neither "uni" nor "prices": the "Yes" cannot be
    checked against the snippet, "Students get 15% off ..." can, and answers. A yes or no the snippet does address
    is left for `yes_no_problem` (a copied "No." that it says the other way round is stopped, not cut)."""
    spans = sentence_spans(reply)
    if not spans:
        return reply
    start, end = spans[0]
    opening = YES_NO.match(reply, start)
    verdict = _verdict(reply[start:end].strip(), question, snippets) if opening else None
    if verdict is None or verdict[0] != "unaddressed":
        return reply
    rest = reply[opening.end():end]
    return reply[:start] + rest[:1].upper() + rest[1:] + reply[end:] if rest.strip() else reply[end:].lstrip()


def yes_no_problem(sentence: str, question: str, snippets: list[str]) -> str | None:
    """For a sentence that opens with yes or no: None when it agrees with the snippet, else why not."""
    verdict = _verdict(sentence, question, snippets)
    return verdict[1] if verdict else None


# A clause of a "Yes" sentence: "Yes, the Cam is waterproof, so it's fine above your door and it records to ...".
_YES_CLAUSE = re.compile(r";|:\s|,\s|\s(?:and|but|so)\s")
_SAID_BACK_SHARE = 0.5


def said_back_unbacked(sentence: str, question: str, known: frozenset[str],
                       premise: frozenset[str] = frozenset()) -> list[str]:
    """The customer's words that a "Yes" sentence confirms and no snippet has: words of the question, in a clause of
    the sentence that they make more than half of, not counting the names the snippets have (the subject: "the Nimbus
    Cam"); a name of the customer's counts ("works with Alexa"). One such word among many is the
    customer's way of saying it ("call right away" for "anyone I can call right now?") and is left to the support
    share. `known`: the snippets' content words; `premise`: what the sentence's opening condition says back
    (dialogue/grounding.py)."""
    opening = YES_NO.match(sentence)
    if not opening or not says_yes(opening):
        return []
    told, found = content_words(question), set()
    known = known | {word.replace("-", "") for word in known}  # "wifi" is the snippets' "Wi-Fi"
    for clause in _YES_CLAUSE.split(sentence[opening.end():]):
        said = content_words(clause) - premise
        said -= {word for word in content_words(" ".join(names_in(clause))) if covered(word, known)}  # the subject
        unbacked = {word for word in said & told if not covered(word, known)}
        if unbacked and not is_negative(clause) and len(unbacked) > _SAID_BACK_SHARE * len(said):
            found |= unbacked
    return sorted(found)


def _verdict(sentence: str, question: str, snippets: list[str]) -> tuple[str, str] | None:
    """None when the sentence's opening yes or no agrees with the snippet, else ("unaddressed" | "otherwise", why).

    It agrees when the rest of the sentence says the same way, about everything the question names ("No, 5 GHz
    networks aren't supported": the clauses are then checked like any other), or when the snippet clauses that
    share most words with the question point that way."""
    opening = YES_NO.match(sentence)
    if not opening:
        return None
    yes, said = says_yes(opening), (opening["word"] or opening["echo"])
    asked = clause_words(_asked_part(question))
    named = {w for w in asked if w in REGION_OF or w.capitalize() in names(question) or w in ("uk", "eu", "usa")}
    days = days_of(question)
    for part in POLARITY_CUT.split(sentence[opening.end():]):
        part_words = clause_words(part)
        if part_words & asked and is_negative(part) != yes and all(_covers(w, part_words) for w in named):
            return None
    best, agreeing = 0, False
    for snippet in snippets:
        for clause in polarity_clauses(snippet):
            shared = sum(_covers(w, _outside_brackets(clause)) for w in asked)
            if shared == 0 or shared < best:
                continue
            if shared > best:
                best, agreeing = shared, False
            agreeing |= (not _negative_for(clause, named, days)) == yes
    if best == 0:
        return "unaddressed", f"answers {said!r} to a question no snippet addresses: {sentence!r}"
    if not agreeing:
        return "otherwise", f"answers {said!r} where the snippet says otherwise: {sentence!r}"
    return None


@lru_cache(maxsize=1024)
def _outside_brackets(clause: Clause) -> frozenset[str]:
    """A clause's words but those in brackets: "every order is sent from a warehouse inside that region (... Rotterdam
    for the EU ...)" is not what "does my order to ireland get hit with customs?" asks about because it names the EU
    in passing."""
    return frozenset(clause_words(_BRACKETS.sub(" ", clause.text))) if "(" in clause.text else clause.words


_BRACKETS = re.compile(r"\([^)]*\)")


@lru_cache(maxsize=256)
def _asked_part(question: str) -> str:
    """The sentences of `question` that ask (end with a question mark), where it has any and says something else
    too: "got an email saying prices go up in april. does that mean i can get out of my contract without paying the
    fee?" asks about leaving, and the snippet clause about April's rise, which shares its opening's words, does not
    answer it."""
    asking = [part for part in sentences(question) if part.rstrip().endswith(("?", "？"))]
    return " ".join(asking) if asking else question


def _covers(word: str, words: set[str]) -> bool:
    """`names.covered`, and a long word also by another form of it, alone or as a hyphenated compound's last part:
    the question's German "Sockelleistenheizung" by the snippet's "Hochvolt-Sockelleistenheizungen"."""
    if covered(word, words) or ("-" not in word and word in {other.replace("-", "") for other in words}):
        return True  # "preorder" is the snippet's "pre-order"
    if len(word) < 6 or is_fact_key(word):  # a fact matches only itself
        return False
    return any(_one_word(word, other.rsplit("-", 1)[-1]) for other in words)


def _one_word(a: str, b: str) -> bool:
    """The same word but for an inflection's ending of at most two letters ("heizung", "heizungen")."""
    short, long = sorted((a, b), key=len)
    return len(long) - len(short) <= 2 and long.startswith(short) and len(short) >= 6


def _negative_for(clause: Clause, named: set[str], days: set[str] = frozenset()) -> bool:
    """A clause's polarity for a question about `named` places or names, or about `days`: "We only ship to the UK,
    the EU and the US" is a no for a place it does not list; "open Monday to Friday and Saturday" a no for Sunday."""
    if not clause.negative and days and (given := days_of(clause.text)) and not days <= given:
        return True
    if not clause.negative and re.search(r"\bonly\b", clause.text, re.IGNORECASE):
        return any(not covered(word, clause.words) for word in named)
    return clause.negative
