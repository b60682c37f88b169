"""Facts said for one audience: "stored in Frankfurt, Germany for UK and EU customers, and in Oregon, US for US
customers". A reply that names a place (or any name) the snippet gives one audience, for another audience it
names ("For US customers, clips are stored in Frankfurt"), states the other audience's fact. Lexical, English.

A scope phrase ("for UK and EU customers", or a place alone: "Milton Keynes for the UK") binds the names in the few
words before it, back to the scope phrase before; names further away (the product the sentence is about) belong to
no audience. A reply's scope is the audience its sentence names ("for US customers", "EU orders"); a sentence that
names none speaks to the customer's, where the question says where they are ("im in texas"). And a fact a snippet
labels for one place ("UK: ... £3.95. EU: ... €5.95.") is not said, without a place, where the question and the
reply so far name another (`told_elsewhere`).
"""

import re
from functools import lru_cache

from dialogue.claims import binding_segments
from dialogue.facts import facts
from dialogue.names import REGION_OF, names, names_in
from dialogue.places import customers_places, is_place, the_one_place
from dialogue.sentences import sentences

_AUDIENCE = r"(?:[A-Z]{2,}|[A-Z][a-z]+)"
_WHO = rf"(?P<who>{_AUDIENCE}(?:(?:,\s*|\s+and\s+|\s+or\s+){_AUDIENCE})*)"
_CUSTOMERS = r"(?:customers|users|orders|subscribers|accounts|buyers|residents|deliveries)\b"
_SCOPE = re.compile(rf"\b(?:[Ff]or|[Tt]o) {_WHO}\s+{_CUSTOMERS}")
# A snippet's place alone: "from a warehouse inside that region (Milton Keynes for the UK, Rotterdam for the EU ...)".
_FOR_PLACE = re.compile(r"\b[Ff]or the (?P<who>UK|EU|US|USA)\b")
# A reply's audience said before its noun: "EU orders are sent from ...".
_AUDIENCE_FIRST = re.compile(rf"(?:^|\b[Ff]or |\b[Tt]o ){_WHO}\s+{_CUSTOMERS}")


_WINDOW = 5  # words before a scope phrase that it binds: "... in our cloud in Frankfurt, Germany for UK customers"


def _audience(scope: str) -> frozenset[str] | None:
    """The places a scope names, each with its region ("UK and EU" -> uk, eu, europe); None when it names one
    this module does not know as a place ("German customers", "Business customers")."""
    found = set()
    for word in re.findall(_AUDIENCE, scope):
        word = "usa" if word == "US" else word.lower()
        if word not in REGION_OF and word not in _PLACES:
            return None
        found |= {word, *REGION_OF.get(word, ())}
    return frozenset(found)


_PLACES = frozenset(("uk", "eu", "usa"))


@lru_cache(maxsize=512)
def scoped_names(snippet: str) -> dict[str, frozenset[frozenset[str]]]:
    """Each name of `snippet` said before a scope phrase -> the audiences it is said for."""
    found: dict[str, set[frozenset[str]]] = {}
    for sentence in sentences(snippet):
        start = 0
        for match in sorted([*_SCOPE.finditer(sentence), *_FOR_PLACE.finditer(sentence)], key=lambda m: m.start()):
            if (audience := _audience(match["who"])) is None:
                start = match.end()
                continue
            words = list(re.finditer(r"\S+", sentence[start:match.start()]))[-_WINDOW:]
            for name in names(" " + " ".join(word.group(0) for word in words)):
                found.setdefault(name, set()).add(audience)
            start = match.end()
    return {name: frozenset(audiences) for name, audiences in found.items()}


def other_audience(sentence: str, snippet: str, question: str = "") -> str | None:
    """Why `sentence` says for its audience what `snippet` says only for another one, or None. A sentence that names
    no audience speaks to the customer's, where the question says where they are ("im in texas")."""
    scopes = list(_SCOPE.finditer(sentence)) or list(_AUDIENCE_FIRST.finditer(sentence.strip()))
    bound = scoped_names(snippet)
    places = {name for name in names(" " + sentence) - bound.keys() if is_place(name)}
    if not scopes and not places and (here := customers_places(question)):
        mine, who, named = here, "the customer's place", set()  # "for customers in France" speaks to France
    elif len(scopes) != 1 or (mine := _audience(scopes[0]["who"])) is None:
        return None  # no audience, several (each name's own is not told apart), or not a place
    else:
        who, named = f"{scopes[0]['who']} customers", set(re.findall(_AUDIENCE, scopes[0]["who"]))
    for name in sorted(names(" " + sentence) - named):
        audiences = bound.get(name)
        if audiences and not any(audience & mine for audience in audiences):
            return f"says {name} for {who}, which the snippet says for others: {sentence!r}"
    return None


def told_elsewhere(sentence: str, snippet: str, context: str) -> str | None:
    """Why `sentence` states, naming no place, a fact `snippet` labels for one place ("UK: standard delivery takes
    2-3 working days and costs £3.95. EU: standard takes 3-6 working days for €5.95."), where the question and the
    reply so far (`context`) name one place only, which another of the snippet's labels covers: "Standard delivery
    costs £3.95" after "orders to Ireland are sent from inside the EU". None otherwise."""
    if any(is_place(name) for name in names_in(sentence)) or not (here := the_one_place(context)):
        return None
    segments = binding_segments(snippet)
    places_of = {segment: {topic for topic in segment.topics if is_place(topic)} for segment in segments}
    for fact in facts(sentence):
        homes = [segment for segment in segments if fact.key in segment.facts]
        owners = set().union(*(places_of[home] for home in homes)) if homes else set()
        if not owners or owners & here or not all(places_of[home] for home in homes):
            continue
        if any(places_of[other] & here for other in segments if other not in homes):
            return f"states {fact.text}, which the snippet gives {', '.join(sorted(owners))}, for {sorted(here)[0]}: " \
                   f"{sentence!r}"
    return None
