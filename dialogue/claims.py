"""What a sentence claims beyond its words: which way it points (yes/no, negation), which plan, product, region
or service a fact belongs to, and which names it uses. Used by dialogue/grounding.py; lexical, no model.

- **Clauses.** A snippet sentence is cut into clauses at ";", ", and", ", so", "but", "while", "whereas" for
  polarity, and also at ", " and " and " for binding.
- **Polarity** and **yes/no**: dialogue/polarity.py and dialogue/yes_no.py.
- **Binding.** A fact (number, price, time...) in a snippet belongs to its clause's topic: the clause's first
  content word, the label of its sentence ("UK: ...") and, for a clause that opens with a verb, its
  sentence's subject. A reply clause that states the fact while naming the topic of another clause, which
  the fact's clause does not name, moves the fact to another entity ("£8" is Lite's, not Plus's).
- **Names.** A capitalised name in a reply (a product, a country, a month) must be in the snippet; a
  country is also found through its region (Germany → EU). Reading names and regions: dialogue/names.py.
"""

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache

from core.language_detection import shared_detector
from dialogue.facts import facts
from dialogue.names import IMPERATIVE, YES_NO, covered, names, names_in
from dialogue.sentences import sentences

_WORD = re.compile(r"[^\W_][\w'’\-]*")  # letters and digits of any script: "Gerät" is one word
# "We'll email you" says what "We email you" says; with either apostrophe.
CONTRACTIONS = frozenset(
    word.replace("'", quote) for word in (
        "it's they're you're we're there's that's i'm i'll you'll we'll they'll it'll he'll she'll that'll i've "
        "you've we've they've i'd you'd we'd they'd he'd she'd").split() for quote in "'’")
_STOP_WORDS = frozenset(
    "a an the and or but if then so to of in on at by for with from as is are was were be been being it its "
    "this that these those there here i you we they he she me us them my your our their his her can could will "
    "would should may might must do does did done have has had not no yes any all some each every more most "
    "other such only own same than too very just also about into over after before up down out off again once "
    "what which who whom when where why how please thank thanks sure okay ok let know get".split()
) | CONTRACTIONS
CLAUSE_SHARE = 0.5  # of a reply clause's words that a fact's snippet must have
_STRONG_CUT = re.compile(r";|\s(?:but|while|whereas|however|although)\b", re.IGNORECASE)
# A part that goes on with the one before: a list ("or $5.99 a month") or a relative clause ("which takes ...").
_CONTINUES = re.compile(r"^\s*(?:or|nor|which|who|whose|where|that)\b", re.IGNORECASE)
# " and " starts a new clause before a name, a determiner or a verb ("... and Unlimited has", "... and paid by"),
# not inside a list of nouns ("landlines and mobiles").
_TEMPORAL = frozenset("monday tuesday wednesday thursday friday saturday sunday weekday weekend daily today tomorrow "
                      "morning evening night january february march april may june july august september october "
                      "november december".split())
_LABEL = re.compile(r"^\s*(?P<label>[A-Z][\w&/ -]{0,30}?):\s")
_PARTICIPLES = r"paid|sent|made|kept|held|taken|given|shown|done|sold|bought|built|told|found|left|lost|[a-z]+ed"
_PARTICIPLE_WORD = re.compile(rf"\b(?:{_PARTICIPLES})\b")
_VERBS = (r"is|are|was|were|has|have|had|can|cannot|can't|costs?|takes?|gets?|includes?|lasts?|works?|needs?|"
          rf"covers?|doesn't|don't|isn't|aren't|will|won't|must|may|might|{_PARTICIPLES}|[a-z]+ing")
_VERB_START = re.compile(rf"^\s*(?:{_VERBS})\b")
_PARTICIPLE_START = re.compile(rf"^\s*(?:{_PARTICIPLES})\b")
_AND_CLAUSE = re.compile(rf"\s+and\s+(?=[A-Z]|(?:the|a|an|your|our|their|its|every|each)\b|(?:{_VERBS})\b)")
_POINTER = re.compile(r"^\s*(?:it|they|this|these|that|those)\b", re.IGNORECASE)
_POINTS_BACK = re.compile(r"\b(?:it|its|they|their|them|this|that|these|those)\b", re.IGNORECASE)
_UNIVERSAL = re.compile(r"\b(?:every|all|each|any|both)\b", re.IGNORECASE)
def stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"  # "accessories" and "accessory" are one word
    for ending in ("ing", "ed", "es", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def _regions(text: str) -> str:
    """"US" is a country, "us" a pronoun: the country is read as "usa"."""
    return re.sub(r"\bUS\b", "USA", text)


# "plus" in lower case joins ("..., plus unlimited UK minutes"); capitalised it is often a plan ("Plus", "Nimbus Plus").
_JOINING_PLUS = re.compile(r"\bplus\b")


def words_of(text: str) -> set[str]:
    """Content words (lower-cased, stop words dropped, endings stripped) and the keys of the text's facts."""
    read = facts(text)
    text = _JOINING_PLUS.sub(" ", _regions(_without_facts(text, read)))
    return {fact.key for fact in read} | {stem(w.strip("'’-")) for w in _WORD.findall(text.lower())
                                          if w not in _STOP_WORDS and len(w) > 1}


def _without_facts(text: str, read: list | None = None) -> str:
    """`text` with each fact (number, price, link ...) blanked out, so that its words are read alone; `read`: the
    text's facts, where the caller has them already."""
    for fact in sorted(facts(text) if read is None else read, key=lambda f: -f.start):
        text = text[:fact.start] + " " + text[fact.end:]
    return text


@dataclass(frozen=True)
class _Segment:
    words: frozenset[str]  # what the fact's clause names, with its context
    topics: frozenset[str]  # what it is about
    facts: tuple[str, ...]  # keys of the facts in it
    points_back: bool = False  # its topic is the subject before it ("before that, ...", "it costs ...")
    text: str = ""


def _segments(sentence: str, trailing: bool = True, carried: frozenset[str] = frozenset(),
              language: "_Reading | None" = None) -> list[_Segment]:
    # `trailing=False` (a reply's clauses): no fact-less tail and no list continuation joins a fact's clause, so
    # "£8 a month for Lite, £14 a month for Plus" checks each price with its own plan.
    """A sentence's clauses for binding, each holding its facts. Chunks end at ";" and "but"/"while"; inside one,
    parts cut at ", " and " and " (outside brackets) are grouped: fact-less parts ("Accessories such as cables",
    "mounts") join the next part with a fact, a part that continues a list ("€5.99 or $5.99 a month") or opens
    a relative clause joins the one before, and one that opens with a verb ("paid by Direct Debit on the 8th")
    keeps the sentence's first topic as its subject, as does one that points back ("before that", "it costs");
    `carried`: the subject of the sentence before, for one that opens pointing back ("It is not ...")."""
    label = _LABEL.match(sentence)
    label_words = words_of(label["label"]) if label else set()
    body = YES_NO.sub("", sentence[label.end():] if label else sentence)
    groups: list[list[str]] = []  # texts of one segment; the first carries its topic
    subject: set[str] = set()
    segments = []
    if _POINTER.match(body):
        subject = set(carried)
    for chunk in _STRONG_CUT.split(body):
        pending, chunk_groups = [], []
        for part in _outside_brackets_split(chunk, cut_brackets=not trailing):
            continues = _CONTINUES.match(part) or (facts(part) and facts(part)[0].start == _lead(part))
            if chunk_groups and continues and trailing:  # a reply's list items are checked one by one
                chunk_groups[-1].append(part)
            elif facts(part):
                chunk_groups.append([*pending, part])
                pending = []
            else:
                pending.append(part)
        if pending and (trailing or not chunk_groups):  # a reply's trailing words say nothing about its facts
            (chunk_groups[-1].extend if chunk_groups else chunk_groups.append)(pending)
        groups += chunk_groups
    for group in groups:
        text = " ".join(group)
        part_facts = facts(text)
        before_facts = text[: part_facts[0].start] if part_facts else text
        points_back = False
        if _UNIVERSAL.search(before_facts):
            topic = set()  # "Every plan includes 5G": about no plan in particular
        elif _POINTS_BACK.search(before_facts) and subject:
            topic, points_back = set(subject) | _first_topic(text, language), True
        elif language and language.points_back(text) and (subject or carried):
            topic, points_back = set(subject or carried) | _first_topic(text, language), True
        elif _VERB_START.match(text) and subject:
            # "... and paid by Direct Debit on the 8th": the bill is still the subject, paying what it is about
            topic = set(subject) | (_first_topic(text, language) if _PARTICIPLE_START.match(text) else set())
        else:
            topic = _first_topic(text, language)
            if topic & _TEMPORAL:  # "... and Saturday 09:00-17:00": still the sentence's subject, on Saturdays
                topic |= subject - _TEMPORAL
        subject = subject or topic
        if not part_facts and not any(w.capitalize() in names_in(text.strip()[1:]) for w in topic):
            topic = set()  # with no fact of its own, a clause competes only when it names something ("Premium")
        segments.append(_Segment(frozenset(words_of(text) | label_words | topic), frozenset(topic | label_words),
                                 tuple(fact.key for fact in part_facts), points_back, text))
    return segments


def _lead(part: str) -> int:
    return len(part) - len(part.lstrip())


def _outside_brackets_split(chunk: str, cut_brackets: bool = False) -> list[str]:
    """`chunk` cut at ", " and at " and " before a new clause (`_AND_CLAUSE`), but not inside brackets;
    `cut_brackets` (a reply's clauses): also around an aside in brackets with a fact of its own ("within 48 hours
    (and always within the one month GDPR allows)"), which is then checked as its own clause."""
    parts, depth, start, aside_end = [], 0, 0, -1
    for match in re.finditer(rf"[()]|,\s+|{_AND_CLAUSE.pattern}", chunk):
        token = match.group(0)
        if match.start() < aside_end:
            continue
        if token == "(" and depth == 0 and cut_brackets and (close := chunk.find(")", match.end())) > 0 \
                and facts(chunk[match.end():close]):
            parts += [chunk[start:match.start()], chunk[match.end():close]]
            start = aside_end = close + 1
        elif token == "(":
            depth += 1
        elif token == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            parts.append(chunk[start:match.start()])
            start = match.end()
    parts.append(chunk[start:])
    return [part for part in parts if part.strip(" ,")]


def _first_topic(text: str, language: "_Reading | None" = None) -> set[str]:
    plain = _JOINING_PLUS.sub(" ", _regions(text))
    for number, match in enumerate(_WORD.finditer(plain)):
        word = match.group(0).lower()
        if word in _STOP_WORDS or len(word) <= 1 or word[0].isdigit():
            continue
        if language and word in language.stop_words and (language.any_case or number == 0 or match.group(0).islower()):
            continue  # "Mit elektrischen Heizungen ...": a German clause is not about "mit"
        return {stem(word.strip("'’-"))}
    return set()


@dataclass(frozen=True)
class _Reading:
    """How a snippet in German, French or Spanish is read for binding: its stop words are no clause's topic
    (where written in lower case or opening the clause; a capitalised one inside is a name), and its pronouns
    point back wherever they stand ("Mit Hochvolt-Heizungen (120/240 V) ist es nicht kompatibel": "es" comes
    after the fact, where English says "It is not compatible with ...")."""
    stop_words: frozenset[str]
    pointers: re.Pattern
    any_case: bool  # German capitalises nouns, and "Sie" (the customer), not only names

    def points_back(self, text: str) -> bool:
        return bool(self.pointers.search(text))


@lru_cache(maxsize=4)
def language_stop_words(code: str) -> frozenset[str]:
    """spaCy's stop words of German, French or Spanish (`code` "de", "fr", "es")."""
    return frozenset(importlib.import_module(f"spacy.lang.{code}.stop_words").STOP_WORDS)


# Pronouns that point back, by language; German "Sie" capitalised is the customer ("wenn Sie keinen haben").
_POINTERS = {"de": re.compile(r"\b(?:[Ee]s|sie|[Ee]r|ihn|ihm|[Dd]ies|[Dd]iese[mnrs]?)\b"),
             "fr": re.compile(r"\b(?:il|elle|ils|elles|cela|ceci)\b", re.IGNORECASE),
             "es": re.compile(r"\b(?:él|ella|ellos|ellas|esto|eso)\b", re.IGNORECASE)}
SURE = 0.9


@lru_cache(maxsize=512)
def sure_language(text: str) -> str | None:
    """The language the detector is sure (≥ `SURE`) `text` is written in, read from its first 400 characters;
    None when it is not sure. Cached: the reply check asks it of the same snippets for every sentence."""
    detected = shared_detector().detect(text[:400])
    return detected.code if detected is not None and detected.confidence >= SURE else None


@lru_cache(maxsize=512)
def _reading(snippet: str) -> _Reading | None:
    """The snippet's `_Reading` when the detector is sure it is German, French or Spanish; else None (English)."""
    code = sure_language(snippet)
    if code not in _POINTERS:
        return None
    return _Reading(language_stop_words(code) - _STOP_WORDS, _POINTERS[code], code == "de")


@lru_cache(maxsize=512)
def binding_segments(snippet: str) -> tuple[_Segment, ...]:
    found, subject = [], frozenset()
    for sentence in sentences(snippet):
        if not sentence.rstrip().endswith("?"):
            segments = _segments(sentence, carried=subject, language=_reading(snippet))
            found += segments
            subject = next((s.topics for s in segments if s.topics), subject)
    return tuple(found)


def misbound(sentence: str, snippet: str, premise: frozenset[str] = frozenset()) -> str | None:
    """Why a fact of `sentence` belongs to another plan, product, region or service in `snippet`, or is said in a
    clause the snippet does not support ("... and replacements arrive within 3 years"); else None. `premise`: words
    that say back what the customer told (grounding.py `customers_premise`) count neither way."""
    segments = binding_segments(snippet)
    known = set().union(*(s.words for s in segments)) if segments else set()
    for mine in _segments(sentence, trailing=False, language=_reading(snippet)):
        plain = {word for word in mine.words if ":" not in word} - premise
        if len(plain) >= 2 and sum(covered(word, known) for word in plain) / len(plain) < CLAUSE_SHARE:
            return f"no snippet supports the clause with {', '.join(_shown(mine))}: {sentence!r}"
        for key in mine.facts:
            homes = [s for s in segments if key in s.facts]
            if homes and all(_moved(mine, home, segments, snippet) for home in homes):
                return f"states a fact of another entity in the snippet: {sentence!r}"
            if homes and all(done := [_done_to_another(mine, home, segments, key) for home in homes]):
                return f"says {done[0]} of the {_shown_fact(key)} the snippet gives another: {sentence!r}"
    return None


def _acts(topic: str, text: str, reply: str) -> bool:
    """Is a clause's topic the verb it opens with, not a thing ("We ship with Royal Mail", "call +44 20 ..."), and
    one the reply does not say with the same subject? Such a verb moves no fact: "use the tracking link we email you
    when your order ships" names no carrier; "We keep order and invoice records for 30 days" is the keeping's."""
    word = re.escape(topic)
    if said := re.search(rf"\b(?:we|you|they)\s+{word}\w*\b", text, re.IGNORECASE):
        return not re.search(rf"\b{re.escape(said.group(0).split()[0])}\s+{word}", reply, re.IGNORECASE)
    return bool(re.match(rf"\s*(?:(?:and|or)\s+)?{word}\w*\s+(?:[+\d]|(?:it|them|us|the|your|our)\b)", text,
                         re.IGNORECASE))


def _done_to_another(mine: _Segment, home: _Segment, segments: tuple[_Segment, ...], key: str) -> str | None:
    """The participle of the reply's clause ("issued") that the snippet says with another fact of the same kind and
    not with this one: "A new bill is issued on the 8th" where "Your bill is issued on the 1st of each month and
    paid by Direct Debit on the 8th". Only where the fact's own clause has a participle of its own, which the reply
    does not say (in "open Monday to Friday 08:00-20:00 and Saturday 09:00-17:00" the second time shares the
    first's verb)."""
    own = {stem(match.group(0).lower()) for match in _PARTICIPLE_WORD.finditer(home.text)}
    if not own or any(stem(match.group(0).lower()) in own for match in _PARTICIPLE_WORD.finditer(mine.text)):
        return None  # a fact said with its own clause's verb ("paid ... on the 8th", "registered ... 3 years")
    kind = _kind(key)
    rivals = [s for s in segments if s is not home and key not in s.facts and any(_kind(k) == kind for k in s.facts)]
    for match in _PARTICIPLE_WORD.finditer(mine.text):
        word = stem(match.group(0).lower())
        if word not in home.words and any(word in rival.words for rival in rivals):
            return match.group(0)
    return None


def unnamed_owner(sentence: str, snippet: str, named: str) -> str | None:
    """Why `sentence` states a fact that `snippet` gives one named plan, product or region among others that have
    the same kind of fact ("Lite ... £8 a month, Plus ... £14 a month and Unlimited ... £22 a month"), without
    naming whose it is where the customer reads it (`named`: the question, this reply so far and the earlier
    replies): "The fee for the 12-month plan is £22 a month" is Unlimited's price said of no plan, or of another
    thing. None when every fact is named with its owner, or is not bound to one. Not for German, which capitalises
    every noun."""
    if (reading := _reading(snippet)) and reading.any_case:
        return None
    segments = binding_segments(snippet)
    owners_of = {segment: segment.topics & _capitalised_words(snippet) for segment in segments}
    mine = words_of(sentence)
    said = mine | words_of(named)
    for fact in facts(sentence):
        homes = [segment for segment in segments if fact.key in segment.facts]
        if not homes or not all(owners_of[home] for home in homes):
            continue  # not in the snippet (another rule's), or said of no name there ("Every plan includes 5G")
        owners = set().union(*(owners_of[home] for home in homes))
        kind = _kind(fact.key)
        rivals = set().union(*(owners_of[other] for other in segments
                               if other not in homes and any(_kind(key) == kind for key in other.facts)))
        if not rivals - owners:
            continue  # the only one of its kind: nothing to confuse it with
        if any(key != fact.key and key in home.facts for home in homes for key in mine):
            continue  # another of its facts names it: "The 50 GB plan costs £14 a month" is Plus
        # a name the rivals share says nothing of whose it is: "the Nimbus app" names neither the Hub nor the Cam
        whose = owners - rivals or owners
        if not any(covered(owner, said) for owner in whose):
            return f"states {fact.text} without naming whose it is ({', '.join(sorted(whose))}): {sentence!r}"
    return None


def _kind(key: str) -> str:
    return f"{key.split(':', 1)[0]}:{key.rsplit(':', 1)[1]}"  # a link's value holds colons


@lru_cache(maxsize=512)
def _capitalised_words(snippet: str) -> frozenset[str]:
    """The names of `snippet` as `words_of` gives them: a word it capitalises inside a sentence ("... and Unlimited
    has unlimited data"), or wherever it writes it ("Lite has ..."); not a unit ("5 GHz-only networks")."""
    snippet = _without_facts(snippet)
    always = {}
    for word in _WORD.findall(_regions(snippet)):
        key = stem(word.lower().strip("'’-"))
        always[key] = always.get(key, True) and word[0].isupper()
    for sentence in sentences(snippet):
        if opening := IMPERATIVE.match(sentence):  # "Enter it carefully: ...", "Call 150": a verb, not a name
            always[stem(opening["verb"].lower())] = False
    return frozenset(key for key, capital in always.items() if capital) | _inner_names(snippet) - _STOP_WORDS


def _shown(segment: _Segment) -> list[str]:
    return [_shown_fact(key) for key in segment.facts]


def _shown_fact(key: str) -> str:
    """A fact's key as a reason shows it: "number:30:day" -> "30 day"."""
    return key.split(":")[1] + (f" {key.split(':')[2]}" if key.split(":")[2] else "")


@lru_cache(maxsize=512)
def _inner_names(snippet: str) -> frozenset[str]:
    """The words `snippet` capitalises inside a sentence ("... and Unlimited has unlimited data"), as `words_of`
    gives them; not an opening word, which may be a verb ("Text PAC to 65075")."""
    return frozenset(stem(name.lower().strip("'’-")) for name in names(_regions(_without_facts(snippet))))


def _naming_words(text: str, names: frozenset[str]) -> set[str]:
    """The words of `text` as `words_of` reads them, where a word that is a name of the snippet counts only written
    as one: "Plus has unlimited data" does not name the Unlimited plan."""
    said = words_of(text)
    written = {stem(word.lower().strip("'’-")) for word in _WORD.findall(_regions(text)) if word[0].isupper()}
    return {word for word in said if word not in names or word in written}


def _moved(mine: _Segment, home: _Segment, segments: tuple[_Segment, ...], snippet: str) -> str | None:
    """A word of the reply's clause that is another clause's topic, which the fact's own clause does not name; a
    country counts as its region ("Delivery to France takes 2-3 days" where "UK: ... 2-3 days. EU: ... 3-6 days").
    A clause that keeps the home's topics (it points back to them: "in its last 30 days; before that, the early
    termination fee is 80%") is about the same thing, not a rival: its own words may be said with the fact.
    Words in more than half the clauses, three at least (the brand, "Nimbus"), tell no clause apart. A reply clause
    that names the fact's own topic too is said of it ("To keep your current number, text PAC to 65075" is the
    texting's 65075, not the number's that "moves over on the next working day")."""
    if home.topics and home.topics <= _naming_words(mine.text, home.topics & _inner_names(snippet)):
        return None  # named in the clause, not carried by "it"
    common = {word for word in set().union(*(s.words for s in segments))
              if (count := sum(word in s.words for s in segments)) >= 3 and count * 2 > len(segments)}
    rivals = [s for s in segments
              if s is not home and not (s.points_back and home.topics and home.topics <= s.topics)]
    others = {topic for s in rivals for topic in s.topics if not _acts(topic, s.text, mine.text)} - home.words - common
    return next((word for word in mine.words if covered(word, others) and not covered(word, home.words)), None)
