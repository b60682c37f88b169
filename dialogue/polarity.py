"""Which way a clause points, and whether a reply's clause contradicts the snippet clauses it rests on.

- **Negative.** A clause is *negative* when it says not / no / never / n't / without, or the same in German,
  French, Spanish or Chinese (nicht, kein, pas, sin, 不, 没...), parenthetical remarks and phrases such as "at no
  extra cost", "ohne Aufpreis" or "无理由" aside.
- **Polarity.** A reply clause rests on the snippet clauses it shares most words with. It contradicts the
  snippet when those are of the other polarity, or when, at a tie, it uses a word only clauses of the other
  polarity have ("Students get 15% off Nimbus Plus" where the snippet says the code "doesn't apply to ...
  Nimbus Plus").
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from dialogue.claims import words_of
from dialogue.content_words import content_words, is_cjk, stop_words
from dialogue.facts import is_fact_key
from dialogue.names import YES_NO, names_in, says_yes
from dialogue.sentences import sentences

_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|nobody|neither|nor|cannot|without|unless"
    r"|nicht|kein|keine|keinen|keinem|keiner|keines|nie|niemals|nichts|niemand|weder|ohne"  # German
    r"|pas|jamais|aucun|aucune|rien|sans|ni"  # French (with "ne ... pas", the "pas" is enough)
    r"|nunca|ningún|ninguna|ninguno|nada|nadie|sin|tampoco)\b"  # Spanish ("no" is English's)
    r"|n['’]t\b|[不没无未非别]", re.IGNORECASE)  # Chinese
# Phrases with a negative word that say something positive: "at no extra cost" means free.
_NOT_NEGATIVE = re.compile(
    r"\bat no (?:extra |additional )?(?:cost|charge)\b|\bno (?:extra|additional) (?:cost|charge)\b"
    r"|\bno later than\b|\bno more than\b|\bno matter\b|\bnot only\b"
    r"|\bohne (?:Aufpreis|zusätzliche Kosten|Angabe von Gründen)|\bnicht nur\b"
    r"|\bsans frais\b|\bnon seulement\b|\bsin (?:costo|cargo|coste)\b|\bno solo\b"
    r"|非常|不仅|无论|不管|无理由|没问题|不错", re.IGNORECASE)
# A limit states no polarity: "draws no more than that" says what "Don't connect appliances that draw more than
# this rating" says.
_LIMIT = re.compile(r"\b(?:no|not) (?:more|later|longer|less|fewer|earlier) than\b", re.IGNORECASE)
# A negation is the polarity, not what a clause is about: sharing "can't" does not make a clause the one a reply
# rests on ("gift cards can't be combined with a discount code" rests on "... can be combined with a discount code").
_NEGATION_WORD = re.compile(r"\w+n['’]t|cannot|never|without|unless")
# A condition that opens a clause does not give it its polarity: "if you don't have one, use the Power Adapter Kit"
# says to use the kit. ("Unless ..." is a negation: "unless you add a World Pass, data is blocked".)
_CONDITION = re.compile(r"^\s*(?:if|when|whenever|once)\b[^,;]*,\s*", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+")
_OPENING_WORD = re.compile(r"(?:^|[.!?:;])[\s\"'„“«(]*([^\W_]+)")  # a sentence's first word
_COMMA = re.compile(r",\s")
_COMMA_PIECE_WORDS = 4
_SUBORDINATE = re.compile(
    r"\s*(?:wenn|falls|sofern|solange|sobald|weil|da|ob|dass|bevor|nachdem|bis|damit|obwohl|als"
    r"|si|quand|lorsque|lorsqu|puisque|parce|avant|après|tant|pour|afin"
    r"|cuando|porque|aunque|mientras|hasta|antes|después|para|como|que|donde)\b", re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^)]*\)|（[^）]*）")
POLARITY_CUT = re.compile(
    r";|；|:\s|,\s*(?:and|so)\b|\s(?:but|while|whereas|however|although|though|so|because)\b"
    r"|,\s*(?=not\b)"  # "... applies to the Plus and Unlimited plans, not Lite": the "not" is Lite's
    r"|\sand\s(?=(?:we|you|they|it)\s)"  # "... until the end of the period and we don't refund ..."
    r"|\s(?:aber|jedoch|während|obwohl|weil|sondern|daher|deshalb|deswegen|darum|mais|cependant|pourtant|"
    r"parce que|donc|pero|aunque|porque|así que|por eso|por lo tanto)\b"
    r"|，|(?:但是?|不过|然而|因此|所以)", re.IGNORECASE)  # Chinese: "，" parts clauses (a list uses "、")


def clause_words(text: str) -> set[str]:
    """The words polarity compares: `claims.words_of` without the German, French and Spanish stop words written
    in lower case or opening a sentence (a capitalised one inside is a name: "Nimbus Plus", "the EU"), and
    Chinese and Japanese as pairs of ideographs (dialogue/content_words.py), not one word per run of them."""
    stop = stop_words()
    lower = {word for word in _TOKEN.findall(text) if word.islower()}
    lower |= {match[1].lower() for match in _OPENING_WORD.finditer(text)}
    spaced = {word for word in words_of(text) if not is_cjk(word) and not (word in stop and word in lower)
              and not _NEGATION_WORD.fullmatch(word)}
    return spaced | {word for word in content_words(text) if is_cjk(word)}


def is_negative(clause: str) -> bool:
    plain = _NOT_NEGATIVE.sub(" ", _PARENTHESES.sub(" ", _CONDITION.sub("", clause)))
    return bool(_NEGATION.search(plain.replace("’", "'")))


@dataclass(frozen=True)
class Clause:
    text: str
    words: frozenset[str]
    negative: bool
    condition: bool = False  # "if it hasn't arrived within 10 minutes"
    then: frozenset[str] = frozenset()  # a condition's: the words of what the snippet says follows from it


@lru_cache(maxsize=512)
def polarity_clauses(snippet: str) -> tuple[Clause, ...]:
    """The snippet's statements cut for polarity. A question (an FAQ's title) states nothing, unless the next
    sentence answers it with yes or no: "Muss ich Zoll zahlen? Nein. ..." states the title's words the answer's
    way, which matters where the answer's own words differ ("Zölle", not "Zoll": no German stemming)."""
    found = []
    parts = sentences(snippet)
    for sentence, following in zip(parts, [*parts[1:], ""]):
        if sentence.rstrip().endswith(("?", "？")):
            if (opening := YES_NO.match(following)) and (words := clause_words(sentence)):
                found.append(Clause(sentence, frozenset(words), not says_yes(opening)))
            continue
        for part in POLARITY_CUT.split(YES_NO.sub("", sentence)):
            condition, rest = _condition_apart(part)
            if condition and (words := clause_words(condition)):
                # A condition is a statement of its own, which a reply may say back ("The link never arrived within
                # 10 minutes" rests on "If it hasn't arrived within 10 minutes, check your spam folder").
                part = rest
                found.append(Clause(condition, frozenset(words), is_negative(condition), condition=True,
                                    then=frozenset(clause_words(part))))
            negative = is_negative(part)
            if words := clause_words(part):
                found.append(Clause(part, frozenset(words), negative))
            if negative:
                found += _comma_clauses(part) + _before_without(part)
    return tuple(found)


def _comma_clauses(part: str) -> list[Clause]:
    """The pieces of a negative clause between bare commas, as clauses of their own beside the whole. German, French and
    Spanish join main clauses with a bare comma ("Pro Bestellung kann nur ein Code verwendet werden, Codes gelten
    nicht für Nimbus Plus"), where English writes "and" or a semicolon: read whole, the first statement took the
    second's "nicht". A piece of a list ("Gas- und Ölkessel, Warmluftheizungen") is short and rarely what a reply
    rests on alone; the whole clause stays, so a reply that takes a word from its negative part still rests there."""
    pieces = [piece for piece in _COMMA.split(part) if len(_TOKEN.findall(piece)) >= _COMMA_PIECE_WORDS]
    if len(pieces) < 2 or any(_SUBORDINATE.match(piece) for piece in pieces):
        return []  # "wenn Sie keinen haben, verwenden Sie das Netzteil-Kit": the condition belongs to the rest
    return [Clause(piece, frozenset(words), is_negative(piece)) for piece in pieces if (words := clause_words(piece))]


_WITHOUT = re.compile(r"\s(?=without\b)", re.IGNORECASE)


def says_no(clause: str) -> bool:
    """Does `clause` say no to what it names, a "without" inside it aside ("The Cam works without a hub" says yes to
    the Cam)?"""
    return is_negative(_WITHOUT.split(clause, maxsplit=1)[0])


def _before_without(part: str) -> list[Clause]:
    """What a clause says before a "without" inside it, as a clause of its own beside the whole: "Nimbus Cam connects
    directly to Wi-Fi and works without a hub" says yes to Wi-Fi, so a reply that copies "Nimbus Cam connects
    directly to Wi-Fi" rests there; the whole stays, so "Nimbus Cam needs a hub" still denies it."""
    before = _WITHOUT.split(part, maxsplit=1)[0]
    if before == part or is_negative(before) or not (words := clause_words(before)):
        return []
    return [Clause(before, frozenset(words), False)]


def _condition_apart(part: str) -> tuple[str | None, str]:
    """(the condition that opens `part`, without its comma, or None; the rest): "If it hasn't arrived within 10
    minutes, check your spam folder"."""
    if condition := _CONDITION.match(part):
        return condition.group(0).rstrip(", "), part[condition.end():]
    return None, part


def _with_conditions_apart(parts: list[str]) -> list[tuple[str, bool]]:
    """Each part, with a condition that opens it as a part of its own, as `polarity_clauses` reads the snippet;
    (text, whether it is a condition)."""
    found = []
    for part in parts:
        condition, rest = _condition_apart(part)
        found += [(condition, True), (rest, False)] if condition else [(part, False)]
    return found


def contradiction(sentence: str, snippet: str) -> str | None:
    """Why a clause of `sentence` points the other way from the snippet clauses it rests on, or None."""
    every_clause = polarity_clauses(snippet)
    for part, is_condition in _with_conditions_apart(POLARITY_CUT.split(YES_NO.sub("", sentence))):
        # A reply's condition is compared with the snippet's conditions only: "If you don't have a C wire, ..."
        # sets the case, it does not deny "It needs a C wire".
        clauses = [c for c in every_clause if c.condition] if is_condition else every_clause
        snippet_words = set().union(*(c.words for c in clauses)) if clauses else set()
        mine = {w for w in clause_words(part) if w in snippet_words}
        if not mine or _LIMIT.search(part):
            continue
        negative = is_negative(part)
        same = max((len(mine & c.words) for c in clauses if c.negative == negative), default=0)
        other = max((len(mine & c.words) for c in clauses if c.negative != negative), default=0)
        only_other = {w for w in mine if not any(w in c.words for c in clauses if c.negative == negative)}
        # A positive claim with a word the snippet only uses while denying something ("opened batteries can be
        # returned" where it says "Opened batteries can't be returned") has dropped the negation. Chinese words
        # count in pairs of ideographs, so the positive clause the claim borrows the rest from outweighs the
        # denied phrase ("已拆封的电池" is four pairs; "可在签收后 14 天内退货" six): three pairs found only where the
        # snippet denies, and half the positive clause's share, are enough there. A fact (number, price, duration,
        # link) found only in denying clauses is enough alone: "works with 240 V" over "not compatible with 120/240 V".
        dropped = not negative and only_other and (
            other >= max(2, same - 1) or sum(map(is_cjk, only_other)) >= 3 and 2 * other >= same
            or any(map(is_fact_key, only_other)) or _able_to(part) & only_other)
        if other > same or (other == same and (only_other or _joined_only_there(mine, clauses, negative))) or dropped:
            way = "denies" if negative else "asserts"
            return f"{way} what the snippet says the other way round: {sentence!r}"
    return None


# What a reply clause says the customer can do, or is done to them: "you can pre-order it from the product page" over
# "We don't take pre-orders" is the one thing the snippet denies, however many other words it shares with a positive
# clause.
_ABLE_TO = re.compile(r"\b(?:you|we|they|it)\s+(?:can|could|may|will|'ll|’ll)\s+(?:also\s+|still\s+|easily\s+)?"
                      r"(?P<verb>[a-z][\w-]*)"
                      # what is done to it: "data you use beyond your allowance is charged" over "never charged"
                      r"|\b(?:is|are|gets?|will be)\s+(?:then\s+|also\s+|simply\s+)?(?P<done>[a-z]+ed)\b",
                      re.IGNORECASE)


def _able_to(part: str) -> set[str]:
    return set().union(*(clause_words(match["verb"] or match["done"]) for match in _ABLE_TO.finditer(part)))


def _joined_only_there(mine: set[str], clauses: list[Clause], negative: bool) -> bool:
    """At a tie, does a name of the reply clause meet another of its words only in a clause of the other polarity?
    "Nimbus Cam needs a Nimbus Hub" shares as much with "Nimbus Thermo and Nimbus Plug need a Nimbus Hub" as with
    "Nimbus Cam ... works without a hub", but the Cam and the hub are said together only where the snippet denies
    it. A name only: the other words of one statement are spread over its clauses ("They're valid ..., and can be
    combined with a discount code")."""
    best = max((len(mine & c.words) for c in clauses if c.negative != negative), default=0)
    for clause in (c for c in clauses if c.negative != negative and len(mine & c.words) == best):
        shared = mine & clause.words
        named = clause_words(" ".join(names_in(clause.text))) | {word for word in shared if is_fact_key(word)}
        if any(not any(a in c.words and b in c.words for c in clauses if c.negative == negative)
               for a in shared & named for b in shared - {a}):
            return True
    return False


# Words that name a direction, and the words for the other way.
_OPPOSITE_PAIRS = (("up", "down"), ("bigger", "smaller"), ("larger", "smaller"), ("higher", "lower"),
                   ("upgrade", "downgrade"), ("increase", "decrease"), ("before", "after"), ("earlier", "later"),
                   ("first", "last"), ("minimum", "maximum"), ("inside", "outside"))
_OPPOSITES: dict[str, set[str]] = {}
for _one, _other in _OPPOSITE_PAIRS:
    _OPPOSITES.setdefault(_one, set()).add(_other)
    _OPPOSITES.setdefault(_other, set()).add(_one)


def _directions(text: str) -> set[str]:
    return {word.lower() for word in _TOKEN.findall(text)} & _OPPOSITES.keys()


def swapped_direction(sentence: str, snippet: str) -> str | None:
    """Why a clause of `sentence` says the other direction than the one snippet clause it shares most words with, or
    None: "Moving down to a smaller plan takes effect at once" is "Moving up to a bigger plan takes effect at once"
    with the direction turned ("Moving down takes effect on your next bill date"). Only a clear best clause
    counts, at least two words ahead of nothing; "up", "down", "before" and "after" are stop words elsewhere."""
    clauses = polarity_clauses(snippet)
    for part in POLARITY_CUT.split(YES_NO.sub("", sentence)):
        said = _directions(part)
        if not said:
            continue
        mine = clause_words(part)
        scores = sorted(((len(mine & clause.words), index) for index, clause in enumerate(clauses)), reverse=True)
        if not scores or scores[0][0] < 2 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
            continue
        theirs = _directions(clauses[scores[0][1]].text)
        for word in sorted(said - theirs):
            if (other := _OPPOSITES[word] & theirs) and not _OPPOSITES[word] & said:
                return f"says {word!r} where the snippet says {min(other)!r}: {sentence!r}"
    return None


def misplaced_consequence(sentence: str, snippet: str) -> str | None:
    """Why a clause of `sentence` says under one of the snippet's conditions what the snippet says of another case,
    or None: "If you don't have one, you can check your setup with the compatibility checker" where the snippet
    says "if you don't have one, use the Power Adapter Kit" and, apart, "you can check your setup ...". A
    condition the snippet does not state is left to the other rules."""
    conditions = [clause for clause in polarity_clauses(snippet) if clause.condition]
    if not conditions:
        return None
    for part in POLARITY_CUT.split(YES_NO.sub("", sentence)):
        condition, rest = _condition_apart(part)
        if not condition:
            continue
        asked, then = clause_words(condition), clause_words(rest)
        shared = max(len(asked & clause.words) for clause in conditions)
        if shared and then and not any(then & clause.then for clause in conditions
                                       if len(asked & clause.words) == shared):
            return f"says under the snippet's condition what it says of another case: {sentence!r}"
    return None

