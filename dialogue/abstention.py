"""The clauses of a reply that claim nothing: a refusal, what the snippets leave out, an offer of a person.

A capable LM answers a question the snippets do not cover the way a good agent does: "The information I have
doesn't say whether the Nimbus Cam is waterproof, so I can't confirm it. Happy to connect you with the team." None
of that is a claim a snippet could back, and the check used to stop it (a fifth blind batch of answers, written on
2026-12-07: 0 of its 12 honest answers passed), so the customer got the fallback instead of an honest answer that
also gave what the snippets do say.

A refusal used to be found anywhere in a sentence, and the whole sentence was then left unchecked: "Nimbus Plus
costs £9.99 a month, though I'm not sure about other regions." passed with an invented price. Now a sentence is cut
into clauses; a clause that only refuses, says what the information leaves out, or offers a person is dropped, and
what is left is checked as any sentence is. A clause that holds a fact (a number, a price, a link) always stays.
"""

import re
from functools import lru_cache

from dialogue.content_words import content_words
from dialogue.facts import facts
from dialogue.names import YES_NO, covered
from dialogue.polarity import is_negative
from dialogue.sentences import sentences

# Where a sentence is cut: a semicolon, a colon, a comma, a dash, or before "but", "so", "though", "although". Not
# before "and" or "or": "doesn't say whether it is waterproof or rated for outdoor use" is one clause.
_CUT = re.compile(r";\s*|:\s+|,\s*|\s+[—–]\s+|\s+-\s+|\s+(?=(?:but|so|though|although|aber|mais|pero)\s)|[，；：]",
                  re.IGNORECASE)

_REFUSAL = (
    r"\bi (?:do not|don't|dont) (?:know|have)\b|\bi'm not sure\b|\bi am not sure\b"
    r"|\b(?:can't|cannot|can not|unable to) help\b|\bisn't covered\b|\bis not covered\b|\bnot (?:able|sure)\b"
    r"|\bno information\b|\bconnect you with (?:a|our)\b|\btalk to a person\b|\bspeak (?:to|with) a person\b")
# What the information leaves out: "the information I have doesn't say whether ...", "there's no mention of ...".
# "cover", "list" and "include" only for the information itself: "the warranty doesn't cover water damage" is a claim;
# and never "give" or "tell": "it does not give you the right to leave" is one.
_INFORMATION = r"(?:information|info|details?|notes?|articles?|documentation|what i have|what i've got)"
_NOT = r"(?:doesn't|does not|don't|do not|didn't|did not)"
_LEAVES_OUT = (
    rf"\b(?:it|they|{_INFORMATION})\b[^,;:]{{0,30}}?\b{_NOT} (?:say|mention|specify|state|go into)\b"
    rf"|\b{_INFORMATION}\b[^,;:]{{0,30}}?\b{_NOT} (?:cover|list|include|have)\b"
    r"|\b(?:there's|there is|i see|i have|i've got|i can find|i could find) (?:no|nothing)"
    r" (?:mention|details?|information|info|word|specifics?)\b"
    r"|\bi (?:can't|cannot|can not|couldn't|could not|am unable to|'m unable to|am not able to|'m not able to) "
    r"(?:confirm|say|promise|guarantee|tell|see|find|check)\b"
    r"|\bi (?:don't|do not) have (?:any )?(?:details|information|info|specifics|data)\b")
# An offer of a person (the bot can always hand over: the fallback offers one).
_TEAM = r"(?:our|the|a|one of our) (?:support )?(?:team|colleagues?|staff|agents?|person|human|specialists?|someone)"
_OFFERS_PERSON = (
    r"\b(?:connect|put|pass|transfer|hand) you (?:through |over )?(?:to|with|in touch with)\b"
    rf"|\b(?:suggest|recommend) (?:asking|contacting|checking with|speaking (?:to|with)|getting in touch with)"
    rf" (?:{_TEAM}|us|support)\b|\b{_TEAM} (?:can|could|will be able to) (?:help|check|confirm)\b"
    r"|\b(?:worth|best to|good idea to) (?:checking|asking|double-checking|confirming|check|ask|confirm)\b")
# The same in the catalogue's other languages (German, French, Spanish, Chinese, Japanese); read as refusals, without
# the check that what is "left out" is really not in the snippets.
_ELSEWHERE = (
    r"\bich wei(?:ß|ss) (?:es |das )?nicht\b|\b(?:habe|hab) ich keine (?:informationen|angaben|details)\b"
    r"|\bliegen (?:mir|uns) keine (?:informationen|angaben)\b"
    r"|\b(?:kann|könnte) (?:ich )?(?:das |es )?(?:leider )?nicht "
    r"(?:bestätigen|sagen|garantieren)\b|\b(?:verbinde|verbinden) (?:ich )?sie (?:gern |gerne )?mit\b"
    r"|\bje ne sais pas\b|\bje n'ai pas d'informations?\b|\bje ne (?:peux|puis) pas (?:confirmer|garantir|dire)\b"
    r"|\binformations?\b[^,;.]{0,30}\bne (?:précisent|mentionnent|disent|indiquent) pas\b"
    r"|\bvous mettre en relation avec\b"
    r"|\bno lo sé\b|\bno tengo información\b|\bno puedo (?:confirmar|garantizar|decir)\b"
    r"|\binformación\b[^,;.]{0,30}\bno (?:dice|menciona|especifica|indica)\b|\bponerle en contacto con\b"
    r"|我不确定|没有(?:关于|相关)?.{0,12}(?:信息|资料)|无法确认|不能确认|没有提到|转接人工|わかりません|確認できません")
_CLAIMS_NOTHING = re.compile(f"{_REFUSAL}|{_LEAVES_OUT}|{_OFFERS_PERSON}|{_ELSEWHERE}", re.IGNORECASE)
_SAID_SHARE = 0.7  # of what a clause says is left out, the snippets' words: they do say it
_ONLY_LEAVES_OUT = re.compile(_LEAVES_OUT, re.IGNORECASE)
_SAYS_ANYTHING = re.compile(f"{_REFUSAL}|{_OFFERS_PERSON}|{_ELSEWHERE}", re.IGNORECASE)
_ABSTAINING_WORDS = frozenset(content_words(
    "information info details detail notes articles documentation mention mentions say says specify state tell cover "
    "covers list include confirm promise guarantee find check see anything whether have got know sure"))


def abstains(clause: str, known: frozenset[str] | None = None) -> bool:
    """Does `clause` only refuse, say what the information leaves out, or offer a person, with no fact of its own?
    With `known` (the snippets' content words), a clause that says the information leaves out what the snippets do
    say is a false claim about them, not an abstention: "it does not mention any roaming charges for Lite plans"
    over "On Lite, roaming in the EU costs £2.25 a day" (Qwen2.5-Coder-1.5B)."""
    plain = clause.replace("’", "'")
    if not _CLAIMS_NOTHING.search(plain) or facts(clause):
        return False
    if known is None or _SAYS_ANYTHING.search(plain) or not _ONLY_LEAVES_OUT.search(plain):
        return True
    left_out = content_words(plain) - _ABSTAINING_WORDS
    return len(left_out) < 2 or sum(covered(word, known) for word in left_out) < _SAID_SHARE * len(left_out)


def claimed(sentence: str, known: frozenset[str] | None = None) -> str:
    """`sentence` without its clauses that claim nothing (`abstains`), the very same string when it has none; "" when
    no other clause is left. Kept clauses
    keep their words and order: "Nimbus Plus costs £9.99 a month, though I'm not sure about other regions." is
    checked as "Nimbus Plus costs £9.99 a month"."""
    clauses = [clause for clause in _clauses(sentence) if clause.strip()]
    kept = [clause.strip() for clause in clauses if not abstains(clause, known)]
    return sentence if len(kept) == len(clauses) else ", ".join(kept)


def _clauses(sentence: str) -> list[str]:
    if not _CLAIMS_NOTHING.search(sentence.replace("’", "'")):
        return [sentence]
    found, position = [], 0
    for cut in [*_CUT.finditer(sentence), None]:
        end = cut.start() if cut else len(sentence)
        found.append(sentence[position:end])
        position = cut.end() if cut else end
    return found


def is_refusal(text: str) -> bool:
    """Does `text` (a sentence or a reply) refuse, say what it leaves out or offer a person, and claim nothing
    else ("I don't know that, sorry.")?"""
    if not _CLAIMS_NOTHING.search(text.replace("’", "'")):
        return False
    parts = sentences(text) or [text]
    return any(_CLAIMS_NOTHING.search(part.replace("’", "'")) for part in parts) and all(
        says_nothing(claimed(part)) for part in parts)


def says_nothing(text: str) -> bool:
    return not re.search(r"\w", text) or is_courtesy(text)


# Courtesy that states nothing, which a capable LM opens or closes with: "Sorry to hear that!", "Happy to help."
_COURTESY = frozenset().union(*(content_words(phrase) for phrase in (
    "sorry to hear that", "happy to help", "glad to help", "great question", "good question", "thanks for asking",
    "thank you for reaching out", "I hope this helps", "I understand how frustrating and annoying that is",
    "good news", "glad you asked", "apologies for the inconvenience", "you're welcome", "my pleasure", "of course",
    "let me know if there is anything else", "have a nice day", "have a great trip", "enjoy your holiday",
    "safe travels", "sorry about that", "sorry this happened")))
# Regret, which opens a sentence that then claims something ("Sorry, accessories have to be returned within 14 days"):
# no snippet says it, and it claims nothing.
REGRET = frozenset(content_words("sorry unfortunately afraid"))
# "Sorry to hear it arrived damaged!": sympathy in the customer's own words.
_SYMPATHY = re.compile(r"^\s*(?:i'm |i am |so |really |very )*sorry (?:to hear|that|about)\b", re.IGNORECASE)


@lru_cache(maxsize=512)
def known_words(snippets: str) -> frozenset[str]:
    """The content words of the snippets (joined), cached: every sentence of a reply reads them."""
    return frozenset(content_words(snippets))


def asserts_nothing_checked(sentence: str) -> bool:
    """No fact, no opening yes or no, no denial: what the check's other rules read."""
    return not facts(sentence) and not YES_NO.match(sentence) and not is_negative(sentence)


def is_courtesy(sentence: str, question: str = "", snippets: str = "") -> bool:
    """Does `sentence` only say something kind ("Sorry to hear that!"), or feel for what the customer told ("Sorry to
    hear it arrived damaged!", in their words or the snippets' for it)? Not a yes, no or denial, and no fact."""
    words = content_words(sentence)
    told = content_words(question) | known_words(snippets)
    kind = _COURTESY | told if _SYMPATHY.match(sentence.replace("’", "'")) else _COURTESY
    return bool(words) and words <= kind and asserts_nothing_checked(sentence)


def only_refuses(reply: str, question: str, snippets: str = "") -> bool:
    """Does `reply` only say it cannot answer ("I do not know.", "Sorry, that isn't covered by what I know."), with
    at most kind words beside it? The fallback says that better: it offers the FAQs that came close and a person."""
    said = sentences(reply)
    return any(map(is_refusal, said)) and all(is_refusal(s) or is_courtesy(s, question, snippets) for s in said)
