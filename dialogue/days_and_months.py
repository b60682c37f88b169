"""Days a reply says something is open or happens on, checked against the days the snippet gives for that thing.

"is your phone line open on sundays?" → "Yes, the UK line is open on Sundays." passed over "Chat and the UK line are
open Monday to Friday 08:00-20:00 and Saturday 09:00-17:00 UK time, ... We answer emails within 24 hours, including
weekends.": a name the customer used may be said back, and "Sunday" is one. Here a day named in a clause that says
yes is looked up in the snippet clause about the same thing (the one that shares most words with it, a name counting
twice: "the US line" is not "the UK line"), among the days that clause gives: a day, a range ("Monday to Friday"),
"weekdays", "weekends", "every day"; a reply's "every day" is every day. A clause that says no, a condition ("If you
need us on a Sunday, ...") and a snippet that names no days are left to the other rules. A day the clause gives
counts as named by the snippet ("We answer emails on Sundays" over "including weekends").

Months the same way, without the binding: "do prices go up in march?" → "Yes, prices rise every March." passed over
"prices rise by £1.50 every April"; a month a clause says yes for must be one the snippets name, where they name any.
And a period with no count ("every month", "monthly") where the snippets give that unit only with another count
("every 6 months"): `other_period`.
"""

import re
from functools import lru_cache

from dialogue.claims import words_of
from dialogue.names import names_in
from dialogue.polarity import says_no
from dialogue.sentences import sentences

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_RANGE = re.compile(rf"\b({_DAY})s?\s*(?:to|-|–|—|through|until|till)\s*({_DAY})s?\b", re.IGNORECASE)
_ONE = re.compile(rf"\b({_DAY})s?\b", re.IGNORECASE)
_GROUPS = ((re.compile(r"\bweekdays?\b", re.IGNORECASE), DAYS[:5]),
           (re.compile(r"\bweekends?\b", re.IGNORECASE), DAYS[5:]),
           (re.compile(r"\b(?:every day|daily|7 days a week|seven days a week|24/7|all week|any day)\b",
                       re.IGNORECASE), DAYS))
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
# Capitalised, as a month is written: "may" is a verb, "March" at a sentence's start is still the month.
_MONTH = re.compile(r"\b(" + "|".join(month.capitalize() for month in MONTHS) + r")\b")
_CUT = re.compile(r";|,\s+and\s+|,\s+but\s+|\s+but\s+|\s+while\s+|\s+whereas\s+", re.IGNORECASE)
_CONDITION = re.compile(r"^\s*(?:if|when|whenever|once|should)\b", re.IGNORECASE)


def _clauses(sentence: str) -> list[str]:
    return [part for part in _CUT.split(sentence) if part.strip()]


@lru_cache(maxsize=512)
def _listed(snippets: str) -> tuple[str, ...]:
    """The snippets' clauses that give days: once per snippet text, not per sentence of every reply."""
    return tuple(clause for sentence in sentences(snippets) for clause in _clauses(sentence) if days_of(clause))


def named_days(text: str) -> list[str]:
    """The weekdays `text` names, lower-cased, in order ("Fridays" is "friday")."""
    return [match[1].lower() for match in _ONE.finditer(text)]


def next_working_day(day: str) -> str:
    return "monday" if DAYS.index(day) >= 4 else DAYS[DAYS.index(day) + 1]


def days_of(clause: str) -> set[str]:
    """The days a clause gives: "Monday to Friday 08:00-20:00 and Saturday" is Monday to Saturday."""
    found = set()
    for match in _RANGE.finditer(clause):
        start, end = DAYS.index(match[1].lower()), DAYS.index(match[2].lower())
        found |= set(DAYS[start:end + 1] if start <= end else DAYS[start:] + DAYS[:end + 1])
    found |= set(named_days(clause))
    for pattern, days in _GROUPS:
        if pattern.search(clause):
            found |= set(days)
    return found


def _named(clause: str) -> set[str]:
    return {name.lower() for name in names_in(clause)} - set(DAYS) - {day + "s" for day in DAYS}


def _score(mine: str, theirs: str) -> int:
    """Words shared, a name counting twice."""
    day_words = set(DAYS) | {day + "s" for day in DAYS}
    shared = (words_of(mine) & words_of(theirs)) - day_words
    return len(shared) + len(_named(mine) & _named(theirs))


def checked_days(sentence: str, snippets: str) -> tuple[list[str], set[str]]:
    """(the days `sentence` says yes for that the snippet clause about the same thing does not give, those it does
    give): "Sunday" for "the UK line is open on Sundays", where the UK line's clause gives Monday to Saturday; and
    "Sunday" as given for "We answer emails on Sundays", where the email clause says "including weekends"."""
    listed = _listed(snippets)
    if not listed:
        return [], set()
    left_out, given_too = [], set()
    for clause in _clauses(sentence):
        said = days_of(clause)
        if not said or _CONDITION.match(clause) or says_no(clause):
            continue
        scores = [(_score(clause, theirs), theirs) for theirs in listed]
        best = max(score for score, _ in scores)
        if best == 0:
            continue  # about nothing the snippet gives days for
        given = set().union(*(days_of(theirs) for score, theirs in scores if score == best))
        left_out += sorted(said - given, key=DAYS.index)
        given_too |= said & given
    return [day.capitalize() for day in dict.fromkeys(left_out)], {day.capitalize() for day in given_too}


def unnamed_months(sentence: str, snippets: str) -> list[str]:
    """Months `sentence` says yes for that the snippets, which name months, do not name."""
    given = {match[1] for match in _MONTH.finditer(snippets)}
    if not given:
        return []
    said = [match[1] for clause in _clauses(sentence) if not _CONDITION.match(clause) and not says_no(clause)
            for match in _MONTH.finditer(clause)]
    return list(dict.fromkeys(month for month in said if month not in given))


# A period said without a count: "every month", "each year", "monthly" (not a price's "£5 a month", "£5 monthly").
_UNITS = ("day", "week", "month", "year")
_ONCE_EVERY = re.compile(r"(?<![£$€\d.,] )(?<![£$€\d.,])\b(?:every|each|once a|once per)\s+(day|week|month|year)\b"
                         r"|(?<![£$€\d.,] )\b(daily|weekly|monthly|yearly|annually)\b", re.IGNORECASE)
_EVERY_COUNT = re.compile(r"\bevery\s+(\d+|two|three|four|five|six|twelve)\s+(day|week|month|year)s?\b", re.IGNORECASE)
_LY = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year"}


def _once_every(text: str) -> set[str]:
    return {(match[1] or _LY[match[2].lower()]).lower() for match in _ONCE_EVERY.finditer(text)}


def other_period(sentence: str, snippets: str) -> str | None:
    """"every month" where the snippets say "every 6 months" and never once a month: what the count-less period
    contradicts, or None. ("You can request a new code every month" over "a new one every 6 months".)"""
    said = _once_every(sentence)
    if not said:
        return None
    counted = {(match[2].lower(), match[1].lower()) for match in _EVERY_COUNT.finditer(snippets)}
    given = _once_every(snippets)
    for unit in sorted(said - given):
        if counts := sorted(count for period, count in counted if period == unit):
            return f"every {unit}, where the snippet says every {counts[0]} {unit}s"
    return None
