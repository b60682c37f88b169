"""Which personal data masking finds, and how: Presidio's recognisers, bounded and offline, one per kind."""

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    EsNifRecognizer,
    IbanRecognizer,
    IpRecognizer,
    ItFiscalCodeRecognizer,
    NhsRecognizer,
    UkNinoRecognizer,
    UkPostcodeRecognizer,
    UsSsnRecognizer,
)

from dialogue.phone_recognizer import PiecewisePhoneRecognizer
from dialogue.privacy_policy import Entity

# The bundled public-suffix snapshot only: the default extractor fetches the list over the network.
# Reserved names (RFC 2606/6761) are not public suffixes, yet people type them, tests above all.
_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                                  extra_suffixes=("example", "test", "invalid", "localhost", "local", "internal"))

# House number, up to three capitalised words, a street word: "221B Baker Street", "10 Downing St".
_STREET_WORDS = (r"(?i:street|st\.?|road|rd\.?|avenue|ave\.?|lane|ln\.?|drive|dr\.?|boulevard|blvd\.?|way|court"
                 r"|ct\.?|place|pl\.?|close|crescent|terrace|square|sq\.?|parkway|highway|hwy|row|gardens|mews)")
_ANY_CARD = Pattern("13-19 digits, spaced or not", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", 0.3)
_ADDRESS_PATTERNS = [
    Pattern("street, house number first",
            rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'’.-]*\s+){{1,3}}{_STREET_WORDS}(?!\w)", 0.6),
    Pattern("Straße / weg, number after",
            r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|weg|gasse|platz|allee)\s+\d{1,4}[a-z]?\b", 0.6),
    Pattern("rue / via / calle",
            r"\b\d{1,4},?\s+(?i:rue|avenue|boulevard|chemin|via|calle)\s+(?:[\w'’-]+\s+){0,3}[A-Z][\w'’-]+", 0.6),
]
_EMAIL_CHARACTERS = r"!#$%&'*+\-/=?^_`{|}~\w"  # Presidio's; a local part may also hold dots, not at its ends
_EMAIL_LABEL = r"\w{1,63}(?:-+\w{1,63})*"
_EMAIL = (rf"\b((?:[{_EMAIL_CHARACTERS}]|[{_EMAIL_CHARACTERS}][{_EMAIL_CHARACTERS}.]{{0,62}}[{_EMAIL_CHARACTERS}])"
          rf"@{_EMAIL_LABEL}(?:\.{_EMAIL_LABEL})+)\b")
# Canada shares the North American plan with the US: the same numbers, parsed and checked the same way.
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "IL", "IN", "AU", "BR")


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recogniser with RFC 5321's lengths and the bundled public-suffix list.

    Presidio's pattern lets a local part run on without end, so on "a.a.a.…@-" every word start scans to the
    end of the text and back: quadratic, 2.4-3.8 s of CPU for 4,000 characters. A local part has at most 64
    characters and a domain label 63 (RFC 5321, 1035); with those bounds each start costs at most ~64 steps
    (bench/worst_inputs.py)."""

    PATTERNS = [Pattern("Email, RFC 5321 lengths", _EMAIL, 0.5)]

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        return super().analyze(text, entities, nlp_artifacts, regex_flags) if "@" in text else []

    def validate_result(self, pattern_text: str) -> bool:
        return _SUFFIXES(pattern_text.rsplit("@", 1)[-1]).fqdn != ""


def recognizers() -> list[tuple[Entity, EntityRecognizer]]:
    government = [UsSsnRecognizer(), UkNinoRecognizer(), NhsRecognizer(), EsNifRecognizer(), ItFiscalCodeRecognizer()]
    return [
        (Entity.CARD, CreditCardRecognizer()),
        # Any 13-19 digits passing Luhn (its check): the brand prefixes above miss Mastercard's 2-series and
        # newer ranges, and a card number must never be stored.
        (Entity.CARD, CreditCardRecognizer(patterns=[_ANY_CARD])),
        (Entity.IBAN, IbanRecognizer()),
        (Entity.EMAIL, _OfflineEmailRecognizer()),
        (Entity.PHONE, PiecewisePhoneRecognizer(supported_regions=_PHONE_REGIONS)),
        *[(Entity.GOV_ID, recognizer) for recognizer in government],
        (Entity.IP, IpRecognizer()),
        (Entity.ADDRESS, PatternRecognizer("STREET_ADDRESS", patterns=_ADDRESS_PATTERNS, global_regex_flags=0)),
        (Entity.ADDRESS, UkPostcodeRecognizer()),
    ]
