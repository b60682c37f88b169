"""Facts a reply works out from the snippets and the customer's message, checked by working them out again.

A capable model applies the snippets to the customer's case: "11am is before the 14:00 cut-off, so it ships the same
day", "a 2,500 W heater is within its 3,680 W rating", "your Plus plan goes from £14 to £15.50", "the 8th, so that's
the 22nd", "a Friday order arrives on Monday, the next working day". The reply check (dialogue/grounding.py) asks for
every fact and name to be the snippets', so each of these was stopped. Here such a fact passes only where the
sentence itself shows how it was reached and the working is right:

- **a comparison**: a fact of the customer's message, said in a clause that compares it ("before", "within",
  "over", ...) with a fact of the same kind and unit in the same sentence, or said beside a range of them ("open
  8:00 to 22:00, so 9:30pm is fine"); the comparison must hold ("3pm is before the 14:00 cut-off" does not), a
  negation in the clause turns it round;
- **a sum, a difference or a share**: a new amount, count or day of the month that two facts of the sentence add
  up to (or differ by), or an amount with a percentage of the sentence taken off, added or taken ("15% off, so from
  £14 to £11.90"), in a sentence that says it follows ("so", "that's", "from £14 to ...");
- **a weekday**: the next working day after a weekday the sentence or the message names, where the sentence says
  "the next working day".

Every other new fact is still the snippets' or nothing: a number that happens to be a sum in a sentence that does
not say so is invented.
"""

import re
from decimal import Decimal, InvalidOperation

from dialogue.days_and_months import named_days, next_working_day
from dialogue.facts import Fact, FactKind, facts
from dialogue.polarity import is_negative

_LESS = re.compile(r"\b(?:before|earlier than|under|below|less than|within|inside|up to|lower than|no more than|"
                   r"in time|ahead of)\b", re.IGNORECASE)
_MORE = re.compile(r"\b(?:after|later than|over|above|more than|exceeds?|beyond|past|higher than|too late for)\b",
                   re.IGNORECASE)
_SPAN = re.compile(r"^\s*(?:-|–|—|to|until|till|and)\s*$", re.IGNORECASE)  # "8:00 to 22:00", "between 2 and 5"
_CLAUSE = re.compile(r"[,;:—–]\s*|\s+(?:so|but|and|because|while|which)\s+", re.IGNORECASE)
_FOLLOWS = re.compile(r"\b(?:so|that's|that is|which makes|making|in total|total|altogether|comes to|works out|"
                      r"(?:go|goes|going|rise|rises|rising|move|moves|come|comes|coming|drop|drops|fall|falls)"
                      r"(?: down| up)? (?:from|to))\b|=", re.IGNORECASE)


def worked_out(missing: list[Fact], sentence: str, question: str, stated, before: str = "") -> tuple[set[str], str]:
    """The facts of `missing` (those of `sentence` no snippet states) that the sentence works out right, with the
    customer's facts it works them out from (as written); and the clauses that compare a customer's fact, whose
    words of the customer's ("a 2,500 W heater") are the customer's case, not a claim. `stated(fact)`: does a
    snippet state this fact? The working starts from the snippets' facts and the customer's, not from another
    fact it invents. `before`: the reply's sentences before this one, whose facts a sum may use too ("Students get
    15% off. With it, Plus comes down from £14 to £11.90.")."""
    asked = {_key(f) for f in facts(question)}
    usable = [f for f in facts(sentence) if stated(f) or _key(f) in asked]
    earlier = [f for f in facts(before) if stated(f)]
    found, cases = set(), []
    for fact in missing:
        others = [f for f in usable if f.start != fact.start]
        if _key(fact) in asked and (nearest := _compared(fact, sentence, others)):
            found |= {fact.text, nearest.text}
            cases.append(_clause(fact, sentence))
        elif _FOLLOWS.search(sentence) and (operands := _summed(fact, others) or _summed(fact, others + earlier)):
            found |= {fact.text} | {f.text for f in operands if _key(f) in asked}
    return found, " ".join(cases)


def _key(fact: Fact) -> tuple:
    return fact.kind, fact.value, fact.unit


def _number(fact: Fact) -> Decimal | None:
    try:
        return Decimal(fact.value.split()[-1])
    except InvalidOperation:
        return None


def _alike(one: Fact, other: Fact) -> bool:
    """Comparable: the same kind, the same unit, the same currency."""
    if one.kind is not other.kind or one.unit != other.unit:
        return False
    return one.kind is not FactKind.MONEY or one.value.split()[0] == other.value.split()[0]


def _compared(fact: Fact, sentence: str, others: list[Fact]) -> Fact | None:
    """The nearest like fact of the sentence, where the clause of `fact` compares it rightly with it; or, with no
    comparison word, a range of like facts in the sentence ("open from 8:00 to 22:00, so 9:30pm is fine") that
    holds it, or not where the clause says no ("so it won't be open at 10:30pm")."""
    clause = _clause(fact, sentence)
    less, more = _LESS.search(clause), _MORE.search(clause)
    like = [other for other in others if _alike(fact, other) and _number(other) is not None]
    mine = _number(fact)
    if not like or mine is None or (less and more):
        return None
    if not less and not more:
        for low, high in zip(like, like[1:]):
            if low.end <= high.start and _SPAN.match(sentence[low.end:high.start]):
                inside = _number(low) <= mine <= _number(high)
                return low if inside != is_negative(clause) else None
        return None
    nearest = min(like, key=lambda other: abs(other.start - fact.start))
    holds = mine <= _number(nearest) if less else mine > _number(nearest)
    return nearest if holds != is_negative(clause) else None


def _clause(fact: Fact, sentence: str) -> str:
    start = max((m.end() for m in _CLAUSE.finditer(sentence, 0, fact.start)), default=0)
    following = _CLAUSE.search(sentence, fact.end)
    return sentence[start:following.start() if following else len(sentence)]


def _summed(fact: Fact, others: list[Fact]) -> tuple[Fact, Fact] | None:
    """Is `fact` the sum or the difference of two other facts of the sentence: two like amounts, or a day of the
    month and a number of days?"""
    mine = _number(fact)
    if mine is None or fact.kind not in (FactKind.MONEY, FactKind.ORDINAL, FactKind.NUMBER):
        return None
    for i, one in enumerate(others):
        for other in others[i + 1:]:
            a, b = _number(one), _number(other)
            if a is None or b is None:
                continue
            if _share(fact, one, other) or _share(fact, other, one):
                return one, other
            days = {one.kind, other.kind} == {FactKind.ORDINAL, FactKind.NUMBER} and "day" in (one.unit, other.unit)
            if fact.kind is FactKind.ORDINAL and not days:
                continue
            if fact.kind is not FactKind.ORDINAL and not (_alike(fact, one) and _alike(fact, other)):
                continue
            if mine in (a + b, abs(a - b)):
                return one, other
    return None


def _share(fact: Fact, amount: Fact, percent: Fact) -> bool:
    """Is `fact` `percent` of `amount`, or the amount with it taken off or added: "15% off £14" is £11.90, to the
    penny?"""
    if percent.unit != "%" or fact.kind is not amount.kind or fact.unit != amount.unit or amount.unit == "%":
        return False
    if fact.kind is FactKind.MONEY and fact.value.split()[0] != amount.value.split()[0]:
        return False
    base, rate = _number(amount), _number(percent) / 100
    return _number(fact) in {round(base * rate, 2), round(base * (1 - rate), 2), round(base * (1 + rate), 2)}


def worked_out_weekdays(sentence: str, question: str) -> set[str]:
    """Weekdays of `sentence` that are the next working day after another weekday it or the question names, where
    the sentence says so: "a Friday order should arrive on Monday, the next working day"."""
    if not any(fact.kind is FactKind.DAY and fact.value == "1" for fact in facts(sentence)):
        return set()
    said = named_days(sentence)
    return {day.capitalize() for day in said for start in said + named_days(question) if next_working_day(start) == day}
