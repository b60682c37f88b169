"""The checkable facts of a text: numbers with their units, prices with the period they are charged for, times
of day, days counted from now, ordinals, links, e-mail addresses, phone numbers and references, each read as a
whole token and normalised.

A reply may state a fact only when a snippet states the same one (`FactSet.states`): the same value of the
same kind, and for a number with a unit the same unit. "40 countries" is not "140 countries", "the 1st" is not
"the 21st", "10 days" is not "10 minutes", "2pm" is not "22:00" (but "10pm" is), ".../student" is not
".../students", "0800 555 0100" is not "0800 555 0199", "£6 a month" is not "£6 a day" (a price the snippet
gives with no period may be said with one), and "the same day" is not "the next working day". Spelled-out
counts before a unit ("two months") and the forms of one unit ("2-year", "2 years", "24 hours", "24/7") are
read alike.
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class FactKind(StrEnum):
    LINK = "link"
    EMAIL = "email"
    PHONE = "phone"
    REFERENCE = "reference"  # letters, a dash and digits: an order number, a model, a cipher ("AES-256")
    TIME = "time"  # a time of day, in minutes after midnight
    MONEY = "money"  # currency symbol and amount
    ORDINAL = "ordinal"
    DAY = "day"  # a day counted from now: "the same day" 0, "the next working day" 1, "immediately" now
    NUMBER = "number"  # a count or a quantity, with its unit when it has a known one


@dataclass(frozen=True)
class Fact:
    kind: FactKind
    value: str
    unit: str | None  # NUMBER only: a known unit ("day", "gb", "%"); None for a bare count
    text: str  # as written
    start: int
    end: int
    per: str | None = None  # MONEY only: the period a price is charged for ("£6 a day": "day"), when it says one

    @property
    def key(self) -> str:
        """How the fact is compared and counted as a word (claims.py)."""
        return f"{self.kind}:{self.value}:{self.unit or ''}"


def is_fact_key(word: str) -> bool:
    """Is this word of `claims.words_of` a fact's key ("number:240:volt") rather than a word of the text?"""
    return ":" in word


_UNITS = {
    "second": "second", "sec": "second", "secs": "second", "s": "second",
    "minute": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hr": "hour", "hrs": "hour", "h": "hour",
    "day": "day", "week": "week", "wk": "week", "month": "month", "mo": "month", "year": "year", "yr": "year",
    "kb": "kb", "mb": "mb", "gb": "gb", "tb": "tb", "gig": "gb", "gigabyte": "gb", "megabyte": "mb",
    "mbps": "mbps", "gbps": "gbps", "ghz": "ghz", "mhz": "mhz",
    "a": "ampere", "amp": "ampere", "ampere": "ampere", "w": "watt", "watt": "watt", "kw": "kw", "v": "volt",
    "volt": "volt", "percent": "%", "%": "%",
    # German, French and Spanish forms: "14 Tagen", "24 heures", "30 días" are the same facts as "14 days".
    **{word: "second" for word in ("sekunde", "sekunden", "seconde", "secondes", "segundo", "segundos")},
    **{word: "minute" for word in ("minuten", "minutes", "minuto", "minutos")},
    **{word: "hour" for word in ("stunde", "stunden", "heure", "heures", "hora", "horas")},
    **{word: "day" for word in ("tag", "tage", "tagen", "werktag", "werktage", "werktagen", "jour", "jours",
                                "día", "días", "dia", "dias")},
    **{word: "week" for word in ("woche", "wochen", "semaine", "semaines", "semana", "semanas")},
    **{word: "month" for word in ("monat", "monate", "monaten", "mois", "mes", "meses")},
    **{word: "year" for word in ("jahr", "jahre", "jahren", "ans", "année", "années", "año", "años")},
    "prozent": "%", "pourcent": "%",
}
# Chinese and Japanese units follow the number without a space and run into the next word ("30 天内",
# "5 个工作日"): the longest unit that opens the run counts.
# A bare 月 or 日 is part of a date ("3月15日"), not a duration.
_CJK_UNITS = {"秒": "second", "秒钟": "second", "分钟": "minute", "分": "minute", "小时": "hour", "時間": "hour",
              "天": "day", "日間": "day", "工作日": "day", "个工作日": "day", "周": "week", "个星期": "week",
              "星期": "week", "週間": "week", "个月": "month", "か月": "month", "ヶ月": "month", "年": "year"}
# Words between a number and its unit that do not change the unit: "3 working days", "10 more minutes".
_UNIT_FILLERS = {"working", "business", "calendar", "full", "more", "extra", "further", "whole", "consecutive", "per"}
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                                                       "ninety": "90", "hundred": "100"}
_CURRENCIES = {"£": "GBP", "$": "USD", "€": "EUR", "gbp": "GBP", "usd": "USD", "eur": "EUR", "pound": "GBP",
               "pounds": "GBP", "dollar": "USD", "dollars": "USD", "euro": "EUR", "euros": "EUR"}

_LINK = re.compile(r"https?://[^\s<>()\[\]\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w.,])\+?\(?\d{1,5}\)?(?:[ -]\d{2,5}){2,4}(?![\w])")
_REFERENCE = re.compile(r"\b[A-Za-z]{2,}-\d+\b")
_ALWAYS = re.compile(r"\b24\s*/\s*7\b")
_CLOCK = re.compile(r"\b(?P<h>\d{1,2}):(?P<m>\d{2})(?:\s*(?P<ap>[ap])\.?m\b)?", re.IGNORECASE)
_MERIDIEM = re.compile(r"\b(?P<h>\d{1,2})\s*(?P<ap>[ap])\.?m\b", re.IGNORECASE)
_NOON = re.compile(r"\b(?P<word>noon|midday|midnight)\b", re.IGNORECASE)
_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_MONEY_SYMBOL = re.compile(rf"(?P<cur>[£$€])\s?(?P<amount>{_AMOUNT})")
_MONEY_WORD = re.compile(rf"(?<![\w.])(?P<amount>{_AMOUNT})\s?(?P<cur>gbp|usd|eur|pounds?|dollars?|euros?)\b",
                         re.IGNORECASE)
# The period a price is charged for: "£6 a day", "$5 per day", "£14/month", "£99 yearly".
_PERIOD = re.compile(r"\s*(?:(?:a|an|per|each|every|/)\s*(?P<per>day|week|month|year|night)\b"
                     r"|(?P<ly>daily|weekly|monthly|yearly|annually|nightly)\b)", re.IGNORECASE)
_PERIODS = {"day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month", "monthly": "month",
            "year": "year", "yearly": "year", "annually": "year", "night": "night", "nightly": "night"}
_RELATIVE_DAY = re.compile(r"\b(?:(?:(?P<same>same)|next|following)[\s-](?:working[\s-]|business[\s-])?day"
                           r"|(?P<now>immediately|at once|straight away|right away|instantly))\b", re.IGNORECASE)
_ORDINAL = re.compile(r"(?<![\w.])(?P<n>\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = re.compile(rf"(?<![\w.])(?P<amount>{_AMOUNT})(?P<attached>%|[a-zA-Z]+\b)?")
_SPELLED = re.compile(r"\b(?P<word>" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_NEXT_WORDS = re.compile(r"[\s-]*(%|[^\W\d_]+)")
_RANGE_GAP = re.compile(r"^\s*(?:-|–|—|to|or|and)\s*$")
_RANGE = re.compile(r"^\s*(?:-|–|—|to)\s*$")


def facts(text: str) -> list[Fact]:
    """Every fact of `text`, in order; each character belongs to at most one fact."""
    found: list[Fact] = []
    taken: list[tuple[int, int]] = []

    def add(kind: FactKind, value: str, unit: str | None, start: int, end: int, per: str | None = None) -> None:
        if not any(start < b and a < end for a, b in taken):
            taken.append((start, end))
            found.append(Fact(kind, value, unit, text[start:end], start, end, per))

    for match in _LINK.finditer(text):
        link = match.group(0).rstrip(".,;:!?")
        add(FactKind.LINK, link.lower().rstrip("/"), None, match.start(), match.start() + len(link))
    for match in _EMAIL.finditer(text):
        email = match.group(0).rstrip(".")
        add(FactKind.EMAIL, email.lower(), None, match.start(), match.start() + len(email))
    for match in _PHONE.finditer(text):
        number = _without_count(text, match)
        digits = re.sub(r"\D", "", number)
        if len(digits) >= 8:
            add(FactKind.PHONE, digits, None, match.start(), match.start() + len(number))
    for match in _REFERENCE.finditer(text):
        add(FactKind.REFERENCE, match.group(0).upper(), None, *match.span())
    for match in _ALWAYS.finditer(text):
        add(FactKind.NUMBER, "24", "hour", *match.span())
    _times(text, add)
    for pattern in (_MONEY_SYMBOL, _MONEY_WORD):
        for match in pattern.finditer(text):
            period = _PERIOD.match(text, match.end())
            add(FactKind.MONEY, f"{_CURRENCIES[match['cur'].lower()]} {_amount(match['amount'])}", None,
                *match.span(), per=period and _PERIODS[(period["per"] or period["ly"]).lower()])
    for match in _RELATIVE_DAY.finditer(text):
        add(FactKind.DAY, "now" if match["now"] else "0" if match["same"] else "1", None, *match.span())
    for match in _ORDINAL.finditer(text):
        add(FactKind.ORDINAL, str(int(match["n"])), None, *match.span())
    _numbers(text, add)
    return sorted(found, key=lambda fact: fact.start)


def _without_count(text: str, phone: re.Match) -> str:
    """A phone number without a last group that counts a unit after it: "call 0800 555 0199 24 hours a day" is
    0800 555 0199 and 24 hours."""
    number = phone.group(0)
    last = number.rsplit(" ", 1)
    if len(last) == 2 and len(re.findall(r"[ -]", number)) > 2 and _unit_after(text, phone.end())[0] is not None:
        return last[0]
    return number


def _times(text: str, add) -> None:
    for match in _CLOCK.finditer(text):
        hour, minute = int(match["h"]), int(match["m"])
        if hour <= 24 and minute < 60:
            add(FactKind.TIME, str(_clock(hour, match["ap"]) * 60 + minute), None, *match.span())
    for match in _MERIDIEM.finditer(text):
        if 1 <= int(match["h"]) <= 12:
            add(FactKind.TIME, str(_clock(int(match["h"]), match["ap"]) * 60), None, *match.span())
    for match in _NOON.finditer(text):
        add(FactKind.TIME, "0" if match["word"].lower() == "midnight" else "720", None, *match.span())


def _clock(hour: int, meridiem: str | None) -> int:
    if meridiem is None:
        return hour % 24
    return hour % 12 + (12 if meridiem.lower() == "p" else 0)


def _numbers(text: str, add) -> None:
    numbers = []
    for match in _NUMBER.finditer(text):
        attached = match["attached"]
        unit, end = (_unit_after(text, match.end("amount")))
        if attached and unit is None and not attached.isalpha():
            unit = "%"
        numbers.append([_amount(match["amount"]), unit, match.start(), max(end, match.end())])
    for match in _SPELLED.finditer(text):
        unit, end = _unit_after(text, match.end())
        if unit is not None:  # "two months"; a bare "one" is a pronoun as often as a number
            numbers.append([_NUMBER_WORDS[match["word"].lower()], unit, match.start(), end])
    numbers.sort(key=lambda item: item[2])
    for current, following in zip(reversed(numbers[:-1]), reversed(numbers[1:])):
        # "2-3 working days", "3 to 5 days", "13 A / 3,000 W" keep their own; a bare first number takes the next's
        if current[1] is None and _RANGE_GAP.match(text[current[3]:following[2]]):
            current[1] = following[1]
    for value, unit, start, end in numbers:
        add(FactKind.NUMBER, value, unit, start, end if unit else start + len(text[start:end].split()[0]))


def _unit_after(text: str, position: int) -> tuple[str | None, int]:
    """The known unit right after a number ("30 days", "30-day", "3 working days", "5GB"), and where it ends."""
    end = position
    for _ in range(2):
        match = _NEXT_WORDS.match(text, end)
        if not match:
            return None, position
        word = match.group(1).lower()
        if cjk := next((unit for unit in sorted(_CJK_UNITS, key=len, reverse=True) if word.startswith(unit)), None):
            return _CJK_UNITS[cjk], match.start(1) + len(cjk)
        if word in _UNIT_FILLERS:
            end = match.end()
            continue
        singular = word[:-1] if word.endswith("s") and word[:-1] in _UNITS and len(word) > 2 else word
        if singular in _UNITS and (len(singular) > 1 or match.group(1) in ("A", "W", "V", "h", "s", "%")):
            return _UNITS[singular], match.end()
        return None, position
    return None, position


def _amount(amount: str) -> str:
    value = amount.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value


def ranges(found: list[Fact], text: str) -> list[tuple[Fact, Fact]]:
    """The ranges among `found`, the facts of `text`: two numbers of one unit joined by a dash or "to" ("3-10
    working days"); not bare counts ("values of 25 to 200" sums up "25, 50, 100 or 200")."""
    numbers = [fact for fact in found if fact.kind is FactKind.NUMBER]
    return [(low, high) for low, high in zip(numbers, numbers[1:])
            if low.unit is not None and low.unit == high.unit and _RANGE.match(text[low.end:high.start])]


class FactSet:
    """The facts of some snippet text, for `states`."""

    def __init__(self, text: str):
        self.facts = facts(text)
        self._keys = {fact.key for fact in self.facts}
        self._values = {(fact.kind, fact.value) for fact in self.facts}
        # A bare number is stated by any fact with that value: "4.99" by "£4.99", "21" by "the 21st".
        self._bare = {fact.value.split()[-1] for fact in self.facts
                      if fact.kind in (FactKind.NUMBER, FactKind.MONEY, FactKind.ORDINAL)}
        self.ranges = {(low.value, high.value, low.unit) for low, high in ranges(self.facts, text)}
        self._periods: dict[str, set[str | None]] = {}  # a price's value -> the periods the text charges it for
        for fact in self.facts:
            if fact.kind is FactKind.MONEY:
                self._periods.setdefault(fact.value, set()).add(fact.per)

    def states(self, fact: Fact) -> bool:
        if fact.kind is FactKind.NUMBER and fact.unit is None:
            return fact.value in self._bare
        if fact.kind is FactKind.NUMBER:
            return fact.key in self._keys
        if fact.kind is FactKind.MONEY and fact.per and fact.value in self._periods:
            # "£6 a month" where the snippet charges £6 a day is not stated; a price it gives with no period is
            periods = self._periods[fact.value]
            return fact.per in periods or periods == {None}
        return (fact.kind, fact.value) in self._values


def unstated(text: str, snippet: str | FactSet) -> list[Fact]:
    """The facts of `text` that `snippet` does not state, and its ranges that the snippet does not give as a range:
    "3-5 working days" where it says "3-10 working days" (and "5 working days" of something else)."""
    known = snippet if isinstance(snippet, FactSet) else FactSet(snippet)
    found = facts(text)
    missing = [fact for fact in found if not known.states(fact)]
    for low, high in ranges(found, text):
        if (low.value, high.value, low.unit) not in known.ranges and low not in missing and high not in missing:
            missing.append(Fact(FactKind.NUMBER, f"{low.value}-{high.value}", low.unit, text[low.start:high.end],
                                low.start, high.end))
    return missing
