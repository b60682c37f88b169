"""Does a translation state the same facts as the answer it translates?

The reply check (dialogue/grounding.py) reads English words. An answer across languages (dialogue/crosslingual.py)
is therefore checked in the snippets' language, and its translation into the customer's language is sent only
when it states exactly the checked answer's facts (dialogue/facts.py: numbers with their unit, prices, times,
ordinals, links, e-mail addresses, phone numbers, references) and names no product, plan or place of the
snippets that the checked answer does not name.

Before their facts are read, both texts are written the way facts.py reads English (an English text is left as
it reads; the sample shop's FAQs and the reply-check pairs keep every fact): decimal commas ("4,99"),
thousands points ("3.000"), a currency sign after the amount ("4,99 €") or a currency named in the language
("Pfund", "英镑"), the units of time and percent in German, French, Spanish, Chinese and Japanese ("30 Tage",
"30 天", "30日間"), small counts spelled out before a unit ("zwei Monate", "两个月"), "14 Uhr" and "14 h 30", and
CJK characters set apart from digits and Latin letters. A fact these tables cannot read is missing from its
text, so the two differ and the translation is not sent: a gap here costs the curated answer under a note,
never a wrong fact.
"""

import re
from dataclasses import dataclass

from dialogue.facts import FactKind, facts
from dialogue.names import names

_CJK = r"\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_PROTECTED = re.compile(rf"(https?://[^\s{_CJK}]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.IGNORECASE)
_CJK_EDGE = re.compile(rf"(?<=[{_CJK}])(?=[0-9A-Za-z£$€])|(?<=[0-9A-Za-z£$€%])(?=[{_CJK}])")
_THOUSANDS_POINT = re.compile(r"(?<=\d)\.(?=\d{3}(?!\d))")
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d{1,2}(?!\d))")
_SIGN_AFTER = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s?(?P<sign>[£$€])(?!\s?\d)")
POINT_DECIMALS = frozenset({"en", "zh", "ja", "ko"})  # languages that write 4.99 (the others 4,99)
_CURRENCY_WORDS = {"pfund": "pounds", "livres": "pounds", "livre": "pounds", "libras": "pounds", "libra": "pounds",
                   "英镑": "pounds", "英鎊": "pounds", "ポンド": "pounds", "欧元": "euros", "歐元": "euros",
                   "ユーロ": "euros", "美元": "dollars", "美金": "dollars", "ドル": "dollars"}
_UNIT_WORDS = {
    "seconds": "sekunden sekunde secondes seconde segundos segundo 秒钟 秒",
    "minutes": "minuten minute minutos minuto 分钟 分間 分",
    "hours": "stunden stunde heures heure horas hora 小时 小時 時間",
    "days": "werktagen werktage werktag tagen tage tag jours jour días dia día "
            "个工作日 工作日 營業日 営業日 天 日間 日",
    "weeks": "wochen woche semaines semaine semanas semana 个星期 个礼拜 星期 周 週間 週",
    "months": "monaten monate monats monat mois meses mes 个月 個月 か月 ヶ月 カ月 ケ月",
    "years": "jahren jahre jahres jahr années année ans an años año 年間 年",
    "mbps": "mbit/s mbit",
    "%": "prozent pour cent por ciento",
}
_COUNTS = {
    "2": "zwei deux dos", "3": "drei trois tres", "4": "vier quatre cuatro", "5": "fünf cinq cinco",
    "6": "sechs six seis", "7": "sieben sept siete", "8": "acht huit ocho", "9": "neun neuf nueve",
    "10": "zehn dix diez", "11": "elf onze once", "12": "zwölf douze doce",
}
_CJK_COUNTS = {"十二": "12", "十一": "11", "十": "10", "两": "2", "兩": "2", "一": "1", "二": "2", "三": "3", "四": "4",
               "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}


def _alternatives(words: str) -> str:
    """The words as one regex alternation, longest first; a Latin word must end where a word ends."""
    ordered = sorted(words.split(), key=len, reverse=True)
    return "|".join(re.escape(word) + ("" if re.match(f"[{_CJK}]", word) else r"(?![^\W\d_])") for word in ordered)


_UNIT = {english: re.compile(rf"(?<=\d)\s?(?:{_alternatives(words)})", re.IGNORECASE)
         for english, words in _UNIT_WORDS.items()}
_ANY_UNIT = "|".join(_alternatives(words) for words in _UNIT_WORDS.values())
_COUNT = {digit: re.compile(rf"(?<![^\W\d_])(?:{_alternatives(words)})\s(?=(?:{_ANY_UNIT}))", re.IGNORECASE)
          for digit, words in _COUNTS.items()}
_CJK_COUNT = re.compile(rf"(?<![一二三四五六七八九十百千万两兩])(?:{_alternatives(' '.join(_CJK_COUNTS))})"
                        rf"(?=(?:{_ANY_UNIT}))")
_CURRENCY = re.compile(rf"(?<=\d)\s?(?:{_alternatives(' '.join(_CURRENCY_WORDS))})", re.IGNORECASE)
_RANGE = re.compile(r"(?<=\d)\s*(?:bis|oder|und|à|ou|et|a|o|y|到|至|或|~|〜)\s*(?=\d)", re.IGNORECASE)
_UHR = re.compile(r"\b(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s?Uhr\b")
_FRENCH_CLOCK = re.compile(r"\b(?P<h>\d{1,2})\s?h\s?(?P<m>\d{2})?(?![\w/])")


@dataclass(frozen=True)
class FactDifference:
    """What a translation says that the checked answer does not, and what it leaves out."""

    added: list[str]
    missing: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.missing)

    def __str__(self) -> str:
        said = [f"adds {', '.join(self.added)}"] if self.added else []
        return "; ".join(said + ([f"leaves out {', '.join(self.missing)}"] if self.missing else []))


def difference(checked: str, translation: str, snippets: str, checked_in: str = "en",
               translated_in: str = "en") -> FactDifference:
    """How `translation` (written in the language `translated_in`) differs in its facts from `checked` (written in
    `checked_in`), the answer that passed the reply check against `snippets`; empty when they state the same.
    Both are read alike, so knowledge in German and a customer in English compare as well."""
    # A day counted from now ("the next working day") is read in English only: not compared across languages.
    theirs = {fact.key: fact.text for fact in facts(as_read(checked, checked_in)) if fact.kind is not FactKind.DAY}
    mine = {fact.key: fact.text for fact in facts(as_read(translation, translated_in))
            if fact.kind is not FactKind.DAY}
    known = {word.lower() for word in re.findall(r"\w+", checked)}
    renamed = sorted(name for name in names(translation) & names(snippets) if name.lower() not in known)
    return FactDifference(sorted({mine[key] for key in mine.keys() - theirs.keys()}) + renamed,
                          sorted({theirs[key] for key in theirs.keys() - mine.keys()}))


def as_read(text: str, language: str) -> str:
    """`text` with its numbers, currencies and units written as dialogue/facts.py reads them; links and
    e-mail addresses untouched."""
    pieces = _PROTECTED.split(_CJK_EDGE.sub(" ", text))
    return "".join(piece if index % 2 else _normalised(piece, language) for index, piece in enumerate(pieces))


def _normalised(text: str, language: str) -> str:
    if language not in POINT_DECIMALS:
        text = _DECIMAL_COMMA.sub(".", _THOUSANDS_POINT.sub("", text))
    text = _CURRENCY.sub(lambda match: " " + _CURRENCY_WORDS[match.group(0).strip().lower()] + " ", text)
    text = _SIGN_AFTER.sub(r"\g<sign>\g<amount>", text)
    text = _UHR.sub(lambda match: f"{match['h']}:{match['m'] or '00'}", text)
    if language == "fr":
        text = _FRENCH_CLOCK.sub(lambda match: f"{match['h']}:{match['m'] or '00'}", text)
    for digit, pattern in _COUNT.items():
        text = pattern.sub(digit + " ", text)
    text = _CJK_COUNT.sub(lambda match: _CJK_COUNTS[match.group(0)], text)
    for english, pattern in _UNIT.items():
        text = pattern.sub(f" {english} ", text)
    return _CJK_EDGE.sub(" ", _RANGE.sub(" to ", text))
