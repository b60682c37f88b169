"""Is a reply backed by the snippets it was given? A transparent lexical check, no second model.

Definition (docs/generation.md repeats it):
- the reply is split into sentences by pysbd (a rule-based splitter that keeps prices, decimals, URLs,
  e-mail addresses and abbreviations whole); citation marks like "[2]" are removed first;
- clauses that claim nothing ("I don't know", "the information I have doesn't say whether ...", "happy to connect
  you with the team") are not counted, and a sentence made only of them is a refusal; the rest of a sentence that
  has one is checked as any sentence (dialogue/abstention.py);
- a sentence is *supported* when at least SUPPORT_SHARE of its content words (lower-cased, stop words
  dropped, plural/verb endings stripped; a country also counts as its region, dialogue/claims.py) occur in
  the snippets, **and** every fact in it (number with its unit, price, time, ordinal, link, e-mail address,
  phone number, reference: dialogue/facts.py) is a whole fact of the snippets, **and** every capitalised
  name in it is in the snippets: an invented price, "40 countries" for a snippet's "140", "the 1st" for
  "the 21st" or "10 days" for "10 minutes" is never supported, however much of the sentence was copied; in the
  gate below, a fact the sentence works out right from the snippets' facts and the customer's (a comparison, a
  sum, a share, the next working day: dialogue/derived_facts.py) counts neither way;
- groundedness of a reply = supported sentences / counted sentences (None when it counts none, e.g. a pure
  refusal). Over a test set it is averaged over the replies that have a value.

`check_reply` is the stricter gate a generated reply passes before a customer sees it: every counted
sentence supported by **one** snippet (no recombining two snippets into a claim neither makes) that it
neither contradicts (a negation or a yes/no that points the other way; dialogue/polarity.py,
dialogue/yes_no.py), nor turns its direction ("moving down" for "moving up"), nor misreads (a fact of one plan,
product, region or service stated for another, dialogue/claims.py; a place said for another audience,
dialogue/scopes.py), an opening "Yes"/"No" that agrees with
the snippet closest to the question, no sentence that repeats the customer's question, an earlier bot
reply or an earlier sentence of the same reply (a small model stuck in a loop), no sentence saying the bot
cannot reach a person (it always can: the fallback offers one), at least one sentence that says
something and one that is not a question (a reply that only asks back answers nothing), and at least one
claim taken from the best-matching snippet (a reply built only on weaker matches answers another question).

Lexical overlap misses paraphrases that use other words (a false "unsupported") and accepts a sentence
that recombines snippet words into a false claim (a false "supported"); it is a gate metric that is cheap,
deterministic and easy to audit, not a proof.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

from dialogue.abstention import (REGRET, asserts_nothing_checked, claimed, is_courtesy, is_refusal, known_words,
                                 says_nothing)
from dialogue.claims import misbound, sure_language, unnamed_owner
from dialogue.content_words import content_words, words
from dialogue.days_and_months import checked_days, other_period, unnamed_months
from dialogue.derived_facts import worked_out, worked_out_weekdays
from dialogue.facts import FactSet, facts, unstated
from dialogue.names import YES_NO, covered, unknown_names
from dialogue.places import covered_countries, denied_countries, unlisted_siblings, unserved_countries
from dialogue.polarity import contradiction, is_negative, misplaced_consequence, swapped_direction
from dialogue.scopes import other_audience, told_elsewhere
from dialogue.sentences import sentence_spans, sentences
from dialogue.source_talk import without_source_talk
from dialogue.time_limits import passed_limit
from dialogue.translated_facts import POINT_DECIMALS, as_read
from dialogue.yes_no import said_back_unbacked, without_unaddressed_answer, yes_no_problem

SUPPORT_SHARE = 0.6
REPEAT_SHARE = 0.8  # a sentence whose content words are this much the question's (and vice versa) repeats it

_CITATION = re.compile(r"\s*\[\d+(?:,\s*\d+)*\]")
# "I'm not able to connect you to a person": a small model's refusal that is false, the bot can always hand over.
_DENIES_HANDOFF = re.compile(
    r"\b(?:not able to|unable to|can't|cannot|can not|won't be able to) (?:connect|transfer|put|pass) you\b",
    re.IGNORECASE)
# The words a sentence shows its working in, beside the facts it works out: "Those two come to £44.98, just under the
# £50 threshold", "a delivery on 2 June ran out on 16 June, so it's now past the window".
_WORKING = frozenset(content_words(
    "come comes together two both total altogether under over past ran run out now while whereas save saves saving "
    "cheaper dearer more less left remaining still already just window threshold limit annual annually yearly monthly"))
_INTRODUCES = frozenset().union(*(content_words(phrase) for phrase in (
    "follow these steps", "try the following", "here's what to do", "here's how", "as follows", "below")))


def introduces(sentence: str, question: str, snippets: list[str]) -> bool:
    """Does `sentence` only lead into what follows, in the question's and the snippets' words ("To reset your Nimbus
    Hub completely, follow these steps:")? The steps are then checked one by one; the lead-in states nothing."""
    if not sentence.rstrip().endswith(":") or not asserts_nothing_checked(sentence):
        return False
    words = content_words(sentence)  # a lead-in's own word at least: "Accessories are returned free:" is a claim
    return bool(words & _INTRODUCES) and words <= _INTRODUCES | content_words(question) | content_words(
        "\n".join(snippets))


def exact_tokens(text: str) -> set[str]:
    """The facts of `text` as written (dialogue/facts.py): numbers with their units, prices, links, ..."""
    return {fact.text for fact in facts(text)}


def is_supported(sentence: str, snippets: str, question: str = "", premise: frozenset[str] = frozenset()) -> bool:
    """`question`: names the customer used may be said back ("your Vodafone number"); their words still count.
    `premise`: words and facts of the sentence that say back what the customer told (`customers_premise`)."""
    if [fact for fact in unstated(*_as_read(sentence, snippets)) if fact.text not in premise] \
            or unknown_names(sentence, f"{snippets}\n{question}"):
        return False
    words = content_words(sentence) - premise - REGRET  # the customer's own words count neither way, nor "sorry"
    if not words:
        return True
    known = content_words(snippets)
    return sum(covered(word, known) for word in words) / len(words) >= SUPPORT_SHARE


# An opening condition: "If you had no money in the bank on the 8th, ..."
_PREMISE = re.compile(r"^\s*(?:if|when|since|as|because|now that|given that)\s+([^,;]+),", re.IGNORECASE)
_PREMISE_SHARE = 0.75


def customers_premise(sentence: str, question: str) -> frozenset[str]:
    """The content words and facts of `sentence`'s opening condition, when that condition says back what the customer
    told ("I had no money in the bank on the 8th, what will happen?" → "If you had no money in the bank on the 8th,
    we ..."): they are the customer's, not a claim of the snippets. Only the condition's: what follows is checked as
    ever, and the whole sentence still binds facts, agrees in polarity and keeps its scope."""
    opening = _PREMISE.match(sentence)
    if not opening:
        return frozenset()
    said, told = content_words(opening[1]), content_words(question)
    if not said or sum(word in told for word in said) / len(said) < _PREMISE_SHARE:
        return frozenset()
    asked = {fact.key for fact in facts(question)}
    return frozenset((said & told) | {fact.text for fact in facts(opening[1]) if fact.key in asked})


def groundedness(reply: str, snippets: list[str]) -> float | None:
    counted = [s for s in sentences(reply) if not is_refusal(s)]
    if not counted:
        return None
    joined = "\n".join(snippets)
    return sum(is_supported(s, joined) for s in counted) / len(counted)


def repeats(sentence: str, earlier: str) -> bool:
    """Does `sentence` say again what `earlier` said (the customer's question, a previous reply)?"""
    mine, theirs = content_words(sentence), content_words(earlier)
    if not mine or not theirs:
        return False
    shared = len(mine & theirs)
    return shared / len(mine) >= REPEAT_SHARE and shared / len(theirs) >= REPEAT_SHARE


def _same(sentence: str, other: str) -> bool:
    """The same sentence again (word for word, or all but a word or two of its content)."""
    said = words(sentence)
    if said and said == words(other):
        return True
    return repeats(sentence, other)


@dataclass(frozen=True)
class ReplyCheck:
    """The verdict on a generated reply; `reasons` say, sentence by sentence, what failed."""

    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons


def sentence_problem(sentence: str, snippets: list[str], question: str, earlier: list[str],
                     before: list[str] = ()) -> str | None:
    """Why `sentence` may not reach a customer, or None. `earlier`: sentences of earlier bot replies;
    `before`: the sentences of this reply before it."""
    if _DENIES_HANDOFF.search(sentence.replace("’", "'")):
        return f"says it cannot reach a person: {sentence!r}"
    if any(_same(sentence, other) for other in before):
        return f"repeats itself: {sentence!r}"
    if is_refusal(sentence) or is_courtesy(sentence, question, "\n".join(snippets)) \
            or introduces(sentence, question, snippets):
        return None
    # "..., but I can't confirm that" is checked without its refusal
    if says_nothing(sentence := claimed(sentence, known_words("\n".join(snippets)))):
        return None
    if _restates(sentence, question):
        return f"repeats the question: {sentence!r}"
    if any(repeats(sentence, before) for before in earlier):
        return f"repeats an earlier reply: {sentence!r}"
    if not before and (problem := yes_no_problem(sentence, question, snippets)):
        return problem
    premise = customers_premise(sentence, question)
    joined = "\n".join(snippets)
    if not before and (unbacked := said_back_unbacked(sentence, question, known_words(joined), premise)):
        return f"says yes to {', '.join(unbacked)}, which no snippet mentions: {sentence!r}"
    read, known = _as_read(sentence, joined)
    known = FactSet(known)
    missing = [fact for fact in unstated(read, known) if fact.text not in premise]
    worked, cases = worked_out(missing, read, question, known.states, " ".join(before))
    invented = sorted({fact.text + (f" a {fact.per}" if fact.per else "") for fact in missing
                       if fact.text not in worked})
    if invented:
        return f"states {', '.join(invented)}, which no snippet says: {sentence!r}"
    problem, given_days = _customers_case(sentence, snippets, question)
    if problem:
        return problem
    # Worked out right ("Monday, the next working day"), given by the snippet ("Sundays" where it says "including
    # weekends"), and the customer's case a fact was worked out for: they count neither way, and the days and
    # countries may be named as the customer's names are ("Spanien" where the snippet says "die EU").
    days = [*worked_out_weekdays(sentence, question), *given_days]
    premise |= worked | content_words(" ".join([*worked, *days])) | content_words(cases) & content_words(question)
    if worked:  # the customer's words for what was worked out for them ("paying yearly saves you $11.89"), and the
        premise |= content_words(sentence) & content_words(question) | _WORKING  # working's ("those two come to")
    question = "\n".join([question, *days, *covered_countries(sentence, joined)])
    backing = [snippet for snippet in snippets if is_supported(sentence, snippet, question, premise)]
    if not backing:
        if names := unknown_names(sentence, "\n".join([*snippets, question])):
            return f"names {', '.join(names)}, which no snippet mentions: {sentence!r}"
        return f"no snippet supports: {sentence!r}"
    named = "\n".join([question, *before, *earlier])
    if len(backing) > 1 and (problem := contradiction(sentence, "\n\n".join(backing))):
        return problem  # it rests on the clauses of all the snippets that back it, not only on the kindest one
    problems = [contradiction(sentence, snippet) or swapped_direction(sentence, snippet)
                or misplaced_consequence(sentence, snippet) or misbound(sentence, snippet, premise)
                or other_audience(sentence, snippet, question) or unnamed_owner(sentence, snippet, named)
                or told_elsewhere(sentence, snippet, "\n".join([question, *before])) for snippet in backing]
    return problems[0] if all(problems) else None


def _customers_case(sentence: str, snippets: list[str], question: str) -> tuple[str | None, list[str]]:
    """What `sentence` says of the customer's case that the snippets leave out (a country, a brand's product, a day, a
    month, a period, a time limit the customer is past), or None; and the days a snippet gives for it."""
    joined = "\n".join(snippets)
    if countries := unserved_countries(sentence, joined):
        return f"names {', '.join(countries)} as served, which the snippets' places do not cover: {sentence!r}", []
    if denied := denied_countries(sentence, snippets):
        return f"says {', '.join(denied)} is not served, which the snippets' places cover: {sentence!r}", []
    if siblings := unlisted_siblings(sentence, joined):
        return f"says yes for {', '.join(siblings)}, which the snippets do not list: {sentence!r}", []
    left_out, given_days = checked_days(sentence, joined)
    if left_out := left_out + unnamed_months(sentence, joined):
        return f"says {', '.join(left_out)}, which the snippet's days or months for it leave out: {sentence!r}", []
    if period := other_period(sentence, joined):
        return f"says {period}: {sentence!r}", []
    if limit := passed_limit(sentence, snippets, question):
        return f"leaves out the snippet's limit, {limit[0]}, which the customer's {limit[1]}: {sentence!r}", []
    return None, given_days


def _as_read(sentence: str, snippets: str) -> tuple[str, str]:
    """The reply sentence and the snippets as dialogue/facts.py reads them. Snippets the detector is sure are in a
    language that writes decimal commas (German "5,95 €", "2,4-GHz-WLAN") were read as two numbers, 5 and 95, so
    "5,95 $" passed where they say "5,95 €"; both sides are then written as English writes them
    (`translated_facts.as_read`: "$5.95", "€5.95", "2.4 GHz")."""
    language, read = _snippets_as_read(snippets)
    return (as_read(sentence, language), read) if language else (sentence, snippets)


@lru_cache(maxsize=512)
def _snippets_as_read(snippets: str) -> tuple[str | None, str]:
    """(the snippets' decimal-comma language or None, the snippets as read): once per snippet text, not per
    sentence of every reply."""
    language = sure_language(snippets)
    if language is None or language in POINT_DECIMALS:
        return None, snippets
    return language, as_read(snippets, language)


def _restates(sentence: str, question: str) -> bool:
    """The customer's question said back, adding no answer: no yes/no, no fact of its own, the same polarity."""
    if not repeats(sentence, question) or re.match(r"\s*(?:yes|no)\b", sentence, re.IGNORECASE):
        return False
    new_facts = {fact.key for fact in facts(sentence)} - {fact.key for fact in facts(question)}
    return not new_facts and is_negative(sentence) == is_negative(question)


def tidied(reply: str, snippets: list[str], question: str) -> str:
    """What of an LM's reply is checked and may be sent: without what it says about its sources
    (dialogue/source_talk.py), and without an opening yes or no to a question no snippet addresses
    (dialogue/yes_no.py `without_unaddressed_answer`)."""
    return without_unaddressed_answer(without_source_talk(reply), question, snippets)


QUESTION_MARKS = ("?", "？", "؟")
WEAKER_MATCH = "uses none of the best-matching snippet [1]"


def check_reply(reply: str, snippets: list[str], question: str, earlier_replies: list[str] = (),
                best_first: bool = True) -> ReplyCheck:
    """May `reply` reach a customer? See the module docstring for the rules. `best_first=False` drops the rule
    that a claim must come from the first snippet (for replies that say which snippets they used)."""
    earlier = [s for text in earlier_replies for s in sentences(text)]
    said = sentences(reply)
    reasons = [problem for i, s in enumerate(said)
               if (problem := sentence_problem(s, snippets, question, earlier, said[:i]))]
    joined = "\n".join(snippets)
    known = known_words(joined)
    claimed_parts = {s: claimed(s, known) for s in said}
    claims = [claimed_parts[s] for s in said if not is_refusal(s) and not is_courtesy(s, question, joined)
              and not introduces(s, question, snippets) and not says_nothing(claimed_parts[s])]
    if not claims and not any(is_refusal(s) for s in said):
        reasons.append("says nothing")  # nothing, or only kind words and a lead-in
    if claims and not any(content_words(YES_NO.sub("", s)) - REGRET or facts(s) for s in claims):
        # "I'm not.", "Yes.", "It is.": SmolLM2's whole reply at times, which no snippet can back or contradict.
        reasons.append("says nothing a snippet can back")
    if claims and all(s.rstrip().endswith(QUESTION_MARKS) for s in claims):
        # Asks back and answers nothing: SmolLM2's "[2] How do I get a warranty claim?" to a broken thermostat.
        reasons.append("only asks a question")
    if (best_first and not reasons and len(snippets) > 1 and claims and all(claimed_parts[s] is s for s in said)
            and not any(is_supported(s, snippets[0]) for s in claims)):
        # Every claim comes from a weaker match: the reply answers another question ("And for accessories?"
        # answered with the devices' policy). Unless it says it cannot answer the question itself ("The information
        # I have doesn't say whether the Cam is waterproof. The warranty doesn't cover water damage, though.").
        reasons.append(WEAKER_MATCH)
    return ReplyCheck(reasons)


class SentenceGate:
    """Streams a reply being written sentence by sentence, each one only after it passed
    `sentence_problem`; after the first that fails nothing more is shown (the finished reply then replaces
    what was shown, see DialogueManager). An unsupported sentence is never on a customer's screen."""

    def __init__(self, show, snippets: list[str], question: str, earlier_replies: list[str]):
        self._show = show
        self._snippets, self._question = snippets, question
        self._earlier = [s for text in earlier_replies for s in sentences(text)]
        self._buffer = ""
        self._shown: list[str] = []
        self.failed = False

    def feed(self, delta: str) -> None:
        if self.failed:
            return
        self._buffer += delta
        spans = sentence_spans(self._buffer)
        if len(spans) < 2:
            return  # the last sentence may still be growing
        done = without_source_talk(self._buffer[: spans[-1][0]])
        if not self._shown:
            done = without_unaddressed_answer(done, self._question, self._snippets)
        self._buffer = self._buffer[spans[-1][0]:]
        for sentence in sentences(done):
            if sentence_problem(sentence, self._snippets, self._question, self._earlier, self._shown):
                self.failed = True
                return
            self._shown.append(sentence)
        if done:
            self._show(done)


def mark_citations(reply: str, snippets: list[str]) -> str:
    """Mark which snippet supports what: a sentence with no `[n]` of its own gets the number of the snippet
    that supports it best (by `is_supported`). Sentences no snippet supports stay unmarked, so a reader can
    tell a grounded claim from an unbacked one; refusals claim nothing and are left alone."""
    marked = []
    for start, end in sentence_spans(reply):
        sentence = reply[start:end]
        stripped = sentence.rstrip()
        body = stripped.rstrip(".!?")
        ending = sentence[len(body):]
        if body.strip() and not _CITATION.search(sentence) and not is_refusal(sentence):
            supporting = [i for i, snippet in enumerate(snippets, start=1) if is_supported(body, snippet)]
            if supporting:
                words = content_words(body)
                best = max(supporting, key=lambda i: len(words & content_words(snippets[i - 1])))
                sentence = f"{body} [{best}]{ending}"
        marked.append(sentence)
    return "".join(marked)
