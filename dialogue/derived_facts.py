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
- **a product**: an amount a count of the sentence or the message times another ("3 × £2.25 = £6.75", "4 months at
  £22, that's £88"), or twelve times a monthly amount "over a year";
- **a date**: a day of the month some days after another ("delivered on 2 June, so the 14 days ran out on 16 June");
- **a weekday**: the next working day after a weekday the sentence or the message names, where the sentence says
  "the next working day".

The facts of the customer's message may be operands wherever they are ("a plug at £24.99 and a mount at £19.99" →
"those two come to £44.98"), and so may the facts worked out before (£88, then 80% of it, £70.40). A customer's fact
said back beside a comparison the sentence makes elsewhere counts as compared ("within 14 days of the charge, and
you're at 5 days"), and durations compare across units ("4 months is past the 60 days").

Every other new fact is still the snippets' or nothing: a number that happens to be a sum in a sentence that does
not say so is invented.
"""

import re
from decimal import Decimal, InvalidOperation

from dialogue.days_and_months import MONTHS, named_days, next_working_day
from dialogue.facts import Fact, FactKind, facts
from dialogue.polarity import is_negative

_LESS = re.compile(r"\b(?:before|earlier than|under|below|less than|within|inside|up to|lower than|no more than|"
                   r"in time|ahead of)\b", re.IGNORECASE)
_MORE = re.compile(r"\b(?:after|later than|over|above|more than|exceeds?|beyond|past|passed|expired|higher than|"
                   r"too late for)\b", re.IGNORECASE)
_SPAN = re.compile(r"^\s*(?:-|–|—|to|until|till|and)\s*$", re.IGNORECASE)  # "8:00 to 22:00", "between 2 and 5"
_CLAUSE = re.compile(r"[,;:—–]\s*|\s+(?:so|but|and|because|while|which)\s+", re.IGNORECASE)
_FOLLOWS = re.compile(r"\b(?:so|that's|that is|which is|which makes|would be|making|in total|total|altogether|"
                      r"come to|comes to|works out|saves?|ran out|runs out|"
                      r"(?:go|goes|going|rise|rises|rising|move|moves|come|comes|coming|drop|drops|fall|falls)"
                      r"(?: down| up)? (?:from|to))\b|=", re.IGNORECASE)
_YEARLY = re.compile(r"\b(?:(?:over|for|in|per|a) (?:a |the )?(?:whole |full )?year|yearly|annually|12 months)\b",
                     re.IGNORECASE)
_MONTH_AFTER = re.compile(r"^\s*(?:" + "|".join(MONTHS) + r")\b", re.IGNORECASE)
IN_DAYS = {"minute": Decimal(1) / 1440, "hour": Decimal(1) / 24, "day": Decimal(1), "week": Decimal(7),
            "month": Decimal(30), "year": Decimal(365)}


def worked_out(missing: list[Fact], sentence: str, question: str, stated, before: str = "") -> tuple[set[str], str]:
    """The facts of `missing` (those of `sentence` no snippet states) that the sentence works out right, with the
    customer's facts it works them out from (as written); and the clauses that compare a customer's fact, whose
    words of the customer's ("a 2,500 W heater") are the customer's case, not a claim. `stated(fact)`: does a
    snippet state this fact? The working starts from the snippets' facts and the customer's, not from another
    fact it invents. `before`: the reply's sentences before this one, whose facts a sum may use too ("Students get
    15% off. With it, Plus comes down from £14 to £11.90.")."""
    told = facts(question)
    asked = {_key(f) for f in told} | {(f.kind, f.value, None) for f in told}  # "3 × £2.25" for "3 days"
    dates = _dates(sentence) | _dates(question)
    usable = [f for f in facts(sentence) if stated(f) or _key(f) in asked]
    operands = usable + [f for f in facts(before) if stated(f)] + told
    found, cases, done = set(), [], True
    while done:  # until nothing more is worked out: £88 from 4 months at £22, then £70.40 as 80% of £88
        done = False
        for fact in missing:
            if fact.text in found:
                continue
            others = [f for f in usable if f.start != fact.start]
            if _key(fact) in asked and (nearest := _compared(fact, sentence, others)):
                found |= {fact.text, nearest.text}
                cases.append(_clause(fact, sentence))
            elif _FOLLOWS.search(sentence) and (
                    worked := _worked(fact, sentence, [f for f in operands if f is not fact], dates)):
                found |= {fact.text} | {f.text for f in worked if _key(f) in asked}
            else:
                continue
            operands.append(fact)
            done = True
    return found, " ".join(cases)


def _worked(fact: Fact, sentence: str, operands: list[Fact], dates: set[tuple]) -> tuple[Fact, ...] | None:
    return _summed(fact, operands, dates) or _multiplied(fact, sentence, operands)


def _dates(text: str) -> set[tuple]:
    """The bare numbers of `text` that are days of a month ("2 June"), as (value, text) pairs."""
    return {(f.value, f.text) for f in facts(text)
            if f.kind is FactKind.NUMBER and f.unit is None and _MONTH_AFTER.match(text[f.end:])}


def _multiplied(fact: Fact, sentence: str, operands: list[Fact]) -> tuple[Fact, ...] | None:
    """Is the amount `fact` a count times another amount ("3 × £2.25", "4 months at £22"), or twelve times a monthly
    amount in a sentence that says "over a year"?"""
    mine = _number(fact)
    if mine is None or fact.kind is not FactKind.MONEY:
        return None
    amounts = [f for f in operands if _alike(fact, f) and _number(f) is not None]
    counts = [f for f in operands if f.kind is FactKind.NUMBER and f.unit in (None, "day", "week", "month", "year")
              and _number(f) is not None]
    for amount in amounts:
        if _YEARLY.search(sentence) and mine == round(_number(amount) * 12, 2):
            return (amount,)
        for count in counts:
            if mine == round(_number(amount) * _number(count), 2):
                return amount, count
    return None


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
    holds it, or not where the clause says no ("so it won't be open at 10:30pm"), or a like fact that its own clause
    compares ("within 14 days of the charge, and you're at 5 days")."""
    clause = _clause(fact, sentence)
    less, more = _LESS.search(clause), _MORE.search(clause)
    like = [other for other in others if _comparable(fact, other)]
    mine = measure(fact)
    if not like or mine is None or (less and more):
        return None
    if not less and not more:
        for low, high in zip(like, like[1:]):
            if low.end <= high.start and _SPAN.match(sentence[low.end:high.start]):
                inside = measure(low) <= mine <= measure(high)
                return low if inside != is_negative(clause) else None
        for other in like:
            theirs = _clause(other, sentence)
            if bool(_LESS.search(theirs)) != bool(_MORE.search(theirs)) and theirs != clause:
                holds = mine <= measure(other) if _LESS.search(theirs) else mine > measure(other)
                return other if holds != is_negative(clause) else None
        return None
    nearest = min(like, key=lambda other: abs(other.start - fact.start))
    holds = mine <= measure(nearest) if less else mine > measure(nearest)
    return nearest if holds != is_negative(clause) else None


def _comparable(one: Fact, other: Fact) -> bool:
    """Alike, or two durations ("4 months", "60 days")."""
    if measure(other) is None:
        return False
    return _alike(one, other) or (one.kind is other.kind is FactKind.NUMBER and one.unit in IN_DAYS
                                  and other.unit in IN_DAYS)


def measure(fact: Fact) -> Decimal | None:
    """The fact's number, a duration's in days."""
    number = _number(fact)
    if number is None or fact.kind is not FactKind.NUMBER or fact.unit not in IN_DAYS:
        return number
    return number * IN_DAYS[fact.unit]


def _clause(fact: Fact, sentence: str) -> str:
    start = max((m.end() for m in _CLAUSE.finditer(sentence, 0, fact.start)), default=0)
    following = _CLAUSE.search(sentence, fact.end)
    return sentence[start:following.start() if following else len(sentence)]


def _summed(fact: Fact, others: list[Fact], dates: set[tuple] = frozenset()) -> tuple[Fact, Fact] | None:
    """Is `fact` the sum or the difference of two other facts: two like amounts, or a day of the month ("the 8th",
    "2 June") and a number of days?"""
    mine = _number(fact)
    if mine is None or fact.kind not in (FactKind.MONEY, FactKind.ORDINAL, FactKind.NUMBER):
        return None
    day_of_month = fact.kind is FactKind.ORDINAL or (fact.value, fact.text) in dates
    for i, one in enumerate(others):
        for other in others[i + 1:]:
            a, b = _number(one), _number(other)
            if a is None or b is None:
                continue
            if _share(fact, one, other) or _share(fact, other, one):
                return one, other
            kinds = {_day_kind(one, dates), _day_kind(other, dates)}
            if day_of_month:
                if kinds != {"date", "days"}:
                    continue
            elif not (_alike(fact, one) and _alike(fact, other)):
                continue
            if mine in (a + b, abs(a - b)):
                return one, other
    return None


def _day_kind(fact: Fact, dates: set[tuple]) -> str | None:
    if fact.kind is FactKind.ORDINAL or (fact.value, fact.text) in dates:
        return "date"
    return "days" if fact.kind is FactKind.NUMBER and fact.unit == "day" else None


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
