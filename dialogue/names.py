"""Names, regions and a reply's opening yes or no, as the reply check reads them (dialogue/claims.py,
dialogue/yes_no.py, dialogue/scopes.py): a capitalised word that does not open its sentence is a name ("Returns are
free" names nothing); a country is also found through its region (Germany -> EU).
"""

import re

from dialogue.sentences import sentences

_WORD = re.compile(r"[^\W_][\w'’\-]*")

# A reply's opening yes or no: English, German, French, Spanish; in Chinese the question's verb echoed, alone
# before a comma or stop ("可以。", "不需要，"), with 不 or 没 for no.
YES_NO = re.compile(r"^\s*(?:(?P<word>yes|yeah|yep|no|nope|ja|jawohl|nein|oui|non|sí)\b[\s,.!:;—-]*"
                    r"|(?P<echo>(?:不|没)?(?:是的?|对|可以|能|有|需要|支持|会|行))[，,。.！!；;]\s*)", re.IGNORECASE)
YES_WORDS = frozenset(("yes", "yeah", "yep", "ja", "jawohl", "oui", "sí"))


def says_yes(opening: re.Match) -> bool:
    """Does a `YES_NO` match say yes?"""
    if opening["echo"]:
        return not opening["echo"].startswith(("不", "没"))
    return opening["word"].lower() in YES_WORDS


_NAME = re.compile(r"(?<![\w'’])[A-Z][a-zA-Z]+(?:['’]s)?\b")

EU_COUNTRIES = frozenset(
    "austria belgium bulgaria croatia cyprus czechia denmark estonia finland france germany greece hungary ireland "
    "italy latvia lithuania luxembourg malta netherlands holland poland portugal romania slovakia slovenia spain "
    "sweden".split())
REGION_OF = ({country: ("eu", "europe") for country in EU_COUNTRIES}
              | {"europe": ("eu",), "eu": ("europe",), "european": ("eu", "europe"),
                 "england": ("uk",), "scotland": ("uk",), "wales": ("uk",), "britain": ("uk",), "british": ("uk",),
                 "america": ("us", "usa"), "usa": ("us",), "us": ("usa",), "american": ("us", "usa")})


def covered(word: str, words: set[str]) -> bool:
    """Is `word` among `words`, directly or through its region (a reply's "Germany" by a snippet's "EU")?"""
    return word in words or any(region in words for region in REGION_OF.get(word, ()))


# A sentence that opens with a verb in the imperative: the word before an object ("Enter it", "Text PAC to",
# "Go to", "Call 150").
IMPERATIVE = re.compile(r"\s*(?P<verb>[A-Z][a-z]+)\s+(?:(?:it|them|this|that|these|those|the|your|a|an|to|us|our|"
                        r"any|up|in|on|off|out|back)\b|\d)")
# The same after a colon: "by following these steps: Open the app, ...".
_IMPERATIVE_AFTER_COLON = re.compile(r":" + IMPERATIVE.pattern)


def names_in(text: str) -> set[str]:
    return {name.rstrip("s").rstrip("'’") if name.endswith(("'s", "’s")) else name for name in _NAME.findall(text)}


def names(text: str) -> set[str]:
    """The capitalised names of `text`, not counting a sentence's first word ("Returns are free" names nothing)."""
    found = set()
    for sentence in sentences(text):
        plain = YES_NO.sub("", sentence).strip()
        first = _NAME.match(plain)
        found |= names_in(plain[first.end():] if first else plain)
    return found


def unknown_names(sentence: str, snippet: str) -> list[str]:
    """Capitalised names in `sentence` (not its first word, unless the snippet capitalises it) that `snippet`
    does not mention, directly or through a region."""
    text = YES_NO.sub("", sentence).strip()
    first = _NAME.match(text)
    names = names_in(text[first.end():] if first else text)
    if first and first.group(0) in names_in(snippet):
        names.add(first.group(0))
    names -= {verb["verb"] for verb in _IMPERATIVE_AFTER_COLON.finditer(text)} - names_in(snippet)
    snippet_lower = snippet.lower()
    snippet_words = set(_WORD.findall(snippet_lower))
    return sorted(name for name in names if not _mentioned(name.lower(), snippet_lower, snippet_words))


def _mentioned(name: str, snippet_lower: str, snippet_words: set[str]) -> bool:
    """In the snippet as written, through its region, or as the singular of a plural ("SIMs", "Saturdays")."""
    if name in snippet_lower or covered(name, snippet_words):
        return True
    return len(name) > 3 and name.endswith("s") and name[:-1] in snippet_words

