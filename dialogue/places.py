"""Names the customer used, said back as served or sold where the snippets list the ones that are.

Countries: "We ship to Japan and the UK." to "do you ship to Japan?" over "We only ship to the UK, the EU and the
US". A name the customer used may be said back (grounding.py), so Japan passed as a name; as a country it is checked
against the snippets' places, directly or through its region (names.covered: Germany by "the EU"). The world's
country names come from phonenumbers (already installed for the privacy layer's phone recogniser): its public
geocoder names every region it has a numbering plan for, in English, German, French and Spanish here.

A brand's names the same way: "Yes, we sell the Nimbus Doorbell." over a list of the Nimbus devices.

The other way round, a country said not to be served where a snippet ships to its region: "No, we don't ship to
Germany." over "We only ship to the UK, the EU and the US" (`denied_countries`). And where the customer is: the place
they say they are in ("im in texas": `customers_places`) or the one place a message names (`the_one_place`), read
by dialogue/scopes.py.
"""

import re
from functools import lru_cache

from dialogue.names import REGION_OF, covered, names_in
from dialogue.polarity import polarity_clauses, says_no

_WORD = re.compile(r"[^\W_][\w'’\-]*")
_LANGUAGES = ("en", "de", "fr", "es")
# A snippet that says what holds outside a region covers every country beyond it: "Outside the EU, add a World Pass".
_OUTSIDE = re.compile(r"\b(?:outside|beyond)\s+(?:of\s+)?(?:the\s+)?(?P<region>[A-Za-z]+)", re.IGNORECASE)
# A clause of its own: "Orders to Switzerland are sent from Rotterdam, so there are no customs duties" says yes.
_CLAUSE = re.compile(r"[,;:—–]\s*|\s+(?:so|but|because|as|since|while|which|although)\s+", re.IGNORECASE)
# A count of places with examples: "in 60 countries, including the USA, Canada and Australia". A country beyond them is
# not said to be among them: "Yes, Japan is one of the 60 World Pass countries" (a fifth blind batch, 2026-12-07).
_EXAMPLES = re.compile(r"\b(?P<count>\d[\d,]*)\s+(?:countries|destinations|territories)\b[^.;]{0,12}?"
                       r"\b(?:including|such as|like|e\.g\.)", re.IGNORECASE)
_AMONG = re.compile(r"\b(?:one of|among|amongst|included in|on the list|part of)\b", re.IGNORECASE)
_ANYWHERE = re.compile(r"\b(?:abroad|worldwide|anywhere in the world|every country|any country)\b", re.IGNORECASE)


# Regions a snippet names, by the ISO codes of their countries, in the four languages the names are read in.
_EU = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
_REGIONS = {"eu": _EU, "europe": _EU, "europa": _EU, "ue": _EU, "uk": frozenset({"GB"}), "usa": frozenset({"US"})}


@lru_cache(maxsize=1)
def _codes() -> dict[str, str]:
    """Lower-cased one-word country names ("japan", "deutschland", "espagne") and their ISO codes; names of several
    words are left to the name check, which asks for every capitalised word."""
    import phonenumbers
    from phonenumbers import geocoder

    found = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        if (example := phonenumbers.example_number(region)) is None:
            continue
        for language in _LANGUAGES:
            name = geocoder.country_name_for_number(example, language)
            if name and " " not in name:
                found[name.lower()] = region
    return found


def countries() -> frozenset[str]:
    return frozenset(_codes())


def _place_words(text: str) -> set[str]:
    words = {word.lower() for word in _WORD.findall(re.sub(r"\bUS\b", "USA", text))}
    return {word for word in words if word in _codes() or word in REGION_OF or word in _REGIONS}


def _in(country: str, places: set[str]) -> bool:
    """Is `country` (lower-cased) one of `places`, or in a region among them ("deutschland" in "EU")?"""
    code = _codes().get(country)
    return covered(country, places) or any(code in _REGIONS.get(place, ()) for place in places)


def unserved_countries(sentence: str, snippets: str) -> list[str]:
    """Countries `sentence` names as served, which `snippets` neither name nor cover through a region, where the
    snippets name places of their own (so a list of them is what the customer is told). A clause that says no
    ("We don't ship to Japan") is the snippets' "only" said back, and a snippet that speaks of a place beyond a
    region ("Outside the EU, ...") or of anywhere ("even when you are abroad") covers every country, but for a sentence
    that puts it among a count of places the snippet gives examples of ("one of the 60 countries")."""
    counts = [match["count"] for match in _EXAMPLES.finditer(snippets)]
    among = bool(counts) and (_AMONG.search(sentence) or any(re.search(rf"\b{count}\b", sentence) for count in counts))
    places = _place_words(snippets)
    if not places or (_ANYWHERE.search(snippets) and not among):
        return []
    beyond = {match["region"].lower() for match in _OUTSIDE.finditer(re.sub(r"\bUS\b", "USA", snippets))}
    named = {name for clause in _CLAUSE.split(sentence) if not says_no(clause)
             for name in names_in(clause) if name.lower() in countries()}
    return sorted(name for name in named if not _in(name.lower(), places)
                  and (among or all(_in(name.lower(), {region}) for region in beyond)))


# A name of two capitalised words, a brand and what it names: "Nimbus Doorbell", "Nimbus Cam".
_FAMILY_NAME = re.compile(r"\b([A-Z][a-z]+) ([A-Z][a-zA-Z]+)\b")


def unlisted_siblings(sentence: str, snippets: str) -> list[str]:
    """Names of a family the snippets list that `sentence` says yes for and the snippets do not name: "Yes, we sell
    the Nimbus Doorbell." over "We sell the Nimbus Hub, Nimbus Cam, Nimbus Thermo and Nimbus Plug" (at least two
    of the brand's names in the snippets; a clause that says no, or a condition, is left alone)."""
    family: dict[str, set[str]] = {}
    for brand, name in _FAMILY_NAME.findall(snippets):
        family.setdefault(brand, set()).add(name)
    found = []
    for clause in _CLAUSE.split(sentence):
        if not clause or says_no(clause) or re.match(r"\s*(?:if|when|whenever)\b", clause, re.IGNORECASE):
            continue
        found += [f"{brand} {name}" for brand, name in _FAMILY_NAME.findall(clause)
                  if len(family.get(brand, ())) >= 2 and name not in family[brand]
                  and not re.search(rf"\b{re.escape(name)}\b", snippets, re.IGNORECASE)]
    return list(dict.fromkeys(found))


# Shipping and delivering, and saying no to it: "we don't ship to Germany", "we can't deliver to Germany" (not "no
# customs duties on delivery to Ireland").
_SERVED = re.compile(r"\b(?:ship|shipping|ships|shipped|deliver|delivers|delivery|deliveries|delivered|send|sends)\b",
                     re.IGNORECASE)
_NOT_SERVED = re.compile(r"(?:n['’]t|\bnot|\bnever|\bcannot)\s+(?:\w+\s+){0,2}?(?:ship|deliver|send)\w*\b"
                         r"|\bno (?:shipping|deliver\w*) to\b", re.IGNORECASE)


def denied_countries(sentence: str, snippets: list[str]) -> list[str]:
    """Countries a clause of `sentence` says are not shipped or delivered to, which a snippet clause that says it
    ships to a place covers: "No, we don't ship to Germany." over "We only ship to the UK, the EU and the US"."""
    served = set().union(*(_place_words(clause.text) for snippet in snippets
                           for clause in polarity_clauses(snippet)
                           if not clause.negative and _SERVED.search(clause.text)))
    if not served:
        return []
    named = {name for clause in _CLAUSE.split(sentence) if _NOT_SERVED.search(clause)
             for name in names_in(clause) if name.lower() in countries()}
    return sorted(name for name in named if _in(name.lower(), served))


# Where the customer says they are: "im in texas", "I live in Germany", "we're based in the US".
_HERE = re.compile(r"\b(?:i'?m|i am|we'?re|we are|(?:i|we) live|living|based|located|staying|here)\s+(?:in|from)\s+"
                   r"(?:the\s+)?(?P<place>[A-Za-z]+(?:\s+[A-Za-z]+)?)", re.IGNORECASE)
_US_STATES = frozenset(
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho illinois "
    "indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota mississippi missouri "
    "montana nebraska nevada ohio oklahoma oregon pennsylvania tennessee texas utah vermont virginia washington "
    "wisconsin wyoming".split()) | {"new york", "new jersey", "new mexico", "new hampshire", "north carolina",
                                    "north dakota", "south carolina", "south dakota", "west virginia", "rhode island"}


def customers_places(question: str) -> frozenset[str]:
    """The place the customer says they are in, with its regions ("texas" -> usa; "Germany" -> germany, eu, europe),
    as dialogue/scopes.py reads an audience; empty when they name none."""
    for match in _HERE.finditer(re.sub(r"\bUS\b", "USA", question)):
        words = match["place"].lower().split()
        for place in (" ".join(words), words[0]):
            if audience := _audience_of(place):
                return audience
    return frozenset()


def _audience_of(place: str) -> frozenset[str]:
    """A place (lower-cased) with its regions, or empty when it is not one."""
    if place in _US_STATES:
        return frozenset(("usa", "us"))
    if place in REGION_OF or place in _REGIONS:
        return frozenset((place, *REGION_OF.get(place, ())))
    if code := _codes().get(place):
        return frozenset((place, *[region for region, codes in _REGIONS.items() if code in codes]))
    return frozenset()


def is_place(name: str) -> bool:
    """Is `name` a country, a region or a US state ("US" in capitals is the country)?"""
    return bool(_audience_of("usa" if name == "US" else name.lower()))


def the_one_place(text: str) -> frozenset[str]:
    """The one place `text` names (a country, a region, a US state; "US" in capitals only), with its regions, as
    `customers_places` gives it ("Ireland" and "the EU" are one place); empty when it names none or several."""
    found = {audience for word in _WORD.findall(re.sub(r"\bUS\b", "USA", text))
             if (word.lower() != "us") and (audience := _audience_of(word.lower()))}
    return frozenset().union(*found) if found and frozenset.intersection(*found) else frozenset()


def covered_countries(sentence: str, snippets: str) -> set[str]:
    """Countries `sentence` names that the snippets' places cover through a region: "Spanien" by "die EU", which
    names.covered knows in English only ("Spain" by "the EU")."""
    places = _place_words(snippets)
    return {name for name in names_in(sentence) if name.lower() in _codes() and _in(name.lower(), places)}
